"""A moment when the server serves nothing: when background work (digests left for later,
pages made again) may take the cores without slowing a request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

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
