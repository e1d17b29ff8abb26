"""The injectable wall clock (``packyard/clock.py``): tests move it to expire tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from packyard.clock import Clock


def test_an_offset_moves_now() -> None:
    before = datetime.now(UTC)
    shifted = Clock(offset_seconds=3600).now()
    assert shifted - before >= timedelta(seconds=3600)
    assert shifted - before < timedelta(seconds=3660)


def test_without_an_offset_now_is_utc_now() -> None:
    before = datetime.now(UTC)
    now = Clock().now()
    assert now.tzinfo is UTC
    assert timedelta(0) <= now - before < timedelta(seconds=60)
