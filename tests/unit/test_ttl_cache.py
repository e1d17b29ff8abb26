"""The one cache (``packyard/ttl_cache.py``): expiry per entry, LRU bound, version binding."""

from __future__ import annotations

import threading

import pytest

from packyard.ttl_cache import TtlCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_ttl_seconds_after_it_was_stored() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(ttl_seconds=2.0, max_entries=10, monotonic=clock)
    cache.put("a", 1)
    clock.now += 1.0
    cache.put("b", 2)
    clock.now += 1.5  # a is 2.5 s old, b 1.5 s
    assert cache.get("a") is None
    assert cache.get("b") == 2


def test_a_hit_does_not_extend_an_entrys_life() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(ttl_seconds=2.0, max_entries=10, monotonic=clock)
    cache.put("a", 1)
    clock.now += 1.9
    assert cache.get("a") == 1
    clock.now += 0.2
    assert cache.get("a") is None


def test_a_per_entry_ttl_overrides_the_default() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(ttl_seconds=2.0, max_entries=10, monotonic=clock)
    cache.put("short", 1, ttl_seconds=0.5)
    cache.put("long", 2)
    clock.now += 1.0
    assert cache.get("short") is None
    assert cache.get("long") == 2


def test_when_full_the_least_recently_used_entry_goes_not_everything() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl_seconds=60, max_entries=3)
    for i, key in enumerate("abc"):
        cache.put(key, i)
    assert cache.get("a") == 0  # a is now the most recently used
    cache.put("d", 3)
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [0, 2, 3]
    assert len(cache) == 3


def test_none_can_be_cached_and_told_apart_from_a_miss() -> None:
    cache: TtlCache[str, int | None] = TtlCache(ttl_seconds=60, max_entries=3)
    assert cache.lookup("unknown") is None
    cache.put("unknown", None)
    assert cache.lookup("unknown") == (None,)


def test_an_entry_bound_to_a_version_dies_when_the_source_moves_on() -> None:
    source = [1]
    cache: TtlCache[str, str] = TtlCache(ttl_seconds=60, max_entries=10,
                                         version=lambda: source[0])
    version = cache.version()
    cache.put("page", "rendered", version=version)
    cache.put("unbound", "kept")
    assert cache.get("page") == "rendered"
    source[0] = 2
    assert cache.get("page") is None
    assert cache.get("unbound") == "kept"


def test_an_entry_bound_to_a_version_is_not_served_by_a_cache_without_a_source() -> None:
    # get() calls the source itself (not through version()): a cache with no source has no
    # version to match, so a value put with one is never served.
    cache: TtlCache[str, str] = TtlCache(ttl_seconds=60, max_entries=10)
    cache.put("grant", "read", version=1)
    assert cache.get("grant") is None


def test_a_value_computed_across_a_change_is_never_served() -> None:
    source = [1]
    cache: TtlCache[str, str] = TtlCache(ttl_seconds=60, max_entries=10,
                                         version=lambda: source[0])
    version = cache.version()  # read before computing
    source[0] = 2  # a write lands while the value is computed
    cache.put("page", "stale", version=version)
    assert cache.get("page") is None


def test_get_or_load_loads_once_then_serves_from_memory() -> None:
    calls: list[str] = []
    cache: TtlCache[str, str] = TtlCache(ttl_seconds=60, max_entries=10)

    def load() -> str:
        calls.append("x")
        return "value"

    assert cache.get_or_load("k", load) == "value"
    assert cache.get_or_load("k", load) == "value"
    assert calls == ["x"]
    assert (cache.hits, cache.misses) == (1, 1)


def test_discard_and_clear() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl_seconds=60, max_entries=10)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.discard("a")
    assert cache.get("a") is None and cache.get("b") == 2
    cache.clear()
    assert len(cache) == 0


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TtlCache(ttl_seconds=1, max_entries=0)


def test_threads_share_one_consistent_cache() -> None:
    cache: TtlCache[int, int] = TtlCache(ttl_seconds=60, max_entries=50)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put((i + offset) % 200, i)
            cache.get(i % 200)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50


def test_holds_says_whether_a_read_would_find_the_entry_without_counting_one() -> None:
    now = [0.0]
    version = [1]
    cache: TtlCache[str, int] = TtlCache(ttl_seconds=10, max_entries=2,
                                         version=lambda: version[0], monotonic=lambda: now[0])
    cache.put("a", 1, version=1)
    cache.put("b", 2, version=1)
    assert cache.holds("a") and not cache.holds("c")
    assert (cache.hits, cache.misses) == (0, 0)
    cache.put("c", 3, version=1)  # "a" was not moved by holds: it is the one evicted
    assert not cache.holds("a") and cache.holds("b")
    version[0] = 2
    assert not cache.holds("b")  # the source changed
    cache.put("d", 4, version=2)
    now[0] = 11
    assert not cache.holds("d")  # expired
    assert (cache.hits, cache.misses) == (0, 0)


def test_entries_go_when_their_weights_add_up_to_more_than_the_limit() -> None:
    cache: TtlCache[str, bytes] = TtlCache(ttl_seconds=60, max_entries=100, weigh=len,
                                           max_weight=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.weight == 8
    cache.get("a")  # a is now the most recently used
    cache.put("c", b"1234")
    assert (cache.get("b"), cache.get("a"), cache.get("c")) == (None, b"1234", b"1234")
    assert cache.weight == 8
    cache.put("a", b"1")  # replaced: its old weight goes
    assert cache.weight == 5
    cache.put("big", b"x" * 50)  # heavier than the limit alone: kept, everything else goes
    assert (len(cache), cache.weight, cache.get("big")) == (1, 50, b"x" * 50)
    cache.discard("big")
    assert (len(cache), cache.weight) == (0, 0)
