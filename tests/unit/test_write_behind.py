"""A stream's writes behind its reads (``packyard/write_behind.py``): in order, one at a time,
queued without waiting up to a limit; a failure raised by the next call and the writes queued
after it dropped; nothing still writing once the block is left."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from functools import partial

import pytest

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
                await writes.put(partial(write, str(index)), size=10)
            await writes.drain()

    asyncio.run(main())
    assert log == ["0", "1", "2", "3", "4", "5"]
    assert most == 1


def test_puts_return_while_the_writes_are_queued() -> None:
    log: list[str] = []

    async def main() -> None:
        async with WriteBehind() as writes:
            for name in ("first", "second", "third"):
                await writes.put(_slow(log, name, 0.1), size=1)
            log.append("read on")
            await writes.drain()
            log.append("drained")

    asyncio.run(main())
    assert log == ["read on", "first", "second", "third", "drained"]


def test_the_reader_waits_once_more_than_the_limit_is_queued() -> None:
    log: list[str] = []

    async def main() -> None:
        async with WriteBehind(limit=100) as writes:
            await writes.put(_slow(log, "a", 0.1), size=60)
            log.append("put a")
            await writes.put(_slow(log, "b", 0.1), size=60)  # 120 queued: waits for a
            log.append("put b")
            await writes.drain()

    asyncio.run(main())
    assert log == ["put a", "a", "put b", "b"]


def test_each_writes_then_runs_on_the_loop_in_order_after_it() -> None:
    done: list[tuple[str, bool]] = []
    written: list[str] = []

    async def main() -> None:
        loop_thread = threading.get_ident()
        async with WriteBehind() as writes:
            for name in "abcd":
                def then(name: str = name) -> None:
                    done.append((name, threading.get_ident() == loop_thread
                                 and name in written))

                await writes.put(partial(written.append, name), size=1, then=then)
            await writes.drain()

    asyncio.run(main())
    assert done == [("a", True), ("b", True), ("c", True), ("d", True)]


def test_writes_run_in_the_putters_context() -> None:
    caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")
    seen: list[str] = []

    async def main() -> None:
        caller.set("alice")
        async with WriteBehind() as writes:
            await writes.put(lambda: seen.append(caller.get()), size=1)
            await writes.drain()

    asyncio.run(main())
    assert seen == ["alice"]


def test_a_put_just_after_the_queue_ran_dry_is_still_drained() -> None:
    log: list[int] = []
    followed: list[int] = []

    async def main() -> None:
        async with WriteBehind() as writes:
            for index in range(200):
                await writes.put(partial(log.append, index), size=1,
                                 then=partial(followed.append, index))
                if index % 3 == 0:
                    await asyncio.sleep(0)
                await writes.drain()
                assert log[-1] == index
                assert followed[-1] == index  # its follow-up too, before drain returned

    asyncio.run(main())
    assert log == list(range(200))
    assert followed == list(range(200))


def test_a_put_after_a_write_failed_is_refused_even_before_the_loop_heard_of_it() -> None:
    failed = threading.Event()
    written: list[str] = []

    def fails() -> None:
        failed.set()
        raise OSError("disk full")

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(fails, size=1)
            assert failed.wait(5)
            time.sleep(0.1)  # the thread is done; the loop has not run its report yet
            await writes.put(lambda: written.append("after the failure"), size=1)

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(main())
    assert written == []


def test_a_failed_write_is_raised_by_the_next_put_and_stops_there() -> None:
    started: list[str] = []

    def fails() -> None:
        raise OSError("disk full")

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(fails, size=1)
            await writes.put(lambda: started.append("queued behind it"), size=1)
            await asyncio.sleep(0.1)
            await writes.put(lambda: started.append("after it failed"), size=1)

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(main())
    assert started == []


def test_drain_raises_a_failed_write() -> None:
    def fails() -> None:
        raise OSError("disk full")

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(fails, size=1)
            with pytest.raises(OSError, match="disk full"):
                await writes.drain()

    asyncio.run(main())


def test_leaving_on_an_error_waits_for_the_running_write_and_drops_the_queued() -> None:
    log: list[str] = []

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(_slow(log, "running", 0.2), size=1)
            await writes.put(_slow(log, "queued", 0.01), size=1)
            await asyncio.sleep(0.05)  # the first is under way
            raise ValueError("the upstream went away")

    with pytest.raises(ValueError, match="went away"):
        asyncio.run(main())
    assert log == ["running"]  # finished before the block's error left it; the next dropped


def test_leaving_without_draining_waits_for_the_writes_and_raises_a_failed_one() -> None:
    log: list[str] = []

    def fails() -> None:
        raise OSError("disk full")

    async def main() -> None:
        async with WriteBehind() as writes:
            await writes.put(_slow(log, "written", 0.1), size=1)
            await writes.put(fails, size=1)

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(main())
    assert log == ["written"]


def test_a_cancelled_reader_leaves_only_once_nothing_is_writing() -> None:
    log: list[str] = []

    async def read(writes_started: asyncio.Event) -> None:
        async with WriteBehind() as writes:
            await writes.put(_slow(log, "running", 0.2), size=1)
            writes_started.set()
            await asyncio.sleep(10)

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.ensure_future(read(started))
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        log.append("left")

    asyncio.run(main())
    assert log == ["running", "left"]
