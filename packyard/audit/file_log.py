"""The audit log in the data directory: JSON lines, append-only, in segments rotated by size.

Each process appends to segments of its own (``audit/audit-<UTC time>-<pid>-<tag>-<n>.jsonl``;
the tag tells two logs of one process apart), so
the workers of ``packyard serve --workers N`` and commands run beside the server
(``packyard token revoke``) never interleave or coordinate; ``packyard audit`` reads them all and
orders the events by time. A segment reaching ``max_bytes`` is closed and the next one begun.
Nothing is ever rewritten or deleted by Packyard: archive or prune old segments as your
retention rules say (they are closed once a newer segment of the same process exists).

Durability: an event is written (one ``write`` of whole lines) before its request is answered,
so a killed process loses nothing it acknowledged. With ``fsync`` (the default) the data is also
on disk before the answer (``fdatasync`` once per batch of waiting requests, ``group_commit``),
so a power cut or an operating-system crash loses nothing acknowledged either; without it such a
crash may lose the last few seconds. A torn last line (a crash in the middle of a write) is
skipped by the reader; a batch a full disk took only part of is cut off again (``write_batch``),
so the next batch starts on a line of its own.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("packyard.audit")

SEGMENT_GLOB = "audit-*.jsonl"


def encode(event: dict[str, Any]) -> bytes:
    """One event as one line (no newline inside: JSON escapes them)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8") + b"\n"


class FileAuditLog:
    """This process's segments in ``directory``."""

    def __init__(self, directory: Path, max_bytes: int, fsync: bool = True) -> None:
        self.directory = directory
        self._max_bytes = max_bytes
        self._fsync = fsync
        self._fd: int | None = None
        self._size = 0
        self._sequence = 0
        self._tag = secrets.token_hex(3)
        self.path: Path | None = None

    def _open_next(self) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.path = self.directory / (
            f"audit-{stamp}-{os.getpid()}-{self._tag}-{self._sequence:06d}.jsonl")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if self._fsync:
            # The new name must survive a crash as well as what is written under it.
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._size = os.fstat(fd).st_size
        return fd

    def write_batch(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` (from ``encode``) and make them durable as configured."""
        data = b"".join(lines)
        if self._fd is None or (self._size and self._size + len(data) > self._max_bytes):
            self._close_segment()
            self._fd = self._open_next()
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self._fsync:
                os.fdatasync(self._fd)
        except OSError:
            # A full disk may take part of the batch: left there, its torn line would join
            # the next batch's first line into one the reader cannot parse, losing an event
            # acknowledged after the disk had room again. Cut the segment back to its last
            # whole line, or leave it for a new one if even that fails.
            self._cut_back()
            raise
        self._size += len(data)

    def _cut_back(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            log.warning("could not cut a partly written audit batch from %s; the next "
                        "events go to a new segment", self.path)
            self._close_segment()

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close_segment()


def read_segments(directory: Path) -> Iterator[dict[str, Any]]:
    """Every event in ``directory``'s segments, segment by segment (not yet ordered)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(SEGMENT_GLOB)):
        try:
            handle = path.open("rb")
        except OSError as exc:
            log.warning("cannot read audit segment %s: %s", path, exc)
            continue
        with handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn by a crash in the middle of a write: never acknowledged
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event
