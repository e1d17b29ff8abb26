"""A stream's writes behind its reads (``packyard/write_behind.py``): one write in flight, in
order; its failure raised by the next call; nothing still writing once the block is left."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from starlette.concurrency import run_in_threadpool

from packyard.write_behind import WriteBehind


def _slow(log: list[str], name: str, seconds: float = 0.05) -> Callable[[], None]:
    def write() -> None:
        time.sleep(seconds)
        log.append(name)
    return write


def test_writes_land_in_order_one_at_a_time() -> None:
    log: list[str] = []
    running = 0
    most = 0
    lock = threading.Lock()

    def write(name: str) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 if name != "0" else 0.05)
        log.append(name)
        with lock:
            running -= 1

    async def main() -> None:
        async with WriteBehind() as writes:
            for index in range(6):
                await writes.put(lambda i=index: run_in_threadpool(write, str(i)))
            await writes.drain()

    asyncio.run(main())
    assert log == ["0", "1", "2", "3", "4", "5"]
    assert most == 1


def test_put_returns_while_the_write_is_in_flight() -> None:
    log: list[str] = []

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(lambda: run_in_threadpool(_slow(log, "written", 0.2)))
            log.append("read the next piece")
            await writes.drain()

    asyncio.run(main())
    assert log == ["read the next piece", "written"]


def test_a_failed_write_is_raised_by_the_next_put_and_stops_there() -> None:
    started: list[str] = []

    def fails() -> None:
        raise OSError("disk full")

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(lambda: run_in_threadpool(fails))
            await writes.put(lambda: run_in_threadpool(lambda: started.append("second")))

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(main())
    assert started == []


def test_leaving_on_an_error_waits_for_the_write_in_flight_and_raises_the_error() -> None:
    log: list[str] = []

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(lambda: run_in_threadpool(_slow(log, "written", 0.2)))
            raise ValueError("the upstream went away")

    with pytest.raises(ValueError, match="went away"):
        asyncio.run(main())
    assert log == ["written"]  # finished before the block's error left it


def test_leaving_without_draining_still_raises_a_failed_write() -> None:
    def fails() -> None:
        raise OSError("disk full")

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(lambda: run_in_threadpool(fails))

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(main())
