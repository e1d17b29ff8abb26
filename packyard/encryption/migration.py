"""``packyard encrypt``: encrypting, in place, the blobs a data directory stored before
encryption was on, while the server keeps serving them.

Each blob goes through ``EncryptingBlobStore.encrypt_plain`` (encrypted copy, then its key row,
then the plain file removed), so a run killed at any point loses nothing: a blob whose row was
not committed is still plain and is done again by the next run; one whose row was is done, and
its plain file, if still there, is removed. The blobs to do are those the catalog counts
without a data key (``Catalog.blob_rows(plain_only=True)``), a page at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.metadata.catalog import Catalog

_PAGE = 200


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


def encrypt_existing(catalog: Catalog, store: EncryptingBlobStore,
                     progress: Callable[[str, str], None] | None = None) -> MigrationReport:
    """Encrypt every plain blob; ``progress(domain_key, outcome)`` after each."""
    report = MigrationReport()
    after = (0, "")
    while page := catalog.blob_rows(after=after, limit=_PAGE, plain_only=True):
        for row in page:
            domain_key = f"d{row.domain_id}"
            outcome = store.encrypt_plain(domain_key, row.sha256)
            report.counts[outcome] += 1
            if outcome in ("missing", "corrupt"):
                report.problems.append((domain_key, row.sha256, outcome))
            if progress is not None:
                progress(domain_key, outcome)
        after = (page[-1].domain_id, page[-1].sha256)
    return report
