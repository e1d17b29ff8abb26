"""What the server served, as plain counters: read by ``/metrics``, written on every request.

Counting must cost next to nothing on the paths it measures, so nothing here takes a lock or
looks up a label: the requests that go through Starlette are counted by ``server/observe.py`` on
the event loop's thread (one thread, so plain ``+=`` loses nothing), in dictionaries keyed by a
tuple the request already has; the server's fast lane (``server/protocol.py``) bumps two
integer attributes per answer. ``server/metrics.py`` turns these into Prometheus' families when
scraped.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Latency buckets (seconds): from a cached answer to a large upload.
BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                              2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Latency:
    """One histogram: counts per bucket (not cumulative; the last one is +Inf) and the sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


@dataclass
class Traffic:
    """Counts of one server process."""

    # (surface, route, status) -> requests
    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    # (surface, route) -> latency
    latency: dict[tuple[str, str], Latency] = field(default_factory=dict)
    # surface -> bytes
    bytes_in: dict[str, int] = field(default_factory=dict)
    bytes_out: dict[str, int] = field(default_factory=dict)
    # (format, outcome) -> uploads; outcome: created, identical, or the refusal's error code
    uploads: dict[tuple[str, str], int] = field(default_factory=dict)
    # Answers the server's fast lane wrote straight from its protocol, and their bytes.
    fast_lane_answers: int = 0
    fast_lane_bytes: int = 0
    # Answers from memory that took the ASGI way (no fast lane: plain uvicorn, tests).
    hot_answers: int = 0
    hot_bytes: int = 0
    # Requests the audit trail could not record (answered 500).
    audit_failures: int = 0
    # Requests begun (their heads read, by the server's protocol, whichever way they are
    # answered) and those answered the ASGI way not finished yet: how background work tells
    # the server is busy (``activity``).
    begun: int = 0
    in_flight: int = 0

    def activity(self) -> tuple[int, int]:
        """(requests begun, requests under way): while both stay put and none is under way,
        nothing is being served (``LaterDigests.yield_to``)."""
        return self.begun, self.in_flight

    def count(self, surface: str, route: str, status: int, seconds: float, bytes_in: int,
              bytes_out: int) -> None:
        key = (surface, route, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        timed = self.latency.get((surface, route))
        if timed is None:
            timed = self.latency[(surface, route)] = Latency()
        timed.observe(seconds)
        self.bytes_in[surface] = self.bytes_in.get(surface, 0) + bytes_in
        self.bytes_out[surface] = self.bytes_out.get(surface, 0) + bytes_out

    def count_upload(self, fmt: str, outcome: str) -> None:
        key = (fmt, outcome)
        self.uploads[key] = self.uploads.get(key, 0) + 1
