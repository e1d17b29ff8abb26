"""The wall clock, injectable so tests can move time (token expiry) without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC now, shifted by a fixed offset (zero outside tests)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        # Read on every request answered from memory (a grant's expiry): no sum outside tests.
        offset = self._offset
        return datetime.now(UTC) + offset if offset else datetime.now(UTC)
