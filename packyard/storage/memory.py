"""Blob storage in memory: a dict of bytes per domain, for in-process tests and throwaway servers.

Nothing survives the process, and each process has its own blobs, so this backend is for one
process only (``open_blob_store`` refuses it with several workers). Staging is still a file on
local disk, as in every backend (``storage/staging.py``): uploads are inspected as files, and
only committed blobs are held in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from packyard.errors import NotFound
from packyard.storage.blobs import (
    LIST_PAGE,
    Digests,
    ExpectedBlob,
    Hasher,
    StagedBlob,
    StoredBlob,
    check_blob_key,
    listed_domains,
)
from packyard.storage.staging import StagedFile, StagingArea

_CHUNK = 1024 * 1024


class MemoryBlobStore:
    """Blobs in ``{domain_key: {sha256: bytes}}``; staged files under ``staging_dir``."""

    def __init__(self, staging_dir: Path) -> None:
        self._staging = StagingArea(staging_dir)
        # Each blob's bytes and when it was stored (``list_blobs``).
        self._domains: dict[str, dict[str, tuple[bytes, float]]] = {}
        # Uploads commit from worker threads while the event loop reads.
        self._lock = threading.Lock()

    def _blob(self, domain_key: str, sha256: str) -> bytes | None:
        check_blob_key(domain_key, sha256)
        with self._lock:
            kept = self._domains.get(domain_key, {}).get(sha256)
        return None if kept is None else kept[0]

    def _keep(self, domain_key: str, sha256: str, data: bytes) -> None:
        with self._lock:
            # Equal bytes are stored once: the first copy stays.
            self._domains.setdefault(domain_key, {}).setdefault(sha256, (data, time.time()))

    def stage(self, *, batched: bool = False, expected: ExpectedBlob | None = None,
              scratch: bool = False) -> StagedFile:
        # Never fsynced: the bytes are copied into memory on commit, and do not outlive us.
        return self._staging.new(sync=False)

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        digests = staged.digests()
        check_blob_key(domain_key, digests.sha256)
        self._keep(domain_key, digests.sha256, staged.local_path.read_bytes())
        staged.local_path.unlink(missing_ok=True)
        return digests

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        return [self.commit(blob, domain_key) for blob in staged]

    def discard(self, staged: StagedBlob) -> None:
        staged.close()
        staged.local_path.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        hasher = Hasher()
        hasher.update(data)
        digests = hasher.digests()
        check_blob_key(domain_key, digests.sha256)
        self._keep(domain_key, digests.sha256, bytes(data))
        return digests

    def exists(self, domain_key: str, sha256: str) -> bool:
        return self._blob(domain_key, sha256) is not None

    def size(self, domain_key: str, sha256: str) -> int:
        data = self._blob(domain_key, sha256)
        if data is None:
            raise NotFound(f"No blob {sha256}")
        return len(data)

    def local_path(self, domain_key: str, sha256: str) -> Path | None:
        return None

    def read_small_now(self, domain_key: str, sha256: str, limit: int) -> bytes | None:
        data = self._blob(domain_key, sha256)
        return None if data is None or len(data) > limit else bytes(data)

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        data = self._blob(domain_key, sha256)
        if data is None:
            raise NotFound(f"No blob {sha256}")
        view = memoryview(data)[start:end]
        for offset in range(0, len(view), _CHUNK):
            yield bytes(view[offset:offset + _CHUNK])

    def delete(self, domain_key: str, sha256: str) -> None:
        check_blob_key(domain_key, sha256)
        with self._lock:
            self._domains.get(domain_key, {}).pop(sha256, None)

    def delete_domain(self, domain_key: str) -> None:
        check_blob_key(domain_key, "0" * 64)
        with self._lock:
            self._domains.pop(domain_key, None)

    def recover(self) -> int:
        return self._staging.recover()

    def domain_keys(self) -> list[str]:
        with self._lock:
            return sorted(key for key, blobs in self._domains.items() if blobs)

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = LIST_PAGE) -> Iterator[StoredBlob]:
        for key in listed_domains(self, domain_key):
            with self._lock:  # a copy of the names: commits go on meanwhile
                stored = sorted((sha256, at) for sha256, (_data, at)
                                in self._domains.get(key, {}).items())
            for sha256, stored_at in stored:
                yield StoredBlob(key, sha256, stored_at)
