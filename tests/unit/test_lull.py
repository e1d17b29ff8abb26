"""Background work's timing (``packyard/lull.py``): a moment when nothing is served, and work
run once a burst of nudges is over (or at most a patience after the first)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from packyard.errors import Unavailable
from packyard.lull import AfterQuiet, Lull


def test_a_lull_is_at_once_without_a_server_or_with_nothing_under_way() -> None:
    async def steps() -> None:
        started = time.monotonic()
        await Lull().wait(started + 5)
        idle = Lull(lambda: (3, 0), poll=0.01)
        await idle.wait(started + 5)  # first look: waits one poll to see nothing begin
        await idle.wait(started + 5)  # nothing begun since: at once
        assert time.monotonic() - started < 0.5

    asyncio.run(steps())


def test_a_lull_waits_for_requests_to_end_or_until() -> None:
    seen = [(1, 1)]

    async def steps() -> None:
        lull = Lull(lambda: seen[0], poll=0.01)
        asyncio.get_running_loop().call_later(0.1, lambda: seen.__setitem__(0, (1, 0)))
        started = time.monotonic()
        await lull.wait(started + 5)
        assert 0.1 <= time.monotonic() - started < 1
        seen[0] = (2, 1)
        started = time.monotonic()
        await lull.wait(started + 0.2)  # never idle: given up at ``until``
        assert 0.2 <= time.monotonic() - started < 1

    asyncio.run(steps())


def test_work_runs_once_the_nudges_stop_or_after_the_patience() -> None:
    runs: list[float] = []

    async def work() -> None:
        runs.append(time.monotonic())

    async def steps() -> None:
        quiet = AfterQuiet(work, "working", quiet=0.1)
        started = time.monotonic()
        for _ in range(5):
            quiet.nudge()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert len(runs) == 1 and runs[0] - started >= 0.2 + 0.1  # after the last nudge
        patient = AfterQuiet(work, "working", quiet=0.1, patience=0.2)
        started = time.monotonic()
        for _ in range(10):  # never quiet for 0.1 s
            patient.nudge()
            await asyncio.sleep(0.05)
        assert len(runs) >= 2 and 0.2 <= runs[1] - started < 0.45  # not after the burst
        await patient.close()
        await quiet.close()

    asyncio.run(steps())


def test_a_nudge_during_the_work_runs_it_again_and_close_cancels_it() -> None:
    runs: list[bool] = []
    soon: AfterQuiet

    async def work() -> None:
        runs.append(soon.nudged)
        if len(runs) == 1:
            soon.nudge()  # a write during the work
            runs.append(soon.nudged)
        else:
            await asyncio.sleep(10)

    async def steps() -> None:
        nonlocal soon
        soon = AfterQuiet(work, "working", quiet=0.05)
        soon.nudge()
        await asyncio.sleep(0.3)
        await soon.close()  # the second run, under way, is cancelled

    asyncio.run(steps())
    assert runs == [False, True, False]


def test_a_pass_that_fails_is_logged_and_the_next_nudge_runs_again(
        caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the catalog is away")

    async def steps() -> None:
        soon = AfterQuiet(work, "filling in something", quiet=0.02)
        soon.nudge()
        while not runs:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        soon.nudge()  # the task is done (not dead of its error): a new pass runs
        while len(runs) < 2:
            await asyncio.sleep(0.01)
        await soon.close()

    with caplog.at_level(logging.ERROR, logger="packyard"):
        asyncio.run(asyncio.wait_for(steps(), 5))
    assert runs == [0, 1]
    failed = [r for r in caplog.records if r.getMessage() == "filling in something"]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert "the catalog is away" in caplog.text


def test_regression_a_pass_during_a_database_restart_logs_one_warning_not_an_error_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    # Was: a PostgreSQL stopped for a few seconds under pulls made each replica process log
    # "ERROR packyard.digests: filling in digests" with psycopg's, SQLAlchemy's and
    # DatabaseUnavailable's tracebacks, for work the next pass does anyway.
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        raise Unavailable("The metadata database is unavailable right now; try again shortly")

    async def steps() -> None:
        soon = AfterQuiet(work, "filling in digests", quiet=0.01, outages=(Unavailable,))
        soon.nudge()
        while not runs:
            await asyncio.sleep(0.01)
        await soon.close()

    with caplog.at_level(logging.WARNING, logger="packyard"):
        asyncio.run(asyncio.wait_for(steps(), 5))
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [(
        "WARNING", "filling in digests waits for the next pass: The metadata database is "
        "unavailable right now; try again shortly", None)]
