"""Blobs nothing uses any more: queued by the change that freed them, deleted by a sweep.

Deleting stored bytes cannot be part of a database transaction, so it comes after one, in an
order that a crash anywhere cannot turn into a record without its bytes:

1. The transaction that removes assets (deleting or disposing of versions, deleting a package
   or a repository, overwriting a copy) also removes the ``blobs`` row of every sha256 no asset
   of the domain uses now, and queues it in ``blob_sweeps`` (``queue_unused_blobs``).
2. A sweep (``BlobSweepStore.sweep_blobs``, driven by ``services/blob_sweeper.py`` after each
   such change and at every start) deletes each queued blob in a write transaction: it checks
   the blob is still unused, deletes it from the blob store and marks the row swept, while it
   holds the writers' lock. A crash before the commit leaves the row queued, and the next sweep
   deletes again (deleting a missing blob is no error).

Uploads store their bytes before their transaction, so one may store (or find already stored)
bytes that a sweep then deletes. Each transaction that records a blob (``claim_blobs``)
therefore takes back a queued row (the bytes are still there: the sweep has not run) and, for
a row swept since, asks the blob store whether the bytes are there; when they are not, the
upload is refused with a message saying to send it again, and nothing is recorded. Swept rows
are kept for a day (``SWEPT_KEPT``), far longer than an upload waits between its bytes and its
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    insert,
    literal,
    null,
    select,
    type_coerce,
    union,
    union_all,
    update,
)

from packyard.errors import Conflict
from packyard.metadata.rows import ASSET_JOIN, chunks
from packyard.metadata.schema import (
    asset_blobs,
    assets,
    blob_sweeps,
    blobs,
    data_keys,
    packages,
    repositories,
)
from packyard.metadata.transactions import CatalogBase

SWEPT_KEPT = timedelta(days=1)
"""How long a swept row is kept, for uploads that stored their bytes before the sweep."""

BlobPresent = Callable[[int, str], bool]
"""Whether the blob store holds a blob: (domain id, sha256)."""

BlobDelete = Callable[[int, str], bool]
"""Deletes a blob from the blob store: (domain id, sha256); False when it could not."""


def blobs_in_use(conn: Connection, domain_id: int, shas: Iterable[str]) -> set[str]:
    """Of ``shas``, those an asset of the domain is, or keeps alive (``asset_blobs``): one
    statement for each ``IN_LIST_MAX`` of them (deleting a package of 400 versions asked
    1,600 times, once for each blob when it was queued and again when it was swept)."""
    in_domain = (select(assets.c.sha256).select_from(
        ASSET_JOIN.join(repositories, packages.c.repository_id == repositories.c.id))
        .where(repositories.c.domain_id == domain_id))
    kept_alive = (select(asset_blobs.c.sha256).select_from(
        asset_blobs.join(ASSET_JOIN, asset_blobs.c.asset_id == assets.c.id)
        .join(repositories, packages.c.repository_id == repositories.c.id))
        .where(repositories.c.domain_id == domain_id))
    used: set[str] = set()
    for chunk in chunks(sorted(set(shas))):
        used.update(conn.execute(union(
            in_domain.where(assets.c.sha256.in_(chunk)),
            kept_alive.where(asset_blobs.c.sha256.in_(chunk)))).scalars())
    return used


def queue_unused_blobs(conn: Connection, domain_id: int, shas: Iterable[str],
                       now: datetime) -> list[str]:
    """Of ``shas`` (the blobs of assets just removed), those no asset of the domain uses now:
    their ``blobs`` rows go and each is queued for the sweep. Returns them, sorted."""
    wanted = sorted(set(shas))
    in_use = blobs_in_use(conn, domain_id, wanted)
    unused = [sha for sha in wanted if sha not in in_use]
    for chunk in chunks(unused):
        conn.execute(delete(blobs).where(blobs.c.domain_id == domain_id,
                                         blobs.c.sha256.in_(chunk)))
        _queue(conn, domain_id, chunk, now)
    return unused


def _queue(conn: Connection, domain_id: int, chunk: Sequence[str], now: datetime) -> None:
    """Queue ``chunk`` (one batch of sha256s) for the sweep: a row swept once before (in use
    again since, or stored again) is queued again, the others are added."""
    queued = set(conn.execute(select(blob_sweeps.c.sha256).where(
        blob_sweeps.c.domain_id == domain_id, blob_sweeps.c.sha256.in_(chunk))).scalars())
    if queued:
        conn.execute(update(blob_sweeps).where(blob_sweeps.c.domain_id == domain_id,
                                               blob_sweeps.c.sha256.in_(sorted(queued)))
                     .values(queued_at=now, swept_at=None))
    new = [{"domain_id": domain_id, "sha256": sha, "queued_at": now}
           for sha in chunk if sha not in queued]
    if new:
        conn.execute(insert(blob_sweeps), new)


# Built once, executed with each new file's blobs (a pulled file's records ran them built
# anew each time, a fifth of their CPU: ``new_files``' module docstring says why it matters).
# Which of some blobs the domain records (``held`` 1) and which are queued for the sweep or
# swept (``held`` 0, with ``swept_at``): one statement for both, run for every file kept.
_HELD_OR_QUEUED = union_all(
    select(blob_sweeps.c.sha256, blob_sweeps.c.swept_at, literal(0).label("held")).where(
        blob_sweeps.c.domain_id == bindparam("domain_id"),
        blob_sweeps.c.sha256.in_(bindparam("sha256s", expanding=True))),
    select(blobs.c.sha256, type_coerce(null(), blob_sweeps.c.swept_at.type),
           literal(1)).where(
        blobs.c.domain_id == bindparam("domain_id"),
        blobs.c.sha256.in_(bindparam("sha256s", expanding=True))))
_INSERT_BLOB = insert(blobs)


def claim_blobs(conn: Connection, domain_id: int, sizes: Mapping[str, int], now: datetime,
                present: BlobPresent | None) -> None:
    """Record the blobs a new file uses (a ``blobs`` row each, once per domain), taking back
    those queued for the sweep. ``Conflict`` when one was swept after this upload stored it
    (``present`` says it is gone): the caller's transaction then records nothing."""
    for chunk in chunks(sorted(sizes)):
        rows = conn.execute(_HELD_OR_QUEUED,
                            {"domain_id": domain_id, "sha256s": list(chunk)}).all()
        have = {row.sha256 for row in rows if row.held}
        chunk = [sha for sha in chunk if sha not in have]
        if not chunk:
            continue
        swept = {row.sha256: row.swept_at for row in rows
                 if not row.held and row.sha256 not in have}
        for sha, swept_at in sorted(swept.items()):
            if swept_at is not None and (present is None or not present(domain_id, sha)):
                raise Conflict(
                    f"The stored bytes of this upload (sha256 {sha}) were deleted while it "
                    "was being recorded: a package version with the same file was deleted at "
                    "that moment. Nothing was published; send the upload again.",
                    resource_id=sha, resource_type="asset")
        if swept:
            conn.execute(delete(blob_sweeps).where(blob_sweeps.c.domain_id == domain_id,
                                                   blob_sweeps.c.sha256.in_(sorted(swept))))
        conn.execute(_INSERT_BLOB, [{"domain_id": domain_id, "sha256": sha,
                                     "size": sizes[sha], "created_at": now} for sha in chunk])


