"""Rendered responses kept in memory, keyed per repository, dropped on any metadata change.

Index pages are requested far more often than they change (pip asks for a page on every
install and revalidates it every time), so a hit here answers without a thread hop or a query.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from packyard.metadata.changes import ChangeLog

V = TypeVar("V")


@dataclass(frozen=True)
class _Entry(Generic[V]):
    stamp: int
    stored_at: float
    value: V


class ResponseCache(Generic[V]):
    """An LRU of values per (repository id, key), valid while the metadata is unchanged.

    Any write invalidates everything: writes are rare next to reads, and a page of a repository
    depends on its upstreams' contents and origin controls too, so finer stamps would be wrong
    more easily than they would be faster.
    """

    def __init__(self, changes: ChangeLog, *, ttl_seconds: float = 2.0,
                 max_entries: int = 10_000) -> None:
        self._changes = changes
        self._ttl = ttl_seconds
        self._max = max_entries
        self._items: OrderedDict[tuple[int, Hashable], _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, repository_id: int, key: Hashable) -> V | None:
        with self._lock:
            entry = self._items.get((repository_id, key))
            if entry is None:
                return None
            if (entry.stamp != self._changes.stamp()
                    or time.monotonic() - entry.stored_at > self._ttl):
                del self._items[(repository_id, key)]
                return None
            self._items.move_to_end((repository_id, key))
            return entry.value

    def stamp(self) -> int:
        """Read before computing a value, and pass to ``put``, so a change in between is seen."""
        return self._changes.stamp()

    def put(self, repository_id: int, key: Hashable, stamp: int, value: V) -> None:
        with self._lock:
            self._items[(repository_id, key)] = _Entry(stamp, time.monotonic(), value)
            self._items.move_to_end((repository_id, key))
            while len(self._items) > self._max:
                self._items.popitem(last=False)
