"""A stream's writes done behind its reads: one write in flight, in order.

An upload's body and a pulled file arrive on the event loop a few hundred KiB at a time; each
piece is parsed, hashed and written in a worker thread. Awaited one by one, the next piece was
read only once the last was written, so a large file took as long as reading it plus hashing
it. Here the next piece is read while the last is written; the one before is awaited first,
so pieces land in the order they came and at most two are held in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType


class WriteBehind:
    """``async with WriteBehind() as writes: await writes.put(lambda: write(piece))``.

    Leaving the block waits for the write in flight, whatever ended it, so that a failure
    (or a cancellation) closes the stream's file only once nothing is writing to it; a write
    that failed raises from the next ``put`` or from ``drain``."""

    def __init__(self) -> None:
        self._in_flight: asyncio.Future[object] | None = None

    async def put(self, start: Callable[[], Awaitable[object]]) -> None:
        """Wait for the write before, then start this one (``start()``) without waiting."""
        await self.drain()
        self._in_flight = asyncio.ensure_future(start())

    async def drain(self) -> None:
        """Wait for the write in flight (raising what it raised)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await in_flight

    async def __aenter__(self) -> WriteBehind:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        if not in_flight.done():
            await asyncio.wait([in_flight])
        if not in_flight.cancelled():
            # Retrieved: when the block failed, its own error is the one raised. When it did
            # not (it returned without draining), a failed write must not pass unnoticed.
            failure = in_flight.exception()
            if failure is not None and kind is None:
                raise failure
