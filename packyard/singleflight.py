"""Single flight: many concurrent callers asking for the same thing share one piece of work.

The work runs in a task of its own, so a caller that goes away (a client that disconnects)
cancels neither the work nor the other callers waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Runs at most one ``work()`` per key at a time; callers that arrive meanwhile join it."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}
        self.started = 0  # how many works were started (for tests and logs)

    def in_flight(self, key: K) -> bool:
        return key in self._running

    def task(self, key: K, work: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        """The running task for ``key``, started from ``work`` if there is none."""
        running = self._running.get(key)
        if running is not None:
            return running

        async def run() -> V:
            return await work()

        task = asyncio.get_running_loop().create_task(run())
        self._running[key] = task
        self.started += 1

        def finished(done: asyncio.Task[V]) -> None:
            if self._running.get(key) is done:
                del self._running[key]
            if not done.cancelled():
                done.exception()  # retrieved: a failure nobody awaited is not logged as lost

        task.add_done_callback(finished)
        return task

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """Wait for the shared result of ``work`` for ``key``."""
        return await asyncio.shield(self.task(key, work))
