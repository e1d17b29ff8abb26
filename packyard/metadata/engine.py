"""Creating SQLAlchemy engines that behave well for a registry: WAL SQLite or PostgreSQL.

Every catalog method is one transaction on a reader or a writer engine, and the two backends
give them the same guarantees:

- **Writers are serialized.** The catalog's writes read, decide, then insert (is the package
  there? the version? the file?), as one transaction, and rely on no other writer interleaving.
  SQLite's writer begins ``IMMEDIATE`` (it takes the database's write lock up front).
  PostgreSQL's writer takes one transaction-level advisory lock first
  (``pg_advisory_xact_lock``, released by PostgreSQL itself at commit or rollback; see
  "Advisory Locks" in the PostgreSQL manual, §13.3.5), across every replica sharing the
  database; at READ COMMITTED each later statement then sees every earlier writer's commit.
  Readers are never blocked by it. Waiting for it (or any lock) fails after 30 s, as SQLite's
  ``busy_timeout``. Migrations take a lock of their own instead (``migrate.py``).
- **Readers see one snapshot.** SQLite's WAL reader does; PostgreSQL's reader runs
  ``REPEATABLE READ READ ONLY`` (one snapshot per transaction; read-only transactions at that
  level never fail to serialize).
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import SingletonThreadPool

from packyard.errors import CannotStart, Unavailable
from packyard.metadata.point_reads import WouldWait, sqlite_file

log = logging.getLogger("packyard.metadata")

# Advisory lock keys (one bigint space per database, shared with any other application using
# it): "packyard" in ASCII, and the next number for migrations.
WRITER_LOCK = 0x7061636B79617264
MIGRATION_LOCK = WRITER_LOCK + 1
# The execution option of a migration's connection (``migrate.py``): it takes the migration
# lock instead of the writer lock, and waits for it as long as another migration takes.
MIGRATING = "packyard_migrating"
# The execution option of a write that needs no order with the catalog's writes (an audit
# event: an insert nothing else reads in the same transaction): it takes no writer lock, so
# requests recording their events do not queue behind publishes on every replica.
UNSERIALIZED = "packyard_unserialized"
# How long a transaction waits for a lock before it fails, as SQLite's busy_timeout: a stuck
# writer makes the others fail after this instead of piling up behind it.
_LOCK_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class PoolSettings:
    """Connections each engine keeps (``pool_size``) and may open beyond them when busy
    (``max_overflow``); a PostgreSQL replica holds at most twice their sum (reader and writer),
    so ``max_connections`` on the server must cover replicas × that."""

    pool_size: int = 10
    max_overflow: int = 10
    # Seconds a request waits for a free connection before failing.
    pool_timeout: float = 30.0


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached (restarting, failing over, out of connections) or a lock
    was waited for too long: the request fails with 503 and ``Retry-After``, and the same
    request works once the database is back, without restarting Packyard (pooled connections
    are checked on checkout, ``pool_pre_ping``)."""


# What a database that is down, restarting or overloaded raises through SQLAlchemy: a lost or
# refused connection, a lock or statement timeout (OperationalError), a connection closed under
# us (InterfaceError), no free pooled connection within pool_timeout (TimeoutError). Errors in
# a statement itself (IntegrityError, ProgrammingError) are bugs, not outages.
_OUTAGES = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


@contextmanager
def outages_as_unavailable() -> Iterator[None]:
    """Turn a database outage inside the block into ``DatabaseUnavailable`` (a 503 on every
    surface) instead of a 500 with a traceback; the cause is logged once, on one line."""
    try:
        yield
    except _OUTAGES as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning("database unavailable: %s: %s", type(error).__name__,
                    cause[0] if cause else "")
        raise DatabaseUnavailable("The metadata database is unavailable right now; try again "
                                  "shortly", retry_after_seconds=2) from error


class _Shared:
    """The transaction ``shared_read`` holds for the reads inside it: begun by the first of
    them (a block whose reads all hit caches costs nothing), ended with the block."""

    __slots__ = ("conn", "engine", "reader", "stack", "waits")

    def __init__(self, reader: Engine, engine: Engine, *, waits: bool) -> None:
        self.reader = reader  # the engine whose reads join this transaction
        self.engine = engine  # the engine it is on: ``reader`` or the loop's own
        # False on the event loop's own reader (``loop_reader_for``): nothing inside may wait.
        self.waits = waits
        self.conn: Connection | None = None
        self.stack = ExitStack()

    def connection(self) -> Connection:
        if self.conn is None:
            conn = self.stack.enter_context(self.engine.connect())
            self.stack.enter_context(conn.begin())  # committed, or rolled back on an error
            self.conn = conn
        return self.conn


# The read transaction ``shared_read`` holds open on this thread (or task).
_shared: ContextVar[_Shared | None] = ContextVar("packyard_shared_read", default=None)


@contextmanager
def read_transaction(reader: Engine) -> Iterator[Connection]:
    """A read transaction on ``reader`` (outages as ``DatabaseUnavailable``): the one
    ``shared_read`` holds around the caller, if it holds one for this engine; else a
    connection of its own, begun and ended here (``WouldWait`` instead inside a block that
    must not wait)."""
    shared = _shared.get()
    if shared is not None:
        if shared.reader is reader:
            yield shared.connection()
            return
        if not shared.waits:
            raise WouldWait
    with outages_as_unavailable(), reader.connect() as conn, conn.begin():
        yield conn


