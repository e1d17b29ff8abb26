"""One read transaction for several stores' reads (``metadata/engine.py``: ``shared_read``), and
the event loop's reader, which never waits (``loop_reader_for``): reads inside the block share
one connection and one BEGIN; on the loop's reader a locked database, a read of another engine
and a write are ``WouldWait``, never a wait."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from packyard.metadata.engine import (
    create_engines,
    loop_reader_for,
    may_wait,
    read_transaction,
    shared_read,
)
from packyard.metadata.point_reads import WouldWait


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[Engine, Engine, str]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    reader, writer = create_engines(url)
    with writer.connect() as conn, conn.begin():
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 10)")
    yield reader, writer, url
    reader.dispose()
    writer.dispose()


def _begins(engine: Engine) -> list[object]:
    begun: list[object] = []
    event.listen(engine, "begin", lambda conn: begun.append(conn))
    return begun


def _x(reader: Engine) -> int:
    with read_transaction(reader) as conn:
        return int(conn.execute(text("SELECT x FROM t WHERE id = 1")).scalar_one())


def test_reads_inside_the_block_are_one_transaction(
        engines: tuple[Engine, Engine, str]) -> None:
    reader, _writer, _url = engines
    begun = _begins(reader)
    with shared_read(reader):
        with read_transaction(reader) as first, read_transaction(reader) as second:
            assert first is second
        with shared_read(reader):  # nested: joins the outer one
            assert _x(reader) + _x(reader) == 20
    assert len(begun) == 1
    assert _x(reader) == 10 and len(begun) == 2  # outside: a transaction of its own


def test_a_block_without_reads_opens_no_transaction(engines: tuple[Engine, Engine, str]) -> None:
    # A grant whose every lookup hits a cache: no checkout, no BEGIN, no round trip.
    reader, _writer, url = engines
    loop = loop_reader_for(url)
    assert loop is not None
    checkouts: list[object] = []
    count = checkouts.append
    event.listen(reader, "engine_connect", count)
    event.listen(loop, "engine_connect", count)
    with shared_read(reader):
        pass
    with shared_read(reader, loop):
        pass
    assert checkouts == []
    assert _x(reader) == 10 and len(checkouts) == 1  # the listener counts what it should
    loop.dispose()


def test_a_failure_inside_ends_the_shared_transaction_and_the_next_read_is_fresh(
        engines: tuple[Engine, Engine, str]) -> None:
    reader, _writer, _url = engines
    with pytest.raises(LookupError), shared_read(reader):
        assert _x(reader) == 10
        raise LookupError("not found")
    with read_transaction(reader) as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1


def test_the_loop_reader_reads_in_one_transaction_of_its_own(
        engines: tuple[Engine, Engine, str]) -> None:
    reader, _writer, url = engines
    loop = loop_reader_for(url)
    assert loop is not None
    on_reader, on_loop = _begins(reader), _begins(loop)
    with shared_read(reader, loop):
        assert not may_wait()
        assert _x(reader) + _x(reader) == 20
    assert (len(on_reader), len(on_loop)) == (0, 1)
    assert may_wait()
    loop.dispose()


def test_the_loop_reader_does_not_wait_for_a_locked_database(
        engines: tuple[Engine, Engine, str], tmp_path: Path) -> None:
    reader, writer, url = engines
    loop = loop_reader_for(url)
    assert loop is not None
    reader.dispose()  # the pools' idle connections closed: the holder must be the only one
    writer.dispose()
    # Exclusive locking mode keeps every other connection out, even readers under WAL.
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (2, 20)")
    try:
        with pytest.raises(WouldWait), shared_read(reader, loop):
            _x(reader)
    finally:
        holder.close()
    with shared_read(reader, loop):  # the lock gone, the same thread's connection reads
        assert _x(reader) == 10
    loop.dispose()


def test_inside_the_loops_block_another_engine_is_not_waited_for(
        engines: tuple[Engine, Engine, str]) -> None:
    reader, writer, url = engines
    loop = loop_reader_for(url)
    assert loop is not None
    with pytest.raises(WouldWait), shared_read(reader, loop), read_transaction(writer):
        pass
    loop.dispose()


def test_the_loop_reader_only_reads(engines: tuple[Engine, Engine, str]) -> None:
    _reader, _writer, url = engines
    loop = loop_reader_for(url)
    assert loop is not None
    with pytest.raises(Exception, match="readonly"), loop.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (3, 30)")
    loop.dispose()


@pytest.mark.parametrize("url", ["postgresql://u:p@localhost/db", "sqlite://",
                                 "sqlite:///:memory:"])
def test_no_loop_reader_where_a_read_may_wait_or_sees_another_database(url: str) -> None:
    assert loop_reader_for(url) is None
