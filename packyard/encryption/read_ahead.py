"""What a long read of an encrypted local file needs to decrypt ahead (``EncryptingBlobStore.
_read_file``, ``StreamDecryptor.aread_ahead``): which read may, and a descriptor shared with
the worker thread reading the next piece.

Decrypting the next mebibyte in a worker thread while the event loop sends the one before pays
only with a core to spare: AES-GCM holds the GIL, so beside another long read it only contends
with the loop (four encrypted downloads at once lost 16 % of their throughput that way). So
only a long read that is the only one under way goes ahead (``LongReads``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

from packyard.thread_hop import ThreadHop


class LongReads:
    """The long reads under way in one store: a count, under a lock (a read may run on another
    thread's event loop: ``LaterDigests.fill_from_thread``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def begin(self) -> bool:
        """Counts one in; True when it is the only one."""
        with self._lock:
            self._count += 1
            return self._count == 1

    def end(self) -> None:
        with self._lock:
            self._count -= 1


class SharedFile:
    """A descriptor read by worker threads (``run``) as well as by its reader: closed once the
    reader has let it go (``release``) and no read is under way, so that a reader stopping
    early (its client gone) never closes it under a thread's ``pread``."""

    def __init__(self, fd: int, threads: ThreadHop) -> None:
        self._fd = fd
        self._threads = threads
        self._users = 1  # the reader
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            done = self._users == 0
        if done:
            os.close(self._fd)

    def run(self, work: Callable[[], bytes]) -> asyncio.Future[bytes]:
        """``work`` started in a worker thread, the file held open until it is done; a result
        nobody waits for any more is dropped quietly."""
        with self._lock:
            self._users += 1

        def held() -> bytes:
            try:
                return work()
            finally:
                self.release()

        future = self._threads.start(held)
        future.add_done_callback(_retrieved)
        return future


def _retrieved(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()  # read: an abandoned piece's error is not logged as unretrieved
