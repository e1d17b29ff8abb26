"""``packyard encrypt``: encrypting, in place, the blobs a data directory stored before
encryption was on, while the server keeps serving them.

Each blob goes through ``EncryptingBlobStore.encrypt_plain`` (encrypted copy, then its key row,
then the plain file removed), so a run killed at any point loses nothing: a blob whose row was
not committed is still plain and is done again by the next run; one whose row was is done, and
its plain file, if still there, is removed. A plain file is removed a few seconds after its
blob's key row is committed, not at once: a server that looked the key up a moment before the
commit found none and is opening the plain file (to send it, or to read it), and a file removed
under it would be a 404 or a broken download. The blobs to do are those the catalog counts
without a data key (``Catalog.blob_rows(plain_only=True)``), a page at a time; then every
blob is looked at once more for a plain file a killed run left beside its ciphertext (a stat
each: its key row is what took it off the first list).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.metadata.catalog import Catalog

_PAGE = 200
# How long a plain file outlives its blob's key row: a read that chose it a moment before the
# commit opens it within milliseconds, seconds under a heavy load.
PLAIN_GRACE_SECONDS = 5.0


@dataclass
class MigrationReport:
    """How many blobs ended how (``encrypted``, ``done``, ``missing``, ``corrupt``), and the
    ones that need a look."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # domain, sha256, what


def plain_blob_count(catalog: Catalog) -> int:
    count, after = 0, (0, "")
    while page := catalog.blob_rows(after=after, limit=5000, plain_only=True):
        count += len(page)
        after = (page[-1].domain_id, page[-1].sha256)
    return count


class _PlainRemovals:
    """Plain files of blobs encrypted in this run, removed once ``grace`` seconds have passed
    since their key rows were committed."""

    def __init__(self, store: EncryptingBlobStore, grace: float,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._store, self._grace, self._clock, self._sleep = store, grace, clock, sleep
        self._waiting: deque[tuple[float, str, str]] = deque()

    def add(self, domain_key: str, sha256: str) -> None:
        self._waiting.append((self._clock() + self._grace, domain_key, sha256))
        self._remove(until=self._clock())

    def remove_all(self) -> None:
        if self._waiting:
            self._sleep(max(0.0, self._waiting[-1][0] - self._clock()))
        self._remove(until=math.inf)

    def _remove(self, until: float) -> None:
        while self._waiting and self._waiting[0][0] <= until:
            _, domain_key, sha256 = self._waiting.popleft()
            self._store.inner.delete(domain_key, sha256)


def encrypt_existing(catalog: Catalog, store: EncryptingBlobStore,
                     progress: Callable[[str, str], None] | None = None, *,
                     grace_seconds: float = PLAIN_GRACE_SECONDS,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> MigrationReport:
    """Encrypt every plain blob; ``progress(domain_key, outcome)`` after each."""
    report = MigrationReport()
    removals = _PlainRemovals(store, grace_seconds, clock, sleep)
    after = (0, "")
    try:
        while page := catalog.blob_rows(after=after, limit=_PAGE, plain_only=True):
            for row in page:
                domain_key = f"d{row.domain_id}"
                outcome = store.encrypt_plain(domain_key, row.sha256, remove_plain=False)
                if outcome == "encrypted":
                    removals.add(domain_key, row.sha256)
                report.counts[outcome] += 1
                if outcome in ("missing", "corrupt"):
                    report.problems.append((domain_key, row.sha256, outcome))
                if progress is not None:
                    progress(domain_key, outcome)
            after = (page[-1].domain_id, page[-1].sha256)
    except OSError:
        # A full disk: the plain copies of what is encrypted already go all the same, or
        # every later run would stop at the same file for want of the space they hold.
        removals.remove_all()
        raise
    removals.remove_all()
    after = (0, "")
    while page := catalog.blob_rows(after=after, limit=_PAGE):
        for row in page:
            domain_key = f"d{row.domain_id}"
            if store.inner.exists(domain_key, row.sha256):
                outcome = store.encrypt_plain(domain_key, row.sha256)
                report.counts[outcome] += 1
                if progress is not None:
                    progress(domain_key, outcome)
        after = (page[-1].domain_id, page[-1].sha256)
    return report
