"""The wall clock, injectable so tests can move time (token expiry) without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC now, shifted by a fixed offset (zero outside tests)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset
