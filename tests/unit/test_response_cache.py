"""The response cache drops entries when their repository changes or they grow old."""

from __future__ import annotations

import time

from packyard.metadata.changes import ChangeLog
from packyard.services.response_cache import ResponseCache


def test_hit_until_the_metadata_changes() -> None:
    changes = ChangeLog()
    cache: ResponseCache[str] = ResponseCache(changes)
    stamp = cache.stamp()
    cache.put(1, "page", stamp, "v1")
    assert cache.get(1, "page") == "v1"
    assert cache.get(2, "page") is None  # entries are per repository
    changes.touch()
    assert cache.get(1, "page") is None


def test_a_change_while_computing_is_not_cached_as_current() -> None:
    changes = ChangeLog()
    cache: ResponseCache[str] = ResponseCache(changes)
    stamp = cache.stamp()
    changes.touch()  # a publish lands while the page is being built
    cache.put(1, "page", stamp, "stale")
    assert cache.get(1, "page") is None


def test_entries_expire() -> None:
    changes = ChangeLog()
    cache: ResponseCache[str] = ResponseCache(changes, ttl_seconds=0.01)
    cache.put(1, "page", cache.stamp(), "v1")
    time.sleep(0.02)
    assert cache.get(1, "page") is None


def test_lru_bound() -> None:
    cache: ResponseCache[int] = ResponseCache(ChangeLog(), max_entries=2)
    for i in range(3):
        cache.put(1, i, 0, i)
    assert cache.get(1, 0) is None
    assert cache.get(1, 1) == 1 and cache.get(1, 2) == 2
