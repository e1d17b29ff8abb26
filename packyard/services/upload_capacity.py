"""Admission of uploads: how many this server process stores at once, and only while the disk
keeps a reserve free.

Every upload is written to the staging area as it arrives, so without a bound a few callers
could fill the disk (5 GiB a request, many at once) and stop the database from committing.
An upload is admitted before its body is read: past the limit it gets a 503 with Retry-After,
and when the disk would keep less than the reserve (counting what the uploads in flight
declared) a 507. Both are decided in microseconds, from counters and one statvfs.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from packyard.errors import InsufficientStorage, Throttled

log = logging.getLogger("packyard.uploads")

RETRY_AFTER_SECONDS = 5
# A write refused because the file system (or the user's quota) is full.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _gib(size: int) -> str:
    return f"{size / 1024 ** 3:.1f} GiB"


class UploadCapacity:
    """Counts the uploads in flight in this process and the bytes they declared."""

    def __init__(self, max_concurrent: int, min_free_bytes: int,
                 free_bytes: Callable[[], int]) -> None:
        """``max_concurrent`` 0 means no limit; ``min_free_bytes`` 0 means no disk check.
        ``free_bytes`` answers how much space the staging area's file system has left."""
        self._max = max_concurrent
        self._min_free = min_free_bytes
        self._free_bytes = free_bytes
        self._lock = threading.Lock()
        self._active = 0
        self._reserved = 0

    @property
    def active(self) -> int:
        return self._active

    @contextmanager
    def admit(self, declared_bytes: int | None) -> Iterator[None]:
        """Hold a place for one upload of (about) ``declared_bytes`` while the block runs.

        Raises Throttled (an Unavailable) when the process has ``max_concurrent`` uploads in flight, and
        InsufficientStorage when storing it would leave less than ``min_free_bytes`` free.
        """
        declared = max(declared_bytes or 0, 0)
        with self._lock:
            if self._max and self._active >= self._max:
                raise Throttled(
                    f"Too many uploads in progress on this server (at most {self._max} at "
                    f"once); try again in a few seconds", retry_after_seconds=RETRY_AFTER_SECONDS)
            if self._min_free:
                free = self._free_bytes()
                if free - self._reserved - declared < self._min_free:
                    log.warning("refused an upload of %d bytes: %d bytes free, %d reserved by "
                                "uploads in progress, %d to be kept free "
                                "(PACKYARD_MIN_FREE_DISK_BYTES)", declared, free,
                                self._reserved, self._min_free)
                    raise InsufficientStorage(
                        "Not enough free disk space on the server for this upload: it keeps "
                        f"{_gib(self._min_free)} free; ask its administrator to free space")
            self._active += 1
            self._reserved += declared
        try:
            yield
        except OSError as error:
            if error.errno not in _DISK_FULL:
                raise
            # Filled by something the reserve did not count (another process, the reserve
            # off): the client's 507 says so, not a 500 that twine retries five times.
            log.warning("an upload filled the disk: %s", error)
            raise InsufficientStorage("The server's disk filled up while storing this upload; "
                                      "ask its administrator to free space") from None
        finally:
            with self._lock:
                self._active -= 1
                self._reserved -= declared
