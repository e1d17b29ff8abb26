"""``PageQueue``: packages added while a render runs are rendered together next, a failed
render does not stop the thread, ``flush`` waits for everything added, and ``close`` for the
render under way."""

from __future__ import annotations

import logging
import threading

import pytest

from packyard.metadata.engine import DatabaseUnavailable
from packyard.metadata.rendered_pages import PageQueue


def test_what_piles_up_during_a_render_is_rendered_in_one_batch() -> None:
    started, release = threading.Event(), threading.Event()
    batches: list[set[int]] = []

    def render(ids: set[int]) -> None:
        batches.append(set(ids))
        started.set()
        release.wait(10)

    queue = PageQueue(render)
    queue.add([1])
    assert started.wait(10)
    for package_id in (2, 3, 2, 4):  # four writes to three packages while 1 renders
        queue.add([package_id])
    assert queue.flush(0.05) is False  # still rendering
    release.set()
    assert queue.flush(10)
    assert batches == [{1}, {2, 3, 4}]


def test_a_failed_render_leaves_the_thread_rendering_the_next() -> None:
    rendered: list[set[int]] = []

    def render(ids: set[int]) -> None:
        if 1 in ids:
            raise RuntimeError("database gone")
        rendered.append(ids)

    queue = PageQueue(render)
    queue.add([1])
    assert queue.flush(10)
    queue.add([2])
    assert queue.flush(10)
    assert rendered == [{2}]
    queue.close()
    queue.add([3])
    assert queue.flush(1) and rendered == [{2}]


def test_regression_close_returned_while_a_render_still_held_its_connection() -> None:
    # The catalog's dispose closes the queue, then its engines: a render still running kept
    # its connection out of the pool, so the database's WAL was folded in only later (a test
    # that moved packyard.db right after dispose found no tables, now and then).
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def render(ids: set[int]) -> None:
        started.set()
        release.wait(10)
        finished.append(True)

    queue = PageQueue(render)
    queue.add([1])
    assert started.wait(10)
    threading.Timer(0.1, release.set).start()
    queue.close()
    assert finished == [True]
    queue.add([2])  # closed: nothing more is rendered
    assert queue.flush(1) and finished == [True]


def test_regression_a_render_during_a_database_restart_logs_one_line_not_tracebacks(
        caplog: pytest.LogCaptureFixture) -> None:
    # Was: each process logged three chained tracebacks (AdminShutdown, OperationalError,
    # DatabaseUnavailable) at every PostgreSQL restart under writes, for a render the next
    # read does anyway.
    def render(ids: set[int]) -> None:
        raise DatabaseUnavailable("The metadata database is unavailable right now; try again "
                                  "shortly")

    queue = PageQueue(render)
    with caplog.at_level(logging.WARNING, logger="packyard.metadata"):
        queue.add([1])
        assert queue.flush(10)
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [(
        "rendering the pages of 1 package(s) waits for their next read: The metadata database "
        "is unavailable right now; try again shortly", None)]
