"""The least pace a file pulled from an upstream must keep.

A file may take as long as it keeps moving, but "moving" must mean more than a byte now and
then: an upstream sending one byte every few seconds never meets the read timeout, and would
hold one of the concurrency slots for as long as it liked (sixteen such files stop every
pull-through). So the bytes of each ``window`` of a download (judged when the first chunk after
the window's end arrives) must come to ``rate`` bytes a second on average; the first window is
the grace a slow start gets. A window, not the average since the start: a file that started
fast and then trickles is caught within a window too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from packyard.errors import UpstreamError


class Pace:
    """One download's pace: ``received`` after each chunk; UpstreamError once a window's
    bytes fell short. ``rate`` 0 checks nothing."""

    __slots__ = ("_monotonic", "_rate", "_window", "_window_bytes", "_window_end", "what")

    def __init__(self, rate: int, window: float, what: str,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._window = window
        self._monotonic = monotonic
        self._window_end = monotonic() + window
        self._window_bytes = 0  # received when the window began
        self.what = what

    def waited(self, seconds: float) -> None:
        """Packyard itself held the download up for ``seconds`` (its writes to a slow disk):
        the window is that much longer, so only the upstream's own pace is judged."""
        self._window_end += seconds

    def received(self, total: int) -> None:
        """``total`` bytes received so far."""
        if not self._rate:
            return
        now = self._monotonic()
        if now < self._window_end:
            return
        elapsed = now - (self._window_end - self._window)
        sent = total - self._window_bytes
        if sent < self._rate * elapsed:
            raise UpstreamError(
                f"Upstream sent {self.what} at {sent / elapsed:.0f} bytes a second over the "
                f"last {elapsed:.3g}s, less than the {self._rate} a file must keep up "
                "(PACKYARD_UPSTREAM_MIN_FILE_BYTES_PER_SECOND); given up")
        self._window_end = now + self._window
        self._window_bytes = total
