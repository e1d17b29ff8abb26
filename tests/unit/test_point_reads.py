"""Lookups on the event loop's thread (``metadata/point_reads.py``): made on embedded SQLite
files only, and never waiting: a database another connection holds locked answers
``WouldWait`` at once, as does a closed reader; PostgreSQL and in-memory SQLite read nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, literal, select

from packyard.metadata.point_reads import (
    NoPointReads,
    SqlitePointReads,
    WouldWait,
    point_reads_for,
)

_TABLE = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("x", Integer))
# A literal of the statement's own as well as the caller's parameter.
_BY_ID = select(_TABLE.c.x, (_TABLE.c.x + literal(1)).label("next")).where(
    _TABLE.c.id == bindparam("id"))


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1, 10)")
    conn.close()
    yield path


def test_a_row_by_its_key_with_the_statements_own_literals(database: Path) -> None:
    reads = SqlitePointReads(str(database))
    row = reads.first(_BY_ID, {"id": 1})
    assert row is not None and (row["x"], row["next"]) == (10, 11)
    assert reads.first(_BY_ID, {"id": 2}) is None
    reads.close()


def test_a_locked_database_is_not_waited_for(database: Path) -> None:
    # A connection in exclusive locking mode keeps every other one out, even under WAL (the
    # same SQLITE_BUSY a reader meets while a WAL is recovered).
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (2, 20)")
    reads = SqlitePointReads(str(database))
    try:
        with pytest.raises(WouldWait):
            reads.first(_BY_ID, {"id": 1})
    finally:
        holder.close()
    row = reads.first(_BY_ID, {"id": 1})  # the lock gone, the same reader reads
    assert row is not None and row["x"] == 10
    reads.close()


def test_a_closed_reader_reads_nothing(database: Path) -> None:
    reads = SqlitePointReads(str(database))
    assert reads.first(_BY_ID, {"id": 1}) is not None
    reads.close()
    with pytest.raises(WouldWait):
        reads.first(_BY_ID, {"id": 1})


@pytest.mark.parametrize(("url", "kind"), [
    ("sqlite:////data/packyard.db", SqlitePointReads),
    ("sqlite://", NoPointReads),
    ("sqlite:///:memory:", NoPointReads),
    ("postgresql://u:p@db.example/packyard", NoPointReads),
    ("postgresql+psycopg://u:p@db.example/packyard", NoPointReads),
])
def test_only_a_sqlite_file_is_read_on_the_callers_thread(url: str, kind: type) -> None:
    reads = point_reads_for(url)
    assert isinstance(reads, kind)
    if isinstance(reads, NoPointReads):
        with pytest.raises(WouldWait):
            reads.first(_BY_ID, {"id": 1})
