"""Rendered responses kept in memory, keyed per repository, dropped on any metadata change.

Index pages are requested far more often than they change (pip asks for a page on every
install and revalidates it every time), so a hit here answers without a thread hop or a query.
A change made by this process or by any other on the same data directory moves the
``ChangeLog`` at once; one made by a replica on the same PostgreSQL moves it when announced
(``metadata/change_feed.py``). So an entry is good until then, and its TTL is only the
backstop for a change nobody announced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from packyard.metadata.changes import ChangeLog
from packyard.ttl_cache import TtlCache

V = TypeVar("V")


class ResponseCache(Generic[V]):
    """An LRU of values per (repository id, key), valid while the metadata is unchanged.

    Any write invalidates everything: writes are rare next to reads, and a page of a repository
    depends on its upstreams' contents and origin controls too, so finer stamps would be wrong
    more easily than they would be faster.
    """

    def __init__(self, changes: ChangeLog, *, ttl_seconds: float = 2.0,
                 max_entries: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic,
                 weigh: Callable[[V], int] | None = None, max_weight: int = 0) -> None:
        """``weigh``/``max_weight`` bound the entries by what they hold as well as by their
        number (``TtlCache``): an npm packument's page is megabytes, a PyPI page kilobytes."""
        self._items: TtlCache[tuple[int, Hashable], V] = TtlCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries, version=changes.stamp,
            monotonic=monotonic, weigh=weigh, max_weight=max_weight)

    def get(self, repository_id: int, key: Hashable) -> V | None:
        return self._items.get((repository_id, key))

    def holds(self, repository_id: int, key: Hashable) -> bool:
        """Whether a read would find the entry, without counting one."""
        return self._items.holds((repository_id, key))

    @property
    def cache(self) -> TtlCache[Any, V]:
        """The entries, for ``/metrics`` (size, hits, misses)."""
        return self._items

    def stamp(self) -> int:
        """Read before computing a value, and pass to ``put``, so a change in between is seen."""
        stamp = self._items.version()
        assert stamp is not None
        return stamp

    def put(self, repository_id: int, key: Hashable, stamp: int, value: V, *,
            ttl_seconds: float | None = None) -> None:
        """Remember ``value`` while the catalog stays at ``stamp``, for at most the cache's
        TTL or ``ttl_seconds``."""
        self._items.put((repository_id, key), value, version=stamp, ttl_seconds=ttl_seconds)
