"""The response cache drops entries when their repository changes or they grow old."""

from __future__ import annotations

import time

from packyard.metadata.changes import ChangeLog
from packyard.services.response_cache import ResponseCache


def test_hit_until_the_repository_changes() -> None:
    changes = ChangeLog()
    cache: ResponseCache[str] = ResponseCache(changes)
    stamp = cache.stamp(1)
    cache.put(1, "page", stamp, "v1")
    assert cache.get(1, "page") == "v1"
    changes.touch(2)  # another repository: no effect
    assert cache.get(1, "page") == "v1"
    changes.touch(1)
    assert cache.get(1, "page") is None


def test_a_change_while_computing_is_not_cached_as_current() -> None:
    changes = ChangeLog()
    cache: ResponseCache[str] = ResponseCache(changes)
    stamp = cache.stamp(1)
    changes.touch(1)  # a publish lands while the page is being built
    cache.put(1, "page", stamp, "stale")
    assert cache.get(1, "page") is None


def test_entries_expire() -> None:
    changes = ChangeLog()
    cache: ResponseCache[str] = ResponseCache(changes, ttl_seconds=0.01)
    cache.put(1, "page", cache.stamp(1), "v1")
    time.sleep(0.02)
    assert cache.get(1, "page") is None


def test_lru_bound() -> None:
    cache: ResponseCache[int] = ResponseCache(ChangeLog(), max_entries=2)
    for i in range(3):
        cache.put(1, i, 0, i)
    assert cache.get(1, 0) is None
    assert cache.get(1, 1) == 1 and cache.get(1, 2) == 2
