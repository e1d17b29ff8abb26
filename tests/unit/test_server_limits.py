"""The deadline rules of server_limits: what counts as progress, and when a phase is overdue."""

from __future__ import annotations

import pytest

from packyard.server.limits import BODY, HEAD, IDLE, ConnectionLimits, ConnectionWatch
from packyard.settings import load_settings

LIMITS = ConnectionLimits(header_timeout=30, body_timeout=60, max_connections=10)


def _watch(phase: int) -> ConnectionWatch:
    watch = ConnectionWatch()
    watch.phase = phase
    return watch


def test_the_head_deadline_is_a_total_from_when_the_sweep_first_sees_the_request() -> None:
    watch = _watch(HEAD)
    assert watch.overdue(100.0, LIMITS, False) is None  # first sight: the clock starts
    assert watch.overdue(129.9, LIMITS, False) is None
    assert watch.overdue(130.0, LIMITS, False) == HEAD


def test_a_body_deadline_counts_from_the_last_piece_of_body() -> None:
    watch = _watch(BODY)
    assert watch.overdue(0.0, LIMITS, False) is None
    for now in (50.0, 100.0, 150.0):  # a piece every 50 s keeps it alive
        watch.progress += 1
        assert watch.overdue(now, LIMITS, False) is None
    assert watch.overdue(209.0, LIMITS, False) is None
    assert watch.overdue(210.0, LIMITS, False) == BODY


def test_time_the_server_itself_does_not_read_does_not_count() -> None:
    watch = _watch(BODY)
    watch.overdue(0.0, LIMITS, False)
    assert watch.overdue(100.0, LIMITS, True) is None  # paused by us: the clock restarts
    assert watch.overdue(159.0, LIMITS, False) is None
    assert watch.overdue(160.0, LIMITS, False) == BODY


def test_an_idle_connection_has_no_deadline_here() -> None:
    # Between requests uvicorn's keep-alive timeout applies; while the app works, none.
    watch = _watch(IDLE)
    assert watch.overdue(0.0, LIMITS, False) is None
    assert watch.overdue(10_000.0, LIMITS, False) is None


def test_the_sweep_runs_often_enough_for_short_deadlines() -> None:
    assert LIMITS.sweep_interval == 1.0
    assert ConnectionLimits(header_timeout=1, body_timeout=2).sweep_interval == 0.25


@pytest.mark.parametrize("name", ["HEADER_TIMEOUT_SECONDS", "BODY_TIMEOUT_SECONDS",
                                  "MAX_CONNECTIONS"])
def test_limits_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError, match=f"PACKYARD_{name} must be more than 0"):
        load_settings(environ={f"PACKYARD_{name}": "0"})


def test_settings_defaults() -> None:
    settings = load_settings(environ={})
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds,
            settings.max_connections) == (30.0, 60.0, 1000)
    assert ConnectionLimits().max_head_bytes == 65536


def test_regression_the_head_cap_counts_only_an_incomplete_head() -> None:
    limits = ConnectionLimits(max_head_bytes=100)
    watch = _watch(HEAD)
    assert not watch.head_too_large(60, limits)
    assert not watch.head_too_large(40, limits)  # exactly the cap
    assert watch.head_too_large(1, limits)
    watch.phase = BODY  # the head completed with these bytes: the count starts again
    assert not watch.head_too_large(10_000, limits)
    watch.phase = HEAD
    assert not watch.head_too_large(100, limits)


def test_regression_bytes_of_a_request_that_began_in_the_read_are_not_all_counted_as_head(
) -> None:
    # A read that ends a large body (or holds pipelined requests) and begins the next head: only
    # the tail is head, so the read is not counted (a 256 KiB read would have refused the next
    # request with 431); the next reads of that head are.
    limits = ConnectionLimits(max_head_bytes=100)
    watch = _watch(HEAD)
    progress = watch.progress
    watch.progress += 1  # a request began (or a body moved) while these bytes were parsed
    assert not watch.head_too_large(256 * 1024, limits, progress)
    assert watch.head_bytes == 0
    assert not watch.head_too_large(100, limits, watch.progress)
    assert watch.head_too_large(1, limits, watch.progress)  # a long head is still caught
