"""Telling every process that shares the database what changed, so its caches drop it at once.

Caches stay per process (a PostgreSQL round trip costs ~16× an in-process SQLite query, so hot
reads must not query). Each write announces its *topic* inside its own transaction, so the
announcement exists exactly when the write does:

- ``catalog``: domains, repositories, packages, files, upstream links (pages and lookups);
- ``content``: a catalog write that only added files or versions to packages (a file pulled
  through from an upstream, kept: ``CatalogBase._write``'s ``content_only``), announced
  instead of ``catalog``: it changes pages and lookups, never a domain's upstream graph, its
  package groups or a repository (``ChangeLog.structure_stamp``), so a cold install in one
  process does not make the others load those again after every file;
- ``access``: the catalog writes an access decision or a read grant rests on (domains and
  repositories made, changed or deleted, resource tags: ``CatalogBase._write``'s
  ``changes_access``), announced beside ``catalog``, so a publish or a pull-through keep
  leaves grants alone;
- ``iam``: users, keys, roles, policies, sessions, resource policies (principals, policies,
  read grants);
- ``tokens``: a token revoked (token checks, read grants).

How it travels depends on the database; what a process does with it does not
(``services/cache_invalidation.py``):

- **PostgreSQL**: ``pg_notify`` on one channel, delivered by the server at commit and dropped on
  rollback (PostgreSQL manual, ``NOTIFY``); each process holds one connection that ``LISTEN``\\s
  (``ChangeListener``). When that connection is lost, notifications sent meanwhile are lost
  too, so the process flushes every cache (``on_resync``) when it notices and again when it has
  reconnected; the caches' TTLs remain the backstop.
- **SQLite** (``--workers``, ``packyard import`` and ``packyard token`` beside a server): no
  NOTIFY, so each topic has a counter row (``change_counters``) the write increments, and each
  process polls ``PRAGMA data_version`` (which moves when another connection committed, at no
  I/O cost) every ``SQLITE_POLL_SECONDS`` and reads the counters only when it moved
  (``ChangePoller``).

A process's own writes already dropped its caches (``ChangeLog.touch``, the IAM store's
generation), so announcements carry their origin and a process ignores its own where it can.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from packyard.metadata.engine import backend_name, normalize_url

log = logging.getLogger("packyard.metadata")

CATALOG = "catalog"
CONTENT = "content"
ACCESS = "access"
IAM = "iam"
TOKENS = "tokens"
TOPICS = (CATALOG, CONTENT, ACCESS, IAM, TOKENS)

CHANNEL = "packyard_changes"
# How often a process on SQLite looks for other processes' writes: the most a change made by
# another worker (or `packyard import`, `packyard token revoke`) waits to be seen.
SQLITE_POLL_SECONDS = 0.05
# How long the PostgreSQL listener waits for a notification before it checks that it should
# go on (stop()) and, every _PING_EVERY of these, that its connection still works.
_LISTEN_TICK = 0.5
_PING_EVERY = 10
_RECONNECT_MIN, _RECONNECT_MAX = 0.1, 2.0

_BOOT = secrets.token_hex(6)


def origin() -> str:
    """This process, as its announcements name it (the pid keeps forked workers apart)."""
    return f"{_BOOT}.{os.getpid()}"


# Built once: every write runs one (a ``text()`` built per call is a new cache key each time).
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_COUNT = text("UPDATE change_counters SET counter = counter + 1, origin = :origin "
              "WHERE topic = :topic")


def announce(conn: Connection, topic: str) -> None:
    """Tell the other processes, as part of the write transaction on ``conn``, that ``topic``
    changed once it commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{topic} {origin()}"})
    else:
        conn.execute(_COUNT, {"topic": topic, "origin": origin()})


OnChange = Callable[[frozenset[str]], None]
"""Called (in the watcher's thread) with the topics another process changed."""
OnResync = Callable[[], None]
"""Called when announcements may have been missed: drop everything."""


class ChangeWatcher(Protocol):
    """One per process: a thread that hears other processes' announcements."""

    def start(self, on_change: OnChange, on_resync: OnResync) -> None: ...

    def stop(self) -> None: ...


def watch_changes(url: str, own: str | None = None) -> ChangeWatcher:
    """The watcher for the database at ``url``, ignoring announcements from ``own`` (default:
    this process; a test may pretend to be another)."""
    url = normalize_url(url)
    if backend_name(url) == "postgresql":
        return ChangeListener(url, own)
    database = make_url(url).database
    if not database or database == ":memory:":
        return _NoOtherProcesses(own)
    return ChangePoller(database, own)