def may_wait() -> bool:
    """False inside ``shared_read(..., now=...)``: a write there would wait for the writer's
    lock on the event loop's thread (its callers raise ``WouldWait`` instead)."""
    shared = _shared.get()
    return shared is None or shared.waits


@contextmanager
def shared_read(reader: Engine, now: Engine | None = None) -> Iterator[None]:
    """Every ``read_transaction`` on ``reader`` inside the block is one transaction: one
    snapshot, and one pooled checkout, ping, ``BEGIN`` and ``COMMIT`` for all of them, begun
    by the first read (none when every read hits a cache). A read grant reads the token, the
    domain, its tags and policies and the repository, each a method of its own store: apart,
    those were six transactions, most of the grant's time. Nested blocks join the outer one.

    With ``now`` (``loop_reader_for``), the transaction is on that engine's connection of
    this thread, which never waits: what would wait (SQLite's rare ``SQLITE_BUSY`` for a
    reader, a read of another engine, a write) raises ``WouldWait`` out of the block."""
    if _shared.get() is not None:
        yield
        return
    shared = _Shared(reader, now or reader, waits=now is None)
    token = _shared.set(shared)
    try:
        if now is None:
            with outages_as_unavailable(), shared.stack:
                yield
            return
        try:
            with shared.stack:
                yield
        except sa_exc.OperationalError as error:  # SQLITE_BUSY, answered at once
            raise WouldWait from error
    finally:
        _shared.reset(token)


def loop_reader_for(url: str) -> Engine | None:
    """A reader the event loop's own thread may use where reads never wait: an SQLite file
    (``point_reads.py`` says when a WAL reader could wait at all), each thread on a connection
    of its own with the busy timeout at 0 and ``query_only`` on; None for PostgreSQL and for
    in-memory SQLite. For ``shared_read(now=...)`` only: the same statements and types as the
    reader's, so a store's reads need no second version for the loop."""
    url = normalize_url(url)
    path = sqlite_file(url)
    if path is None:
        return None
    engine = create_engine(url, poolclass=SingletonThreadPool, pool_size=64,
                           connect_args={"check_same_thread": False, "timeout": 0})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=0")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def normalize_url(url: str) -> str:
    """The URL with an explicit driver: ``postgresql://`` (what libpq and most tools write)
    means psycopg 3 here, not SQLAlchemy's default psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def backend_name(url: str) -> str:
    """``sqlite`` or ``postgresql``; ``CannotStart`` naming the URL's scheme for anything else."""
    name = make_url(normalize_url(url)).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise CannotStart(f"PACKYARD_DATABASE_URL: no catalog backend for {name!r} URLs; use "
                         "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE")
    return name


def _enter_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting for the database's lock as any other statement does.

    Turning a new database into WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY
    there without calling the busy handler when another connection is opening the same new
    file (several processes starting at once on an empty data directory): retried here for as
    long as ``busy_timeout`` would wait. Once the file is in WAL mode the pragma takes no lock.
    """
    deadline = time.monotonic() + _LOCK_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _sqlite_engine(url: str, *, immediate: bool, pool: PoolSettings) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           pool_size=pool.pool_size, max_overflow=pool.max_overflow,
                           pool_timeout=pool.pool_timeout)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); pysqlite's implicit transactions are off.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        _enter_wal(cur)
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


def _postgresql_engines(url: str, pool: PoolSettings) -> tuple[Engine, Engine]:
    if importlib.util.find_spec("psycopg") is None:
        # Not "PACKYARD_DATABASE_URL": the URL may be a flag (--database-url, migrate-storage's
        # --to-database-url).
        raise CannotStart("a postgresql:// database URL needs psycopg, which is not installed "
                          "here: pip install 'packyard[postgresql]'")
    common: dict[str, Any] = {
        "pool_size": pool.pool_size, "max_overflow": pool.max_overflow,
        "pool_timeout": pool.pool_timeout,
        # A pooled connection may have been closed by a server restart or a proxy's idle
        # timeout: test it on checkout (one round trip) rather than fail the request.
        "pool_pre_ping": True,
        "connect_args": {"application_name": "packyard", "connect_timeout": 10,
                         "options": f"-c lock_timeout={_LOCK_TIMEOUT_MS}"},
    }
    # psycopg sends "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY": no extra round trip.
    reader = create_engine(url, isolation_level="REPEATABLE READ",
                           execution_options={"postgresql_readonly": True}, **common)
    writer = create_engine(url, isolation_level="READ COMMITTED", **common)

    @event.listens_for(writer, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if not options.get(MIGRATING) and not options.get(UNSERIALIZED):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")

    return reader, writer


def create_engines(url: str, pool: PoolSettings | None = None) -> tuple[Engine, Engine]:
    """(reader, writer) engines for one database URL."""
    pool = pool or PoolSettings()
    url = normalize_url(url)
    if backend_name(url) == "sqlite":
        return (_sqlite_engine(url, immediate=False, pool=pool),
                _sqlite_engine(url, immediate=True, pool=pool))
    return _postgresql_engines(url, pool)
