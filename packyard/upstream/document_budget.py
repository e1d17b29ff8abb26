"""A byte budget shared by the upstream documents read whole and parsed at once.

A project page or a packument is read into memory whole (up to ``MAX_PAGE_BYTES``) and parsed
there: sixteen upstream slots reading 64 MiB pages held a gigabyte at once (the trial that
found it took a server from 300 MB to 1 GB, kept by the allocator afterwards). Each document
read holds a ``Lease`` on the budget, raised as its declared length or its bytes so far grow,
and given back once it is parsed; a document whose next bytes would take more than is left
waits, at most ``wait`` seconds, then fails with "Upstream busy" as a request that found no
upstream slot does (a cached copy is served instead where there is one).

Documents already being read go first: a new document is let in only while no document
that holds part of the budget waits to grow (letting new ones in would starve those half
read). When every document holding part of the budget waits and none of them fits, none of
them can ever go on (only a document being read gives bytes back): the youngest of them
fails at once, and its bytes go to the others.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from packyard.errors import UpstreamError

STEP = 1024 * 1024  # a lease grows a MiB at a time: a few grows per document, not one a chunk


class Lease:
    """One document's share of a ``DocumentBudget``; ``grow`` before holding more bytes."""

    def __init__(self, budget: DocumentBudget, what: str, order: int) -> None:
        self._budget = budget
        self.what = what  # the document's URL, for the messages
        self.order = order  # younger leases have larger numbers
        self.held = 0

    async def grow(self, total: int) -> None:
        """Hold at least ``total`` bytes: at once when the budget has them, else after
        waiting for them; UpstreamError when they cannot be had."""
        if total > self.held:
            await self._budget._grow(self, total)


@dataclass(eq=False)
class _Waiter:
    lease: Lease
    total: int
    future: asyncio.Future[None]
    granted: bool = field(default=False)


class DocumentBudget:
    """At most ``limit`` bytes of upstream documents held at once by this process."""

    def __init__(self, limit: int, wait: float) -> None:
        self.limit = limit
        self.wait = wait
        self.used = 0
        self.peak = 0  # the most ever held at once (tests, metrics)
        self._holders: set[Lease] = set()
        self._queue: list[_Waiter] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def lease(self, what: str) -> AsyncIterator[Lease]:
        """A lease held for the block: what it grew to is given back at the end."""
        lease = Lease(self, what, next(self._order))
        try:
            yield lease
        finally:
            self._free(lease)
            self._settle()

    async def _grow(self, lease: Lease, total: int) -> None:
        if total > self.limit:
            raise UpstreamError(f"Upstream {lease.what} sent a document larger than the "
                                f"{self.limit} bytes upstream documents may hold at once "
                                "(PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES)")
        total = min(-(-total // STEP) * STEP, self.limit)
        waiter = _Waiter(lease, total, asyncio.get_running_loop().create_future())
        self._queue.append(waiter)
        self._settle()
        if waiter.granted:
            return
        try:
            async with asyncio.timeout(self.wait):
                await waiter.future
        except TimeoutError:
            if waiter.granted:  # granted as the time ran out
                return
            self._drop(waiter)
            raise UpstreamError(
                f"Upstream busy: documents being read hold {self.used} of the {self.limit} "
                "bytes they may hold at once (PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES) and "
                f"none gave any back within {self.wait:g}s; not reading {lease.what}") from None
        except BaseException:
            if not waiter.granted:
                self._drop(waiter)
            raise

    def _drop(self, waiter: _Waiter) -> None:
        if waiter in self._queue:
            self._queue.remove(waiter)
            self._settle()  # a grower gone may let newcomers in

    def _free(self, lease: Lease) -> None:
        self.used -= lease.held
        lease.held = 0
        self._holders.discard(lease)

    def _settle(self) -> None:
        """Grant what fits, growers first; break a standstill of growers."""
        while True:
            self._queue = [w for w in self._queue if not w.future.done()]
            growers = [w for w in self._queue if w.lease.held > 0]
            line = growers or self._queue
            fitting = next((w for w in line
                            if self.used + w.total - w.lease.held <= self.limit), None)
            if fitting is not None:
                self._queue.remove(fitting)
                self.used += fitting.total - fitting.lease.held
                self.peak = max(self.peak, self.used)
                fitting.lease.held = fitting.total
                self._holders.add(fitting.lease)
                fitting.granted = True
                fitting.future.set_result(None)
                continue
            waiting = {w.lease for w in growers}
            if not growers or not self._holders <= waiting:
                return  # a document being read will give bytes back
            victim = max(growers, key=lambda w: w.lease.order)
            self._queue.remove(victim)
            held = victim.lease.held
            self._free(victim.lease)
            victim.future.set_exception(UpstreamError(
                f"Upstream busy: {victim.lease.what} had {held} bytes read when every "
                f"document being read was waiting for more of the {self.limit} bytes they "
                "may hold at once (PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES); given up so "
                "that the others can go on"))
