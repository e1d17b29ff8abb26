"""What this process's caches drop when another process changes the database.

Every cache of the hot paths is per process. A write made here drops what it makes stale at
once (the catalog's ``ChangeLog``, the IAM store's generation, ``TokenService.forget_cached``);
a write made by another replica, worker or command reaches this process as an announcement of
its topic (``metadata/change_feed.py``), and this says what each topic drops:

| topic | dropped |
|---|---|
| ``catalog`` | rendered pages, file lookups, upstream graphs and merged listings (all bound to the catalog's ``changes``) |
| ``access`` | read grants, domain and repository rows, resource tags and compiled resource policies (all bound to its ``access_changes``); announced beside ``catalog`` by the writes access rests on |
| ``iam`` | principals, compiled policies and read grants (the IAM store's generation) |
| ``tokens`` | token checks and read grants |

When announcements may have been missed (the listener's connection was lost) everything is
dropped. Each cache keeps its TTL as the backstop. Pages, file lookups and read grants on a
connection are kept until one of these drops them (``services/reads.py``,
``services/access.py``), so a change that reaches this process only by TTL would be seen late:
every write that can change them must announce its topic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from packyard.auth.tokens import TokenService
from packyard.iam.store import IamStore
from packyard.metadata.catalog import Catalog
from packyard.metadata.change_feed import (
    ACCESS,
    CATALOG,
    CONTENT,
    IAM,
    TOKENS,
    TOPICS,
    ChangeWatcher,
)
from packyard.upstream.core import UpstreamCore

log = logging.getLogger("packyard")


@dataclass
class CacheInvalidation:
    """Drops this process's caches as other processes' writes are announced."""

    catalog: Catalog
    iam_store: IamStore
    tokens: TokenService
    upstreams: UpstreamCore
    watcher: ChangeWatcher
    # How many announcements (by topic) and resyncs this process has acted on.
    heard: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        """Start listening (``packyard serve``, in each worker); once."""
        self.watcher.start(self.changed_elsewhere, self.resync)

    def stop(self) -> None:
        self.watcher.stop()

    def changed_elsewhere(self, topics: frozenset[str]) -> None:
        if CATALOG in topics:
            self.catalog.changes.touch()
            self.upstreams.graphs.clear()
        elif CONTENT in topics:
            # Files kept elsewhere: pages and lookups drop, graphs and groups stay.
            self.catalog.changes.touch(content_only=True)
        if ACCESS in topics:
            self.catalog.access_changes.touch()
        if IAM in topics:
            self.iam_store.note_change_elsewhere()
        if TOKENS in topics:
            self.tokens.forget_cached()
        for topic in topics:
            self.heard[topic] = self.heard.get(topic, 0) + 1

    def resync(self) -> None:
        """Announcements may have been missed: drop everything."""
        self.changed_elsewhere(frozenset(TOPICS))
        self.heard["resync"] = self.heard.get("resync", 0) + 1
