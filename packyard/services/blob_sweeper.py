"""The blob sweep: deletes the stored bytes that no asset of their domain uses any more.

A change that frees blobs (deleting or disposing of versions, deleting a package or a
repository) queues them in the same transaction (``metadata/blob_sweeps.py``); the service that
made it runs the sweep right after the commit, and every start runs it too, so a crash in
between only delays the deletion. Each blob is checked again and deleted inside a write
transaction: an upload of the same bytes, or a copy, meanwhile takes it back instead.

An upload stores its bytes before the transaction that records them, and that transaction may
still refuse the file (a racing upload's other bytes took its name, the version was archived or
disposed of meanwhile): ``recording`` queues and sweeps what it stored then, so a refused upload
leaves no bytes (nor data key) that nothing records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from packyard.clock import Clock
from packyard.metadata.catalog import Catalog
from packyard.model import domain_blob_key
from packyard.storage.blobs import BlobStore

log = logging.getLogger("packyard.sweep")

BATCH = 50
"""Blobs deleted per write transaction (the writers' lock is held while they are deleted)."""


class BlobSweeper:
    """Runs the sweep; safe to call from any thread and any process at once."""

    def __init__(self, catalog: Catalog, blobs: BlobStore, clock: Clock) -> None:
        self._catalog = catalog
        self._blobs = blobs
        self._clock = clock
        # One sweep at a time in this process: another caller's queue is swept by the one
        # running (the database's writer lock orders sweeps of different processes).
        self._lock = threading.Lock()

    def sweep(self) -> int:
        """Delete every queued blob nothing uses; returns how many were deleted. A blob the
        store fails to delete stays queued for the next sweep (logged)."""
        with self._lock:
            deleted = 0
            tried: set[tuple[int, str]] = set()
            while True:
                batch = [item for item in self._catalog.pending_sweeps(BATCH + len(tried))
                         if item not in tried][:BATCH]
                if not batch:
                    break
                tried.update(batch)
                deleted += self._catalog.sweep_blobs(batch, self._delete, self._clock.now())
            if deleted:
                log.info("deleted %d blob(s) no asset uses any more", deleted)
            return deleted

    @contextmanager
    def recording(self, domain_id: int, shas: Collection[str]) -> Iterator[None]:
        """Around the transaction that records blobs just stored: when it fails, those of
        ``shas`` nothing uses are queued and swept (the failure is raised as it was)."""
        try:
            yield
        except BaseException:
            self.release(domain_id, shas)
            raise

    def release(self, domain_id: int, shas: Collection[str]) -> None:
        """Queue and sweep those of ``shas`` nothing in the domain uses. A failure (the
        database gone) is logged, not raised over the upload's own error: the blobs stay."""
        try:
            if self._catalog.release_blobs(domain_id, shas, self._clock.now()):
                self.sweep()
        except Exception:
            log.warning("could not release %d blob(s) of domain %d that an upload stored "
                        "but did not record", len(shas), domain_id, exc_info=True)

    def sweep_strays(self, domain_id: int, shas: Collection[str]) -> list[str]:
        """Delete blobs of the domain found stored with no row naming them (``packyard verify
        --delete-strays``), as any sweep deletes: queued, then each checked again and deleted
        in a write transaction, so one an upload records meanwhile is kept (taken back from
        the queue) or the upload is refused and sent again (swept before it recorded).
        Returns those deleted, sorted."""
        with self._lock:
            queued = self._catalog.queue_strays(domain_id, shas, self._clock.now())
            deleted: list[str] = []

            def delete(domain_id: int, sha256: str) -> bool:
                gone = self._delete(domain_id, sha256)
                if gone:
                    deleted.append(sha256)
                return gone

            for start in range(0, len(queued), BATCH):
                self._catalog.sweep_blobs([(domain_id, sha) for sha in
                                           queued[start:start + BATCH]],
                                          delete, self._clock.now())
            if deleted:
                log.info("deleted %d stray blob(s) of domain %d that no row named",
                         len(deleted), domain_id)
            return sorted(deleted)

    def _delete(self, domain_id: int, sha256: str) -> bool:
        # Called inside the sweep's write transaction, which deletes the data key row itself:
        # an encrypting store's own ``delete`` would write that row from another transaction
        # and wait for the lock this one holds (``EncryptingBlobStore.delete_bytes``).
        delete = getattr(self._blobs, "delete_bytes", self._blobs.delete)
        try:
            delete(domain_blob_key(domain_id), sha256)
        except Exception:
            log.warning("could not delete blob %s of domain %d; the next sweep tries again",
                        sha256, domain_id, exc_info=True)
            return False
        return True
