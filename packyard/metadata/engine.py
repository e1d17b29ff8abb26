"""Creating SQLAlchemy engines that behave well for a registry: WAL SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           pool_size=8, max_overflow=8)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); pysqlite's implicit transactions are off.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned is on disk, even after power loss.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later upgrades to a
        # writer fails with SQLITE_BUSY instead of waiting under WAL.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_engines(url: str) -> tuple[Engine, Engine]:
    """(reader, writer) engines for one database URL."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, immediate=False), _sqlite_engine(url, immediate=True)
    engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return engine, engine
