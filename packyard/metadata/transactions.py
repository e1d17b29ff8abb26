"""What every part of the catalog shares: its engines, one transaction per method, the ChangeLog.

Each catalog method is one transaction on the reader or the writer engine (writers one at a time:
``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL; see ``packyard.metadata.engine``). Every write goes through
``_write``, which announces the change to the other processes on the database in its
transaction (``change_feed``) and bumps ``changes`` after commit, so this process's caches
drop what they hold at once and the others' as soon as they hear of it; then the pages of the
packages it changed are queued to be rendered (``rendered_pages``).

A write that can change an access decision or what a read grant names declares it where it
is written, ``_write(changes_access=True)``: domains and repositories made, changed or deleted
(deleting one also deletes its permissions policy), resource tags (``aws:ResourceTag/…``).
It also announces ``access`` and bumps ``access_changes``, the stamp read grants, domain and
repository lookups, resource tags and resource policies are kept under
(``services/access.py``); every other write (a publish, a pull-through keep, a status change,
a dist-tag) leaves them in place. Permissions policies themselves are IAM writes (the IAM
store's generation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from packyard.metadata.change_feed import ACCESS, CATALOG, CONTENT, announce
from packyard.metadata.changes import ChangeLog
from packyard.metadata.engine import (
    PoolSettings,
    create_engines,
    loop_reader_for,
    may_wait,
    outages_as_unavailable,
    read_transaction,
    shared_read,
)
from packyard.metadata.migrate import current_revision, head_revision, upgrade_to_head
from packyard.metadata.new_files import FileRule
from packyard.metadata.point_reads import WouldWait, point_reads_for
from packyard.metadata.rendered_pages import PageQueue, PageRenderer, forget_changed


class CatalogBase:
    """The state the catalog's parts (``DomainStore``, ``PublishingStore``, …) share through
    ``SqlCatalog``."""

    def __init__(self, url: str, pool: PoolSettings | None = None,
                 file_rules: Mapping[str, FileRule] | None = None, *,
                 changes: ChangeLog | None = None,
                 access_changes: ChangeLog | None = None,
                 blob_present: Callable[[int, str], bool] | None = None,
                 page_renderers: Mapping[str, PageRenderer] | None = None) -> None:
        self.url = url
        self._reader, self._writer = create_engines(url, pool)
        # bootstrap shares it with the other processes on the data directory
        # (``SharedChangeLog``); on its own, the catalog counts its own writes.
        self.changes = changes if changes is not None else ChangeLog()
        # Bumped only by the writes that can change access (``_write(changes_access=True)``);
        # shared the same way.
        self.access_changes = access_changes if access_changes is not None else ChangeLog()
        # Per format: which files one version may hold together (publishing applies it).
        self._file_rules = dict(file_rules or {})
        # Whether the blob store holds (domain id, sha256): asked only of a blob a sweep has
        # deleted since an upload stored it (``blob_sweeps.claim_blobs``).
        self._blob_present = blob_present
        # Per format: its project pages, rendered after each write that changes a package
        # (``rendered_pages``); a format without one renders its pages when read.
        self._page_renderers = dict(page_renderers or {})
        self._page_queue = PageQueue(self.render_pages)
        # Keyed lookups the event loop may make itself where they never wait (embedded SQLite).
        self._point_reads = point_reads_for(url)
        # And whole reads through the stores, in one transaction (``shared_read(now=True)``).
        self._loop_reader = loop_reader_for(url)

    def migrate(self) -> None:
        upgrade_to_head(self._writer)

    def schema_is_current(self) -> bool:
        with outages_as_unavailable():
            return current_revision(self._reader) == head_revision()

    def render_pages(self, package_ids: Iterable[int]) -> int:
        raise NotImplementedError  # RenderedPageStore's

    def dispose(self) -> None:
        self._page_queue.close()
        self._point_reads.close()
        if self._loop_reader is not None:
            self._loop_reader.dispose()
        self._reader.dispose()
        self._writer.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_transaction(self._reader) as conn:
            yield conn

    def shared_read(self, *, now: bool = False) -> AbstractContextManager[None]:
        """The catalog's and the IAM store's reads inside the block in one transaction
        (``engine.shared_read``: they share the reader engine); with ``now``, on the caller's
        thread without waiting, or ``WouldWait`` (at once where the backend cannot: PostgreSQL).
        """
        if not now:
            return shared_read(self._reader)
        if self._loop_reader is None:
            raise WouldWait
        return shared_read(self._reader, self._loop_reader)

    @contextmanager
    def _write(self, topic: str | None = CATALOG, *,
               changes_access: bool = False,
               content_only: bool = False) -> Iterator[Connection]:
        """A write transaction; ``topic`` None for a write no other process caches anything
        of (a new token: nobody can have looked it up yet); ``changes_access`` for a write
        an access decision or a read grant may rest on (the module's docstring);
        ``content_only`` for one that only adds files or versions to packages
        (``ChangeLog.structure_stamp`` stays; announced as ``content``, not ``catalog``)."""
        if not may_wait():
            raise WouldWait
        with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
            forget_changed(conn)  # anything a failed transaction on this connection noted
            yield conn
            changed = forget_changed(conn)
            if topic is not None:
                announce(conn, CONTENT if content_only and topic == CATALOG else topic)
            if changes_access:
                announce(conn, ACCESS)
        # Committed: caches of pages and lookups built before this write are now stale.
        if changes_access:
            self.access_changes.touch()
        self.changes.touch(content_only=content_only)
        if changed and self._page_renderers:
            self._page_queue.add(changed)  # rendered right away, off this thread

    @property
    def engines(self) -> tuple[Engine, Engine]:
        return self._reader, self._writer


@contextmanager
def write_unflushed(writer: Engine) -> Iterator[Connection]:
    """A write transaction whose commit does not wait for the disk: the next durable commit
    of any writer makes it durable too (SQLite's WAL and PostgreSQL's WAL are each one
    sequence, flushed up to that commit), and a killed process loses nothing (the commit is
    in the database either way); only a power loss or an OS crash before that next commit
    can lose it. SQLite: ``synchronous=NORMAL`` for this transaction (it cannot change
    inside one), FULL again after; PostgreSQL: ``synchronous_commit = off`` for it."""
    with writer.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
            return
        # The driver's own connection: through SQLAlchemy the PRAGMA would begin first.
        raw: Any = conn.connection.driver_connection
        raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                yield conn
        finally:
            try:
                raw.execute("PRAGMA synchronous=FULL")
            except Exception:
                # Never back in the pool with commits that do not reach the disk.
                conn.invalidate()
                raise
