"""Merged pages made again after pulled files were kept (``services/page_warmer.py``): only
under a server, once no file has been kept for a quiet moment, while nothing is being
served, the most recently read first; never a page whose documents are due; a file kept
meanwhile stops the pass."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from packyard.services.page_warmer import PageWarmer


class _Page:
    """A remembered page: made or not, fresh or not, counting how often it was made."""

    def __init__(self, log: list[str], name: str, *, made: bool = False,
                 fresh: bool = True, fails: bool = False) -> None:
        self.log, self.name, self.is_made, self.is_fresh, self.fails = log, name, made, fresh, fails

    async def make(self) -> None:
        if self.fails:
            raise RuntimeError("the catalog went away")
        self.log.append(self.name)
        self.is_made = True

    def remember(self, warmer: PageWarmer) -> None:
        warmer.remember(self.name, self.make, lambda: self.is_made, lambda: self.is_fresh)


def _run(steps: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(steps())


def test_stale_fresh_pages_are_made_the_most_recently_read_first() -> None:
    log: list[str] = []
    warmer = PageWarmer()
    pages = [_Page(log, "a"), _Page(log, "b", made=True), _Page(log, "c", fresh=False),
             _Page(log, "d")]

    async def steps() -> None:
        warmer.yield_to(lambda: (0, 0))
        for page in pages:
            page.remember(warmer)
        _Page(log, "a").remember(warmer)  # read again: now the most recent
        assert await warmer.warm() == 2
        # The one whose documents are due is forgotten: its next read revalidates it.
        pages[2].is_fresh = True
        assert await warmer.warm() == 0

    _run(steps)
    assert log == ["a", "d"]


def test_at_most_capacity_pages_are_remembered_the_oldest_forgotten() -> None:
    log: list[str] = []
    warmer = PageWarmer(capacity=2)

    async def steps() -> None:
        for name in "xyz":
            _Page(log, name).remember(warmer)
        await warmer.warm()

    _run(steps)
    assert log == ["z", "y"]


def test_a_page_that_fails_is_forgotten_and_the_rest_are_made() -> None:
    log: list[str] = []
    warmer = PageWarmer()
    failing = _Page(log, "broken", fails=True)

    async def steps() -> None:
        _Page(log, "a").remember(warmer)
        failing.remember(warmer)
        assert await warmer.warm() == 1
        failing.fails = False
        assert await warmer.warm() == 0

    _run(steps)
    assert log == ["a"]


def test_a_nudge_makes_pages_once_no_file_was_kept_for_the_quiet_moment() -> None:
    log: list[str] = []
    warmer = PageWarmer(quiet=0.2)

    async def steps() -> None:
        _Page(log, "a").remember(warmer)
        warmer.nudge()  # no server: nothing starts
        await asyncio.sleep(0.3)
        assert log == []
        warmer.yield_to(lambda: (0, 0))
        started = time.monotonic()
        for _ in range(3):  # a burst of kept files
            warmer.nudge()
            await asyncio.sleep(0.1)
        while not log:
            await asyncio.sleep(0.01)
        assert time.monotonic() - started >= 0.2 + 0.2  # after the last nudge's quiet moment
        await warmer.close()

    _run(steps)
    assert log == ["a"]


def test_pages_wait_for_requests_under_way_up_to_the_patience() -> None:
    log: list[str] = []
    activity = [1, 1]  # one request begun, under way

    async def steps() -> None:
        warmer = PageWarmer(patience=0.5, poll=0.02)
        warmer.yield_to(lambda: (activity[0], activity[1]))
        _Page(log, "a").remember(warmer)
        _Page(log, "b").remember(warmer)
        making = asyncio.ensure_future(warmer.warm())
        await asyncio.sleep(0.2)
        assert log == []  # the request is still under way
        activity[1] = 0
        assert await asyncio.wait_for(making, 5) == 2
        assert log == ["b", "a"]

        # A server that never rests still gets its pages, after the patience.
        activity[:] = [5, 3]
        _Page(log, "c").remember(warmer)
        started = time.monotonic()
        assert await warmer.warm() == 1
        assert time.monotonic() - started >= 0.4

    _run(steps)


def test_a_file_kept_during_the_pass_stops_it_for_the_next_quiet_moment() -> None:
    log: list[str] = []
    warmer = PageWarmer(quiet=0.05)

    async def steps() -> None:
        warmer.yield_to(lambda: (0, 0))

        class Keeps(_Page):
            async def make(self) -> None:
                await super().make()
                warmer.nudge()  # a file kept meanwhile

        Keeps(log, "a").remember(warmer)
        Keeps(log, "b").remember(warmer)
        assert await warmer.warm() == 1  # "a" was left
        while "a" not in log:  # made by the pass after the nudge's quiet moment
            await asyncio.sleep(0.01)
        await warmer.close()

    _run(steps)
    assert log[:2] == ["b", "a"]
