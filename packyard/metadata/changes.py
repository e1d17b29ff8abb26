"""A per-repository change counter, so caches of pages and file lookups know when to drop out.

Every catalog write that changes what a repository lists calls ``touch``. Readers compare the
stamp they cached with ``stamp``: in this process the answer is exact. Other processes sharing
the database (several workers or replicas) cannot see this counter, so cached entries also expire
after a short time (``ResponseCache``'s TTL).
"""

from __future__ import annotations

import threading


class ChangeLog:
    """Counts changes per repository id."""

    def __init__(self) -> None:
        self._stamps: dict[int, int] = {}
        self._lock = threading.Lock()

    def touch(self, repository_id: int) -> None:
        with self._lock:
            self._stamps[repository_id] = self._stamps.get(repository_id, 0) + 1

    def stamp(self, repository_id: int) -> int:
        # A dict read is atomic under the GIL; no lock on the hot path.
        return self._stamps.get(repository_id, 0)