def queue_strays(conn: Connection, domain_id: int, shas: Iterable[str],
                 now: datetime) -> list[str]:
    """Of ``shas`` (blobs found stored that no ``blobs`` row named: strays, ``packyard verify
    --delete-strays``), those that still have no row and no asset of the domain uses, queued
    for the sweep; returns them, sorted. A row recorded since the listing keeps its blob (no
    row is deleted here, unlike ``queue_unused_blobs``)."""
    wanted = sorted(set(shas))
    named: set[str] = set()
    for chunk in chunks(wanted):
        named.update(conn.execute(select(blobs.c.sha256).where(
            blobs.c.domain_id == domain_id, blobs.c.sha256.in_(chunk))).scalars())
    named |= blobs_in_use(conn, domain_id, [sha for sha in wanted if sha not in named])
    strays = [sha for sha in wanted if sha not in named]
    for chunk in chunks(strays):
        _queue(conn, domain_id, chunk, now)
    return strays


class BlobSweepStore(CatalogBase):
    """The queue of blobs to delete, and the sweep's transactions."""

    def queue_strays(self, domain_id: int, shas: Iterable[str], now: datetime) -> list[str]:
        """Queue for the sweep those of ``shas`` that no row names and no asset uses
        (``queue_strays``). Returns them, sorted."""
        with self._write() as conn:
            return queue_strays(conn, domain_id, shas, now)

    def release_blobs(self, domain_id: int, shas: Iterable[str], now: datetime) -> list[str]:
        """Queue for the sweep those of ``shas`` that no asset of the domain uses: blobs an
        upload stored before the transaction that was to record them refused the file (other
        bytes won its name, its version was closed meanwhile). Returns them, sorted."""
        with self._write() as conn:
            return queue_unused_blobs(conn, domain_id, shas, now)

    def pending_sweeps(self, limit: int = 100) -> list[tuple[int, str]]:
        with self._read() as conn:
            return [(row.domain_id, row.sha256) for row in conn.execute(
                select(blob_sweeps.c.domain_id, blob_sweeps.c.sha256)
                .where(blob_sweeps.c.swept_at.is_(None))
                .order_by(blob_sweeps.c.queued_at, blob_sweeps.c.domain_id,
                          blob_sweeps.c.sha256).limit(limit))]

    def sweep_blobs(self, queued: Sequence[tuple[int, str]], delete_blob: BlobDelete,
                    now: datetime) -> int:
        """Delete these queued blobs that are still unused, in one write transaction (so no
        upload records one of them meanwhile), and mark them swept; take back those in use
        again. Swept rows older than ``SWEPT_KEPT`` go. Returns how many were deleted."""
        by_domain: dict[int, list[str]] = {}
        for domain_id, sha in queued:
            by_domain.setdefault(domain_id, []).append(sha)
        deleted = 0
        with self._write() as conn:
            for domain_id, shas in by_domain.items():
                deleted += _sweep_domain(conn, domain_id, shas, delete_blob, now)
            conn.execute(delete(blob_sweeps).where(blob_sweeps.c.swept_at.is_not(None),
                                                   blob_sweeps.c.swept_at < now - SWEPT_KEPT))
        return deleted


