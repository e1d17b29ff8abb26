"""Group commit: writers that need the disk flushed at about the same time share one flush.

Committing a blob durably takes two flushes (its bytes before the rename, the rename after),
each an fsync, and the file system's journal makes every one of them wait for a commit of its
own when they come one after another. Several downloads finishing together (a cold install
pulling wheels through) would queue that many. With ``GroupFlush`` a writer asks for a flush;
when none is running it runs one (Linux's ``syncfs(2)``: every file and rename of the file
system), and writers that ask while it runs wait for the next one, which one of them runs for
all. A flush that started before a writer asked does not count for it: its writes may have
missed it. So every writer still returns only once its own writes are durable (an
acknowledged file survives a power loss), and N writers at once cost about two flushes, not N.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class GroupFlush:
    """Shares ``flush`` (blocking; worker threads) among the writers waiting for one."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._started = 0  # flushes started so far, numbered from 1
        self._finished = 0  # the number of the last one finished
        self._running = False
        self._succeeded = 0  # the number of the last one that succeeded
        self._error: BaseException | None = None  # why the last one failed
        self.flushes = 0  # flushes run (for tests and logs)

    def flush(self) -> None:
        """Return once a flush that started after this call has finished; raise its error if
        it failed."""
        with self._cond:
            # The next flush to start is the first that covers what this writer wrote.
            wanted = self._started + 1
            while self._finished < wanted:
                if self._running:
                    self._cond.wait()
                    continue
                self._started += 1
                number = self._started
                self._running = True
                error: BaseException | None = None
                self._cond.release()
                try:
                    self._flush()
                except BaseException as exc:  # handed to every writer this flush was for
                    error = exc
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._finished = number
                    self.flushes += 1
                    if error is None:
                        self._succeeded = number
                    else:
                        self._error = error
                    self._cond.notify_all()
            # Any flush from ``wanted`` on covers this writer's writes.
            if self._succeeded < wanted:
                raise OSError(f"flushing the blob store failed: {self._error}") from self._error
