"""Group commit: many writers, one durable flush for all who are waiting.

An audit event must be durable before its request is answered, and making a write durable
(``fdatasync``, a database commit) costs far more than the write. So requests hand their events
to one writer thread and wait; the thread takes everything pending, writes it, makes it durable
once, and wakes them all. Under load a flush covers many requests; alone, a request pays one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from packyard.errors import Unavailable

T = TypeVar("T")

log = logging.getLogger("packyard.audit")


class GroupCommit(Generic[T]):
    """Items submitted from any thread, flushed in order by one thread, in batches."""

    def __init__(self, flush: Callable[[Sequence[T]], None], name: str,
                 max_batch: int = 1000) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, Future[None]]] = []
        self._ready = threading.Condition()
        self._closed = False
        self.flushes = 0  # for the metrics: durable writes made
        self.items = 0
        self._name = name
        self._thread: threading.Thread | None = None  # started by the first submit

    def submit(self, item: T) -> Future[None]:
        """Queue ``item``; the future completes once it is durable (or holds why not)."""
        done: Future[None] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the audit log is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name,
                                                daemon=True)
                self._thread.start()
            self._pending.append((item, done))
            self._ready.notify()
        return done

    def write(self, item: T) -> None:
        """Queue ``item`` and wait until it is durable."""
        self.submit(item).result()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending and self._closed:
                    return
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
            try:
                self._flush([item for item, _ in batch])
            except BaseException as exc:  # every waiter learns it; the thread goes on
                # An outage (the database restarting) is a warning, as everywhere else.
                log.log(logging.WARNING if isinstance(exc, Unavailable) else logging.ERROR,
                        "could not write %d audit event(s): %s", len(batch), exc)
                for _, done in batch:
                    done.set_exception(exc)
                continue
            self.flushes += 1
            self.items += len(batch)
            for _, done in batch:
                done.set_result(None)

    def close(self) -> None:
        """Flush what is pending and stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
