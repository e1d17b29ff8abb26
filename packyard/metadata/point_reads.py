"""Keyed lookups the event loop's own thread may make, on a backend where one never waits.

The first read of a stored page is one keyed lookup (``page_store.py``). Made in a worker
thread, it cost the loop two thread wake-ups (the hand-off and the answer) and the worker a
pooled connection, ``BEGIN`` and ``COMMIT`` around it: more than the lookup itself on the
embedded database, and most of what a first read waited for (``bench/README.md``). So where a
lookup is known to be short, the caller makes it on its own thread, bounded:

- **embedded SQLite** (``SqlitePointReads``): its own connection per thread, with SQLite's
  busy timeout at 0 and ``query_only`` on. In WAL mode (the catalog's, ``engine.py``) readers
  read their snapshot while a writer writes; the rare moments a reader would have to wait
  (SQLite's "queries return SQLITE_BUSY in WAL mode": another connection in exclusive locking
  mode, the last connection closing the WAL, a WAL recovered after a crash) answer
  ``SQLITE_BUSY`` at once, which is ``WouldWait``: the caller takes its worker thread as
  before. One statement in
  autocommit is one read snapshot, so a lookup joining two tables sees them consistent. What a
  lookup may read is the caller's bound (``rendered_page_now``: a handful of B-tree pages and a
  row of at most ``POINT_READ_MAX_BYTES``); from the operating system's page cache that is tens
  of microseconds, from a cold disk a few reads;
- **PostgreSQL** (``NoPointReads``): every lookup is a round trip to a server that may be far
  or busy, and may wait on a lock, so nothing is read here: always ``WouldWait``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url

# The most bytes of stored blobs a lookup on the loop's thread may read (its caller asks SQLite
# for their length first, which reads no overflow page).
POINT_READ_MAX_BYTES = 128 * 1024


class Row(Protocol):
    """A row's columns by name."""

    def __getitem__(self, name: str, /) -> Any: ...


class WouldWait(Exception):  # noqa: N818 - a condition, not a failure: the caller hops
    """The lookup cannot be made now without waiting: make it in a worker thread."""


class Missing(Enum):
    """What a lookup made now says when there is no such row: as final, for that moment, as
    the worker thread's lookup of the same row would be (a miss its caller may remember as
    one instead of asking again in a worker thread)."""

    MISSING = "missing"


MISSING = Missing.MISSING


class PointReads(Protocol):
    """One-row lookups on the caller's thread, or ``WouldWait``."""

    def first(self, statement: Select[Any], params: Mapping[str, object]
              ) -> Row | None:
        """The first row of ``statement`` (its columns by name) or None; ``WouldWait`` when
        it cannot be read at once."""
        ...

    def close(self) -> None: ...


_Compiled = tuple[Select[Any], str, tuple[tuple[str, object], ...]]


class NoPointReads:
    """A backend whose lookups may wait (PostgreSQL): every one is the worker thread's."""

    def first(self, statement: Select[Any], params: Mapping[str, object]
              ) -> Row | None:
        raise WouldWait

    def close(self) -> None:
        pass


class SqlitePointReads:
    """Lookups on one SQLite file, each thread on a connection of its own that never waits."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        # Statement -> (it, its SQL, its parameters in order with their values, None for those
        # the caller gives): compiled once each.
        self._compiled: dict[int, _Compiled] = {}
        self._closed = False

    def first(self, statement: Select[Any], params: Mapping[str, object]
              ) -> Row | None:
        compiled = self._compiled.get(id(statement))
        if compiled is None or compiled[0] is not statement:
            compiled = self._compile(statement)
        _statement, sql, order = compiled
        try:
            row: sqlite3.Row | None = self._connection().execute(
                sql, [params[name] if value is None else value for name, value in order]
            ).fetchone()
        except sqlite3.Error as error:  # SQLITE_BUSY, or anything the worker thread will meet
            raise WouldWait from error
        return row

    def _compile(self, statement: Select[Any]) -> _Compiled:
        compiled = statement.compile(dialect=sqlite.dialect())
        values = compiled.params  # the statement's own literals; None where a caller's
        entry = (statement, str(compiled),
                 tuple((name, values.get(name)) for name in compiled.positiontup or ()))
        self._compiled[id(statement)] = entry  # statements are module constants: few
        return entry

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise WouldWait
                # timeout=0: SQLite's busy handler answers SQLITE_BUSY at once.
                conn = sqlite3.connect(self._path, timeout=0, isolation_level=None,
                                       check_same_thread=False)
                self._opened.append(conn)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()


def sqlite_file(url: str) -> str | None:
    """The path of the SQLite file ``url`` names; None for anything else (PostgreSQL, an
    in-memory SQLite database, which another connection would not see, a URI with options)."""
    parsed = make_url(url)
    database = parsed.database
    if (parsed.get_backend_name() != "sqlite" or not database or database == ":memory:"
            or database.startswith("file:") or parsed.query):
        return None
    return database


def point_reads_for(url: str) -> PointReads:
    """``SqlitePointReads`` for a SQLite file, ``NoPointReads`` for anything else."""
    path = sqlite_file(url)
    return NoPointReads() if path is None else SqlitePointReads(path)
