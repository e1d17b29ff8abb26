"""A change counter for the metadata store, so in-memory caches know when to drop out.

Every write transaction of the catalog bumps it (after commit). Readers remember the stamp they
computed a value under and compare: in this process the answer is exact. Other processes sharing
the database (several workers or replicas) cannot see this counter, so cached entries also expire
after a short time (``ResponseCache``'s TTL).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable


class ChangeLog:
    """Counts committed writes."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._stamp = 0
        self._lock = threading.Lock()
        # Called after every committed write (the webhooks' dispatcher wakes up: the write may
        # have queued an event); each must be quick and must not raise.
        self.listeners: list[Callable[[], None]] = []

    def touch(self) -> None:
        with self._lock:
            self._stamp = next(self._counter)
        for listener in self.listeners:
            listener()

    def stamp(self) -> int:
        # An int read is atomic under the GIL; no lock on the hot path.
        return self._stamp
