"""Single flight: one work per key, shared by every concurrent caller."""

from __future__ import annotations

import asyncio

import pytest

from packyard.singleflight import SingleFlight


def test_concurrent_callers_share_one_work() -> None:
    async def main() -> tuple[list[int], int, int]:
        flight: SingleFlight[str, int] = SingleFlight()
        calls = 0
        gate = asyncio.Event()

        async def work() -> int:
            nonlocal calls
            calls += 1
            await gate.wait()
            return 42

        waiters = [asyncio.create_task(flight.run("k", work)) for _ in range(50)]
        await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(*waiters)), calls, flight.started

    results, calls, started = asyncio.run(main())
    assert results == [42] * 50
    assert (calls, started) == (1, 1)


def test_different_keys_run_separately_and_a_finished_key_runs_again() -> None:
    async def main() -> int:
        flight: SingleFlight[str, str] = SingleFlight()

        async def work() -> str:
            await asyncio.sleep(0)
            return "x"

        await asyncio.gather(flight.run("a", work), flight.run("b", work))
        await flight.run("a", work)
        return flight.started

    assert asyncio.run(main()) == 3


def test_a_failure_reaches_every_caller() -> None:
    async def main() -> list[BaseException | int]:
        flight: SingleFlight[str, int] = SingleFlight()

        async def work() -> int:
            await asyncio.sleep(0)
            raise ValueError("upstream broke")

        return await asyncio.gather(*(flight.run("k", work) for _ in range(3)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert [str(r) for r in results] == ["upstream broke"] * 3


def test_a_caller_that_goes_away_cancels_neither_the_work_nor_the_others() -> None:
    async def main() -> int:
        flight: SingleFlight[str, int] = SingleFlight()
        gate = asyncio.Event()

        async def work() -> int:
            await gate.wait()
            return 7

        leaver = asyncio.create_task(flight.run("k", work))
        stayer = asyncio.create_task(flight.run("k", work))
        await asyncio.sleep(0)
        leaver.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaver
        gate.set()
        return await stayer

    assert asyncio.run(main()) == 7