def _sweep_domain(conn: Connection, domain_id: int, shas: Sequence[str],
                  delete_blob: BlobDelete, now: datetime) -> int:
    """``sweep_blobs`` of one domain's queued blobs: each state read for all of them at once
    (the bytes are still deleted one by one). Returns how many were deleted."""
    # Still queued: neither taken back nor swept by another process meanwhile.
    pending: set[str] = set()
    for chunk in chunks(sorted(set(shas))):
        pending.update(conn.execute(select(blob_sweeps.c.sha256).where(
            blob_sweeps.c.domain_id == domain_id, blob_sweeps.c.sha256.in_(chunk),
            blob_sweeps.c.swept_at.is_(None))).scalars())
    in_use = blobs_in_use(conn, domain_id, pending)
    for sha in sorted(in_use):
        _restore_blob_row(conn, domain_id, sha, now)
    for chunk in chunks(sorted(in_use)):
        conn.execute(delete(blob_sweeps).where(blob_sweeps.c.domain_id == domain_id,
                                               blob_sweeps.c.sha256.in_(chunk)))
    # A blob the store fails to delete is left queued: the next sweep tries again.
    swept = [sha for sha in sorted(pending - in_use) if delete_blob(domain_id, sha)]
    for chunk in chunks(swept):
        # Their data keys (encryption at rest) go in this transaction, after the bytes.
        conn.execute(delete(data_keys).where(data_keys.c.domain_id == domain_id,
                                             data_keys.c.sha256.in_(chunk)))
        conn.execute(update(blob_sweeps).where(blob_sweeps.c.domain_id == domain_id,
                                               blob_sweeps.c.sha256.in_(chunk))
                     .values(swept_at=now))
    return len(swept)


def _restore_blob_row(conn: Connection, domain_id: int, sha: str, now: datetime) -> None:
    """A blob queued and then used again by a copy that records no blob row of its own (kept
    from another repository): its row comes back, with the size an asset gives it."""
    if conn.execute(select(blobs.c.sha256).where(blobs.c.domain_id == domain_id,
                                                 blobs.c.sha256 == sha)).first() is not None:
        return
    size = conn.execute(select(assets.c.size).where(assets.c.sha256 == sha).limit(1)
                        ).scalar_one_or_none()
    conn.execute(insert(blobs).values(domain_id=domain_id, sha256=sha, size=size or 0,
                                      created_at=now))
