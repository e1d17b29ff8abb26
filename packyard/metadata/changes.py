"""A change counter for the metadata store, so in-memory caches know when to drop out.

Every write transaction of the catalog bumps it (after commit). Readers remember the stamp they
computed a value under and compare: a value is good while the stamp is the one it was computed
under. The catalog keeps two: ``changes``, bumped by every write, and ``access_changes``, bumped
only by the writes an access decision rests on (``metadata/transactions.py``), which read grants
are kept under. ``ChangeLog`` counts in this process only. ``SharedChangeLog`` keeps the stamp
in a small file every process on one data directory maps into memory (``packyard serve
--workers N``, a ``packyard import`` next to it): a write in any of them is seen by the
others' next read, as cheaply as a write here (one aligned 8-byte load from shared memory).
Processes on other machines (replicas on one PostgreSQL) cannot see it: they touch their own
stamps when a write is announced (``metadata/change_feed.py``), and cached entries also expire
after a short time (``ResponseCache``'s TTL).

A second, per-process counter of ``changes``, ``structure_stamp``, moves with every write
except those that only add content to packages (a file pulled through from an upstream kept in
its repositories: ``touch(content_only=True)``). The caches of what such writes cannot change —
a domain's upstream graph, its package groups — are bound to it, so a cold install keeping a
file every few milliseconds does not make every next request load them again. Other
processes' writes reach it through their ``catalog`` announcements
(``services/cache_invalidation.py`` touches it; their kept files are announced as ``content``,
which moves only the stamp), and those caches keep their short TTL as the backstop, as before.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

_STAMP_BYTES = 8


class ChangeLog:
    """Counts committed writes in this process."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._stamp = 0
        self._structure = 0
        self._lock = threading.Lock()
        # Called after every committed write (the webhooks' dispatcher wakes up: the write may
        # have queued an event); each must be quick and must not raise.
        self.listeners: list[Callable[[], None]] = []

    def touch(self, *, content_only: bool = False) -> None:
        """A write committed; ``content_only``: it only added files or versions to packages
        (the structure stamp stays)."""
        with self._lock:
            self._stamp = next(self._counter)
            if not content_only:
                self._structure = self._stamp
        for listener in self.listeners:
            listener()

    def stamp(self) -> int:
        # An int read is atomic under the GIL; no lock on the hot path.
        return self._stamp

    def structure_stamp(self) -> int:
        """Moved by every write but content-only ones (the module docstring)."""
        return self._structure


class SharedChangeLog(ChangeLog):
    """A stamp shared by every process that maps ``path`` (created, owner-only, if missing).

    Stamps are only ever compared for equality, so a write stores a fresh random value rather
    than an increment: two processes writing at once cannot both store the same "next" value
    (which could leave an entry computed between their two commits looking current). The cell
    is 8-byte aligned (offset 0 of a mapping), so loads and stores of it are single machine
    accesses; a torn value could only ever invalidate more, never less.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _STAMP_BYTES:
                # Every process may get here at once: growing to the same size is harmless.
                os.ftruncate(fd, _STAMP_BYTES)
            self._map = mmap.mmap(fd, _STAMP_BYTES)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._cell = ctypes.c_uint64.from_buffer(self._map)

    def touch(self, *, content_only: bool = False) -> None:
        value = secrets.randbits(64)
        while value == self._cell.value:  # pragma: no cover - one chance in 2**64
            value = secrets.randbits(64)
        self._cell.value = value
        if not content_only:
            # Per process: other processes' structural writes arrive as ``catalog``
            # announcements.
            with self._lock:
                self._structure = next(self._counter)
        for listener in self.listeners:
            listener()

    def stamp(self) -> int:
        return self._cell.value
