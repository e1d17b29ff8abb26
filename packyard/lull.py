"""A moment when the server serves nothing: when background work (digests left for later,
pages made again) may take the cores without slowing a request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

log = logging.getLogger("packyard")

Activity = Callable[[], tuple[int, int]]
"""(requests begun, requests under way) in this process (``server/traffic.py``)."""


class Lull:
    """Waits, between two pieces of background work, for no request to be under way.

    Each user has its own: "since the last look" is its own last look."""

    def __init__(self, activity: Activity | None = None, *, poll: float = 0.05) -> None:
        self.activity = activity
        self._poll = poll
        self._seen: tuple[int, int] | None = None  # the activity at the last look

    async def wait(self, until: float) -> None:
        """At once when no request has begun since the last look and none is under way (or
        when there is no server to give way to); otherwise once that has held for a poll
        interval, or at ``until`` (``time.monotonic``)."""
        activity = self.activity
        if activity is None:
            return
        now = activity()
        while not (now == self._seen and now[1] == 0) and time.monotonic() < until:
            self._seen = now
            await asyncio.sleep(self._poll)
            now = activity()
        self._seen = now


class AfterQuiet:
    """Runs ``work`` on the event loop once ``nudge`` has not been called for ``quiet``
    seconds (a burst of writes is over), or ``patience`` seconds after the first nudge not yet
    worked on, whichever comes first; a nudge during the work runs it again afterwards. A pass
    that fails is logged as ``what`` and left for the next nudge (what it would have done is
    background work a later pass or read does): an error of ``outages`` (a backend down) in one
    warning line, any other with its traceback."""

    def __init__(self, work: Callable[[], Awaitable[object]], what: str, *, quiet: float,
                 patience: float | None = None, logger: logging.Logger = log,
                 outages: tuple[type[Exception], ...] = ()) -> None:
        self._work = work
        self._outages = outages
        self._what = what
        self._log = logger
        self._quiet = quiet
        self._patience = patience
        self._task: asyncio.Task[None] | None = None
        self._nudged_at: float | None = None  # the last nudge not yet worked on
        self._first_nudge: float | None = None

    @property
    def nudged(self) -> bool:
        """Whether a nudge came since the work began (what it does may be stale again)."""
        return self._nudged_at is not None

    def nudge(self) -> None:
        """Called on the event loop."""
        now = time.monotonic()
        self._nudged_at = now
        if self._first_nudge is None:
            self._first_nudge = now
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop (the server is stopping): the work under way is cancelled."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self._nudged_at is not None and self._first_nudge is not None:
            due = self._nudged_at + self._quiet
            if self._patience is not None:
                due = min(due, self._first_nudge + self._patience)
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._nudged_at = self._first_nudge = None
            try:
                await self._work()
            except self._outages as e:
                # The database or the store restarting (``outages``: the callers' Unavailable):
                # one line, not an ERROR with its chained tracebacks; retried on the next nudge.
                self._log.warning("%s waits for the next pass: %s", self._what, e)
            except Exception:  # noqa: BLE001 - retried on the next nudge
                self._log.exception("%s", self._what)
