"""``GroupFlush``: writers at the same moment share a flush, and each returns only after a
flush that started after it asked (its writes are in it)."""

from __future__ import annotations

import threading
import time

import pytest

from packyard.storage.group_flush import GroupFlush


class SlowDisk:
    """A flush that blocks until released, and records what had been written when it began."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.flushed: list[list[int]] = []  # per flush: the writes it covers
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_next = False

    def flush(self) -> None:
        covered = list(self.written)
        self.started.set()
        self.release.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk gone")
        self.flushed.append(covered)


def _wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_writers_arriving_during_a_flush_share_the_next_one_and_are_covered_by_it() -> None:
    disk = SlowDisk()
    group = GroupFlush(disk.flush)
    covered: dict[int, list[int]] = {}

    def writer(number: int) -> None:
        disk.written.append(number)
        group.flush()
        covered[number] = next(c for c in disk.flushed if number in c)

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    _wait_for(disk.started.is_set)  # flush 1 runs, and covers writer 0 only
    others = [threading.Thread(target=writer, args=(n,)) for n in range(1, 9)]
    for thread in others:
        thread.start()
    # All eight wait on the group's condition (CPython's Condition keeps its waiters there).
    _wait_for(lambda: len(group._cond._waiters) == 8)  # type: ignore[attr-defined]
    disk.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert group.flushes == 2
    assert disk.flushed[0] == [0]
    assert sorted(covered) == list(range(9))  # every writer returned, after a covering flush


def test_a_lone_writer_runs_its_own_flush() -> None:
    disk = SlowDisk()
    disk.release.set()
    group = GroupFlush(disk.flush)
    for _ in range(3):
        group.flush()
    assert group.flushes == 3


def test_a_failed_flush_fails_the_writers_it_was_for_and_the_next_one_runs_again() -> None:
    disk = SlowDisk()
    disk.fail_next = True
    disk.release.set()
    group = GroupFlush(disk.flush)
    with pytest.raises(OSError, match="flushing the blob store failed: disk gone"):
        group.flush()
    group.flush()  # the disk is back
    assert group.flushes == 2