class _Watcher:
    """The thread, started once and stopped once."""

    name = "packyard-changes"

    def __init__(self, own: str | None = None) -> None:
        self._own = own or origin()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change: OnChange = lambda _topics: None
        self._on_resync: OnResync = lambda: None

    def start(self, on_change: OnChange, on_resync: OnResync) -> None:
        if self._thread is not None:
            return
        self._on_change, self._on_resync = on_change, on_resync
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        raise NotImplementedError

    def _deliver(self, topics: Iterable[str]) -> None:
        wanted = frozenset(topics) & frozenset(TOPICS)
        if wanted:
            try:
                self._on_change(wanted)
            except Exception:  # a cache's failure must not end the watcher
                log.exception("dropping cached %s", ", ".join(sorted(wanted)))

    def _resync(self) -> None:
        try:
            self._on_resync()
        except Exception:
            log.exception("dropping every cache")


class ChangeListener(_Watcher):
    """PostgreSQL: one connection that LISTENs, reconnecting (and resyncing) when it drops."""

    def __init__(self, url: str, own: str | None = None) -> None:
        super().__init__(own)
        # Its own engine without a pool: the one connection is held for the process's life.
        self._engine = create_engine(url, poolclass=NullPool, connect_args={
            "application_name": "packyard-changes", "connect_timeout": 5})
        self.connected = threading.Event()
        self.reconnects = 0

    def _run(self) -> None:
        delay = _RECONNECT_MIN
        first = True
        while not self._stopping.is_set():
            try:
                self._listen(first)
                return  # stopped
            except Exception as error:  # noqa: BLE001 - any failure: reconnect
                lost = self.connected.is_set()
                self.connected.clear()
                if lost:
                    log.warning("lost the change notifications connection (%s); caches are "
                                "flushed and it reconnects", str(error).strip().splitlines()[:1])
                    self._resync()
                    delay = _RECONNECT_MIN
            first = False
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, _RECONNECT_MAX)

    def _listen(self, first: bool) -> None:
        raw: Any = self._engine.raw_connection()
        try:
            conn = raw.driver_connection
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self.connected.set()
            if not first:
                # Whatever was announced while the connection was down was never heard.
                self.reconnects += 1
                self._resync()
                log.info("change notifications reconnected")
            own = self._own
            ticks = 0
            while not self._stopping.is_set():
                topics = set()
                for notify in conn.notifies(timeout=_LISTEN_TICK, stop_after=1):
                    topic, _, sender = notify.payload.partition(" ")
                    if sender != own:
                        topics.add(topic)
                if topics:
                    self._deliver(topics)
                    continue
                ticks += 1
                if ticks % _PING_EVERY == 0:
                    conn.execute("SELECT 1")  # a dead connection fails here, not silently
        finally:
            raw.invalidate()


class ChangePoller(_Watcher):
    """SQLite: polls ``PRAGMA data_version`` and reads the counters when it moved."""

    def __init__(self, path: str, own: str | None = None,
                 interval: float = SQLITE_POLL_SECONDS) -> None:
        super().__init__(own)
        self._path = path
        self._interval = interval

    def _run(self) -> None:
        own = self._own
        conn: sqlite3.Connection | None = None
        seen: dict[str, tuple[int, str]] = {}
        version = None
        while not self._stopping.wait(self._interval):
            try:
                if conn is None:
                    conn = sqlite3.connect(self._path, isolation_level=None, timeout=5)
                    seen = self._counters(conn)
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                    continue
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                if now == version:
                    continue
                version = now
                counters = self._counters(conn)
                before = {topic: seen.get(topic, (0, ""))[0] for topic in counters}
                # One step by this process itself: its caches knew already.
                changed = [topic for topic, (count, sender) in counters.items()
                           if count != before[topic]
                           and not (sender == own and count == before[topic] + 1)]
                seen = counters
                self._deliver(changed)
            except sqlite3.Error as error:
                log.warning("reading change counters failed (%s); caches are flushed", error)
                self._resync()
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    @staticmethod
    def _counters(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
        return {topic: (int(count), str(sender)) for topic, count, sender in conn.execute(
            "SELECT topic, counter, origin FROM change_counters")}


class _NoOtherProcesses(_Watcher):
    """An in-memory SQLite database: no other process can write to it."""

    def start(self, on_change: OnChange, on_resync: OnResync) -> None:
        return None

