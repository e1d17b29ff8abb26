"""Pages of repositories with upstreams made again after pulled files were kept, before anyone
asks for them.

A repository without upstreams has its pages rendered by the write that changes them
(``formats/pypi/stored_pages.py``). One with upstreams merges them on read, and the merge is
kept only until the catalog's next write: a cold install keeps a file of every package it
pulls, so each page it read is stale by the time the next install reads it, and that install's
first read of each page plans and merges again (the bench's fetch of 61 projects: 0.26 s the
first time after a cold one, 0.12 s once its pages had been read again; bench/UPSTREAM.md
round 13). Here the pages read recently are made again once no pulled file has been kept for
``quiet`` seconds, one at a time while no request is being served, through the same
once-for-all render a read uses, so the next read finds them made. Only a page whose upstream
documents are still fresh: making one again never asks an upstream for anything, and a page
made again lives no longer than a read would have kept it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from packyard.errors import Unavailable
from packyard.lull import Activity, AfterQuiet, Lull

log = logging.getLogger("packyard")

# Pages remembered, the most recently read kept: what an install or two reads, not a mirror's
# every page.
CAPACITY = 1024


@dataclass(frozen=True, slots=True)
class _Page:
    make: Callable[[], Awaitable[object]]  # the read's own render, kept where a read finds it
    made: Callable[[], bool]  # whether a read would find it made now
    fresh: Callable[[], bool]  # whether its upstream documents would be used as they are


class PageWarmer:
    """Remembers the pages read (``remember``); ``nudge`` when a pulled file was kept."""

    def __init__(self, *, quiet: float = 1.0, patience: float = 10.0,
                 capacity: int = CAPACITY, poll: float = 0.05) -> None:
        self._patience = patience
        self._capacity = capacity
        self._pages: OrderedDict[Hashable, _Page] = OrderedDict()
        self._lull = Lull(poll=poll)
        self._serving = False
        # A failed pass leaves its pages to their next read, as without this.
        self._soon = AfterQuiet(self.warm, "making pages again", quiet=quiet, logger=log,
                                outages=(Unavailable,))
        self.made = 0  # pages made again (tests, /metrics)

    def yield_to(self, activity: Activity) -> None:
        """Start making pages again, giving way to the requests ``activity`` counts (the
        server's, set at its start). Until then nothing is made: without a server nobody
        reads the pages again."""
        self._lull.activity = activity
        self._serving = True

    def remember(self, key: Hashable, make: Callable[[], Awaitable[object]],
                 made: Callable[[], bool], fresh: Callable[[], bool]) -> None:
        """A page just read and made: ``make`` makes it again where reads find it."""
        self._pages[key] = _Page(make, made, fresh)
        self._pages.move_to_end(key)
        while len(self._pages) > self._capacity:
            self._pages.popitem(last=False)

    def nudge(self) -> None:
        """A pulled file was kept (on the event loop): remembered pages may be stale."""
        if self._serving and self._pages:
            self._soon.nudge()

    async def close(self) -> None:
        await self._soon.close()

    async def warm(self) -> int:
        """Make again every remembered page that is not made and is fresh, the most recently
        read first; returns how many. Stops early when a file is kept meanwhile (its pages
        would be stale again): the next quiet moment starts over."""
        done = 0
        until = time.monotonic() + self._patience
        for key, page in reversed(list(self._pages.items())):
            if self._soon.nudged:
                break
            if page.made():
                continue
            if not page.fresh():
                self._pages.pop(key, None)  # a read asks its upstreams again first
                continue
            await self._lull.wait(until)
            try:
                await page.make()
            except Exception as error:  # noqa: BLE001 - a read will make it (or say why)
                log.debug("page %r not made again: %s", key, error)
                self._pages.pop(key, None)
                continue
            done += 1
        self.made += done
        return done
