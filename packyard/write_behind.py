"""A stream's writes done behind its reads: in order, on one worker thread at a time, fed
without waiting.

An upload's body and a pulled file arrive on the event loop a few hundred KiB at a time; each
piece is parsed, hashed and written in a worker thread. Awaited one by one, the next piece was
read only once the last was written. Then one write in flight at a time, the next piece read
while it ran: still a hop to a worker thread and back to the loop per piece, and the reader
waited for each hop back before it read on. A 300 MiB wheel pulled through spent 0.74 s of its
1.1 s waiting for writes that took 0.36 s (bench/UPSTREAM.md round 13). Here the pieces go into
a queue that one worker thread empties in order while the reader goes on reading; the reader
waits only when more than ``limit`` bytes are queued, so memory stays bounded whatever the
file's size. The thread is held only while there is something to write: the next piece after
the queue ran dry starts another.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from types import TracebackType

# Bytes a stream may have queued before its reader waits: a few of the pieces it hands over
# (256 KiB to 1 MiB), enough that the writer never runs dry while the reader gets the next.
QUEUED_LIMIT = 4 * 1024 * 1024


@cache
def _writers() -> ThreadPoolExecutor:
    """The threads every stream's writes run in. A stream holds one only while it has
    queued writes, and a write never waits for another stream's: more streams than threads
    wait their turn, they cannot deadlock."""
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="packyard-writes")


# A forked child has none of its parent's threads: its own, made when first needed.
os.register_at_fork(after_in_child=_writers.cache_clear)


class WriteBehind:
    """``async with WriteBehind() as writes: await writes.put(write, size=len(piece))``.

    ``write`` runs in a worker thread, in the caller's context, after every write put before
    it; ``then``, when given, runs on the event loop once it has, in the same order. A write
    that fails stops the ones queued after it and is raised by the next ``put`` or by
    ``drain``. Leaving the block waits for the write running, whatever ended it, so that a
    failure (or a cancellation) closes the stream's file only once nothing is writing to it;
    writes still queued when the block fails are dropped."""

    def __init__(self, *, limit: int = QUEUED_LIMIT) -> None:
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        # Shared with the writer thread, under the lock.
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[Callable[[], object], int,
                                             Callable[[], None] | None]] = collections.deque()
        self._writing = False
        self._stopped = False
        self._broken: BaseException | None = None  # a write's failure, as the thread saw it
        # The loop's own.
        self._queued = 0  # bytes put and not yet written
        self._pending = 0  # writes put and not yet written or dropped
        self._error: BaseException | None = None
        self._raised = False  # the error raised to the caller already
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    async def put(self, write: Callable[[], object], *, size: int,
                  then: Callable[[], None] | None = None) -> None:
        """Queue ``write`` (of ``size`` bytes) behind those before it; wait only while more
        than the limit is queued. Raises the error of a write that failed."""
        self._raise_failure()
        context = contextvars.copy_context()
        with self._lock:
            if self._broken is not None:
                # Failed on its thread, not yet heard on the loop: nothing more is written.
                self._error = self._broken
                self._raise_failure()
            self._queue.append((lambda: context.run(write), size, then))
            start = not self._writing
            self._writing = True
        self._queued += size
        self._pending += 1
        self._idle.clear()
        if start:
            _writers().submit(self._write_queued)
        while self._queued > self._limit and self._error is None:
            self._room.clear()
            await self._room.wait()
        self._raise_failure()

    async def drain(self) -> None:
        """Wait for every write put so far (raising what one raised)."""
        await self._idle.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            self._raised = True
            raise self._error

    # -- the worker thread's side ----------------------------------------------------------

    def _write_queued(self) -> None:
        # Every write put is answered on the loop by one call, written or dropped, in the
        # order they were put (this thread's calls come after those of the thread before it,
        # which made its last before letting the next one start): the loop counts them.
        while True:
            with self._lock:
                if not self._queue or self._stopped:
                    dropped = len(self._queue)
                    self._queue.clear()
                    self._writing = False
                    break
                write, size, then = self._queue.popleft()
            try:
                write()
            except BaseException as error:  # noqa: BLE001 - handed to the loop, raised there
                with self._lock:
                    dropped = len(self._queue)
                    self._queue.clear()
                    self._writing = False
                    self._broken = error
                self._loop.call_soon_threadsafe(self._failed, error, dropped)
                return
            self._loop.call_soon_threadsafe(self._written, size, then)
        if dropped:
            self._loop.call_soon_threadsafe(self._settle, dropped)

    # -- back on the loop --------------------------------------------------------------------

    def _written(self, size: int, then: Callable[[], None] | None) -> None:
        self._queued -= size
        self._room.set()
        if then is not None and self._error is None:
            then()
        self._settle(1)

    def _failed(self, error: BaseException, dropped: int) -> None:
        self._error = error
        self._room.set()
        self._settle(1 + dropped)

    def _settle(self, count: int) -> None:
        """``count`` writes written or dropped: idle once none is left."""
        self._pending -= count
        if not self._pending:
            self._idle.set()

    async def __aenter__(self) -> WriteBehind:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if kind is not None:
            with self._lock:
                self._stopped = True  # what is queued and not started is dropped
        await self._idle.wait()
        if kind is None and not self._raised:
            # A failed write must not pass unnoticed when the block returned without draining;
            # when the block failed, its own error is the one raised.
            self._raise_failure()
