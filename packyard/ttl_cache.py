"""One in-memory cache for every place that remembers a lookup for a short while.

Token checks, principals, compiled policies, domain and repository rows, read grants, upstream
graphs and rendered pages are all looked up far more often than they change. Each is kept here
for a bounded time, in a bounded number of entries, the least recently used going first when
full (a cache that is cleared whole when full drops its hottest entries with its coldest).

An entry can also be bound to a *version* of what it was computed from (the catalog's change
counter, the IAM store's generation): read ``version()`` before computing, pass it to ``put``,
and the entry is dropped as soon as the source moves on, so a change made in this process is
seen at once and the TTL only bounds what other processes change.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: float
    version: int | None
    weight: int = 0


class TtlCache(Generic[K, V]):
    """A thread-safe LRU map whose entries expire ``ttl_seconds`` after they were stored."""

    def __init__(self, *, ttl_seconds: float, max_entries: int,
                 version: Callable[[], int] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 weigh: Callable[[V], int] | None = None, max_weight: int = 0) -> None:
        """``weigh`` and ``max_weight``: entries also go, least recently used first, while
        their weights add up to more than ``max_weight`` (what they hold varies a lot: one
        npm packument's listing against a small project's), the newest always kept."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._weigh = weigh
        self._max_weight = max_weight
        self._weight = 0
        self._source_version = version
        self._monotonic = monotonic
        self._items: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def version(self) -> int | None:
        """The source's version now: read it before computing a value for ``put``."""
        return self._source_version() if self._source_version is not None else None

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None (use ``lookup`` when None is a value)."""
        # On every hot-path request (read grants, pages, files), so without the lock: each
        # OrderedDict operation is atomic under the GIL, and a hit only moves its entry to the
        # end (an entry dropped by another thread in between is simply not moved); writes,
        # expiry and eviction take the lock.
        entry = self._items.get(key)
        source = self._source_version  # called here, not through version(): one call less
        if entry is not None and entry.expires_at > self._monotonic() and (
                entry.version is None or (source is not None and entry.version == source())):
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on this path
                self._items.move_to_end(key)
            except KeyError:
                pass
            self.hits += 1
            return entry.value
        found = self.lookup(key)  # a miss: counted, and a stale entry dropped, under the lock
        return found[0] if found is not None else None

    def lookup(self, key: K) -> tuple[V] | None:
        """``(value,)`` when ``key`` has a live entry, else None."""
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                if entry.expires_at > self._monotonic() and (
                        entry.version is None or entry.version == self.version()):
                    self._items.move_to_end(key)
                    self.hits += 1
                    return (entry.value,)
                del self._items[key]
                self._weight -= entry.weight
            self.misses += 1
            return None

    def holds(self, key: K) -> bool:
        """Whether ``key`` has a live entry, without counting a hit or a miss or touching its
        place (background work asking, not a read)."""
        entry = self._items.get(key)
        return entry is not None and entry.expires_at > self._monotonic() and (
            entry.version is None or entry.version == self.version())

    def now(self) -> float:
        """This cache's clock: pass a reading taken before a load to ``put(since=...)``."""
        return self._monotonic()

    def put(self, key: K, value: V, *, version: int | None = None,
            ttl_seconds: float | None = None, since: float | None = None) -> None:
        """Remember ``value``; with ``version`` (from ``version()``), only while the source
        stays at that version. Its life counts from ``since`` (a ``now()`` reading taken
        before the value was read from its source; default: now), so a cached value is never
        older than the TTL, however long the load took."""
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        weight = self._weigh(value) if self._weigh is not None else 0
        entry = _Entry(value, (self._monotonic() if since is None else since) + ttl, version,
                       weight)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._weight -= old.weight
            self._items[key] = entry
            self._items.move_to_end(key)
            self._weight += weight
            while len(self._items) > self._max or (
                    self._weigh is not None and self._weight > self._max_weight
                    and len(self._items) > 1):
                self._weight -= self._items.popitem(last=False)[1].weight

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or ``load()`` remembered (concurrent misses may each load; put a
        ``SingleFlight`` in front where that costs too much)."""
        found = self.lookup(key)
        if found is not None:
            return found[0]
        version, since = self.version(), self._monotonic()
        value = load()
        self.put(key, value, version=version, since=since)
        return value

    def discard(self, key: K) -> None:
        with self._lock:
            entry = self._items.pop(key, None)
            if entry is not None:
                self._weight -= entry.weight

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    @property
    def weight(self) -> int:
        """What the entries held weigh together (0 without ``weigh``)."""
        return self._weight

    def __len__(self) -> int:
        return len(self._items)
