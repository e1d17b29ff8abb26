"""``AuditTrail``: where every surface's audit events go, and the one call that records one.

The server records an event for each request a surface noted (``http/request_note.py``,
``server/observe.py``); commands that change things on the server's machine without a request
(``packyard token revoke``) record theirs directly. Either way ``record`` returns only once the
event is as durable as the sink makes it, so nothing is acknowledged before its event is kept:

- ``file`` (the default with SQLite): JSON lines in ``<data dir>/audit/`` (``file_log.py``);
- ``database`` (the default with PostgreSQL, the scaled setup): rows of the catalog's
  database (``database_log.py``), one place for every replica;
- ``off``: nothing is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from packyard.audit.database_log import DatabaseAuditLog
from packyard.audit.file_log import FileAuditLog, encode, read_segments
from packyard.audit.group_commit import GroupCommit
from packyard.audit.query import AuditFilter, select
from packyard.settings import Settings

FILE, DATABASE, OFF = "file", "database", "off"


class _Sink(Protocol):
    def close(self) -> None: ...


def sink_kind(settings: Settings) -> str:
    """The sink the settings choose: ``PACKYARD_AUDIT_LOG``, else by the database."""
    chosen = settings.audit_log.strip().lower()
    if chosen:
        return chosen
    return DATABASE if settings.effective_database_url.startswith("postgres") else FILE


def audit_dir(settings: Settings) -> Path:
    return settings.data_dir / "audit"


class AuditTrail:
    """Records events durably, a batch of waiting requests at a time."""

    def __init__(self, kind: str, *, directory: Path | None = None,
                 max_segment_bytes: int = 64 * 1024 * 1024, fsync: bool = True,
                 database: DatabaseAuditLog | None = None) -> None:
        self.kind = kind
        self._directory = directory
        self._database = database
        self._files: FileAuditLog | None = None
        self._commit: GroupCommit[Any] | None = None
        if kind == FILE:
            assert directory is not None
            files = self._files = FileAuditLog(directory, max_segment_bytes, fsync)
            self._commit = GroupCommit(lambda batch: files.write_batch(
                [encode(event) for event in batch]), "packyard-audit")
        elif kind == DATABASE:
            assert database is not None
            self._commit = GroupCommit(database.write_batch, "packyard-audit")

    @property
    def enabled(self) -> bool:
        return self._commit is not None

    @property
    def flushes(self) -> int:
        return self._commit.flushes if self._commit is not None else 0

    @property
    def recorded(self) -> int:
        return self._commit.items if self._commit is not None else 0

    def record(self, event: dict[str, Any]) -> None:
        """Keep ``event``; returns once it is durable (raises if it cannot be kept)."""
        if self._commit is not None:
            self._commit.write(event)

    async def record_async(self, event: dict[str, Any]) -> None:
        """``record`` without holding the event loop while the batch is flushed."""
        if self._commit is not None:
            await asyncio.wrap_future(self._commit.submit(event))

    def events(self, wanted: AuditFilter) -> Sequence[dict[str, Any]]:
        """The events that match ``wanted``, in time order."""
        return select(self._all(wanted), wanted)

    def _all(self, wanted: AuditFilter) -> Iterator[dict[str, Any]]:
        if self._database is not None:
            yield from self._database.read(wanted.since, wanted.until, wanted.name,
                                           wanted.errors_only)
        elif self._directory is not None:
            yield from read_segments(self._directory)

    def close(self) -> None:
        if self._commit is not None:
            self._commit.close()
        if self._files is not None:
            self._files.close()


def open_trail(settings: Settings, engines: tuple[Any, Any] | None) -> AuditTrail:
    """The trail the settings configure; ``engines`` (reader, writer) for the database sink."""
    kind = sink_kind(settings)
    if kind == FILE:
        return AuditTrail(FILE, directory=audit_dir(settings),
                          max_segment_bytes=settings.audit_log_max_bytes,
                          fsync=settings.audit_fsync)
    if kind == DATABASE:
        if engines is None:
            raise ValueError("the database audit log needs the catalog's engines")
        reader, writer = engines
        return AuditTrail(DATABASE, database=DatabaseAuditLog(writer, reader))
    if kind == OFF:
        return AuditTrail(OFF)
    raise ValueError(f"PACKYARD_AUDIT_LOG must be file, database or off, got {kind!r}")
