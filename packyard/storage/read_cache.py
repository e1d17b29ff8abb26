"""A bounded local cache of hot blobs in front of a remote blob store (replicas on S3).

Repeated downloads of the same big files would otherwise all cross to the object store. A
whole-blob read that misses is streamed to the client from the store and, as it passes, into a
local file; once the last byte arrived and its sha256 is the blob's name, the file is put in
place (a rename), and the next download of that blob is a local file again: sent with
sendfile like the embedded default's (``local_path``), and served while the store is down.
Reads that do not start at the first byte, and blobs bigger than the cache, go to the store as
they are. Under encryption at rest the cached files are ciphertext (``fetch_whole``: the
encrypting store asks for a whole download's ciphertext here, checked by size, since segments
are authenticated as they are decrypted), never plaintext.

The cache holds at most ``max_bytes`` (``PACKYARD_BLOB_CACHE_BYTES``); the least recently
used blobs make room. Blobs never change under their name, so nothing in it is ever stale;
a deleted blob is dropped from this replica's cache (another replica's deletion leaves a copy
that no catalog row names any more, until it is evicted). Everything else (staging, commits,
existence checks) is the store's: the cache never answers for what the store holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from packyard.storage.blobs import (
    LIST_PAGE,
    BlobStore,
    Digests,
    ExpectedBlob,
    StagedBlob,
    StoredBlob,
    check_blob_key,
)
from packyard.storage.local import LocalBlobStore

log = logging.getLogger("packyard.storage")

_PARTIAL = ".partial"


class CachingBlobStore:
    """``inner`` with a local read cache of at most ``max_bytes`` in ``directory``."""

    def __init__(self, inner: BlobStore, directory: Path, max_bytes: int) -> None:
        self.inner = inner
        self.max_bytes = max_bytes
        self._files = LocalBlobStore(directory)
        self._directory = directory
        self._lock = threading.Lock()
        self._sizes: OrderedDict[tuple[str, str], int] = OrderedDict()  # oldest use first
        self._total = 0
        self._load()

    @property
    def cached_bytes(self) -> int:
        return self._total

    def _load(self) -> None:
        """Index what an earlier run left, oldest use first; drop half-written files."""
        found = []
        if self._directory.is_dir():
            for path in self._directory.glob("*/*/*"):
                if path.name.endswith(_PARTIAL) or ".staging" in path.parts:
                    path.unlink(missing_ok=True)
                    continue
                stat = path.stat()
                found.append((stat.st_atime, path.parts[-3], path.name, stat.st_size))
        for _, key, sha256, size in sorted(found):
            self._sizes[(key, sha256)] = size
            self._total += size
        self._evict()

    # -- the store's own business ---------------------------------------------------------

    def stage(self, *, batched: bool = False, expected: ExpectedBlob | None = None,
              scratch: bool = False) -> StagedBlob:
        return self.inner.stage(batched=batched, expected=expected, scratch=scratch)

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        return self.inner.commit(staged, domain_key)

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        return self.inner.commit_many(staged, domain_key)

    def discard(self, staged: StagedBlob) -> None:
        self.inner.discard(staged)

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        return self.inner.put_bytes(data, domain_key)

    def exists(self, domain_key: str, sha256: str) -> bool:
        return self.inner.exists(domain_key, sha256)

    def size(self, domain_key: str, sha256: str) -> int:
        with self._lock:
            size = self._sizes.get((domain_key, sha256))
        return size if size is not None else self.inner.size(domain_key, sha256)

    def recover(self) -> int:
        return self.inner.recover()

    def domain_keys(self) -> list[str]:
        return self.inner.domain_keys()

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = LIST_PAGE) -> Iterator[StoredBlob]:
        return self.inner.list_blobs(domain_key, page_size=page_size)

    def delete(self, domain_key: str, sha256: str) -> None:
        self.inner.delete(domain_key, sha256)
        self._drop(domain_key, sha256)

    def delete_domain(self, domain_key: str) -> None:
        self.inner.delete_domain(domain_key)
        with self._lock:
            for key, sha256 in [k for k in self._sizes if k[0] == domain_key]:
                self._total -= self._sizes.pop((key, sha256))
        self._files.delete_domain(domain_key)

    # -- reading through the cache --------------------------------------------------------

    def local_path(self, domain_key: str, sha256: str) -> Path | None:
        check_blob_key(domain_key, sha256)
        with self._lock:
            if (domain_key, sha256) not in self._sizes:
                return None
            self._sizes.move_to_end((domain_key, sha256))
        return self._files.local_path(domain_key, sha256)

    def read_small_now(self, domain_key: str, sha256: str, limit: int) -> bytes | None:
        # The cached copy only: the store behind is a round trip.
        return None if self.local_path(domain_key, sha256) is None \
            else self._files.read_small_now(domain_key, sha256, limit)

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        if self.local_path(domain_key, sha256) is not None:
            async for chunk in self._files.read(domain_key, sha256, start, end):
                yield chunk
            return
        if start != 0:
            async for chunk in self.inner.read(domain_key, sha256, start, end):
                yield chunk
            return
        # From the first byte: kept if it turns out to be the whole blob (its bytes hash to
        # its name), as downloads read it (``BlobResponse`` asks for [0, size)).
        async for chunk in self._read_and_keep(domain_key, sha256, end):
            yield chunk

    async def fetch_whole(self, domain_key: str, sha256: str, size: int) -> Path | None:
        """The blob as a local file, downloaded whole into the cache first if need be; None
        when it is bigger than the cache. For blobs not named by their bytes' sha256 (the
        ciphertext the encrypting store keeps, ``encryption/blob_store.py``): checked by
        ``size`` only, since its reader authenticates every segment it decrypts."""
        found = self.local_path(domain_key, sha256)
        if found is not None or size > self.max_bytes:
            return found
        final = self._directory / domain_key / sha256[:2] / sha256
        partial = final.with_name(f"{sha256}.{secrets.token_hex(4)}{_PARTIAL}")
        final.parent.mkdir(parents=True, exist_ok=True)
        copied = 0
        try:
            with partial.open("wb") as writer:
                async for chunk in self.inner.read(domain_key, sha256, 0, None):
                    writer.write(chunk)
                    copied += len(chunk)
                    if copied > size:
                        break
            if copied != size:
                return None  # not what the caller expects: let its own read find out
            os.replace(partial, final)
            self._add(domain_key, sha256, size)
        finally:
            partial.unlink(missing_ok=True)
        return self.local_path(domain_key, sha256)

    async def _read_and_keep(self, domain_key: str, sha256: str,
                             end: int | None) -> AsyncIterator[bytes]:
        final = self._directory / domain_key / sha256[:2] / sha256
        partial = final.with_name(f"{sha256}.{secrets.token_hex(4)}{_PARTIAL}")
        final.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        keeping = True
        writer = partial.open("wb")
        try:
            async for chunk in self.inner.read(domain_key, sha256, 0, end):
                if keeping:
                    digest.update(chunk)
                    writer.write(chunk)
                    size += len(chunk)
                    keeping = size <= self.max_bytes
                yield chunk
            writer.close()
            if keeping and digest.hexdigest() == sha256:
                os.replace(partial, final)
                self._add(domain_key, sha256, size)
        finally:
            writer.close()
            partial.unlink(missing_ok=True)

    def _add(self, domain_key: str, sha256: str, size: int) -> None:
        with self._lock:
            if (domain_key, sha256) not in self._sizes:
                self._total += size
            self._sizes[(domain_key, sha256)] = size
            self._sizes.move_to_end((domain_key, sha256))
        self._evict()

    def _evict(self) -> None:
        while True:
            with self._lock:
                if self._total <= self.max_bytes or not self._sizes:
                    return
                (key, sha256), size = self._sizes.popitem(last=False)
                self._total -= size
            try:
                (self._directory / key / sha256[:2] / sha256).unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not evict %s/%s from the read cache: %s", key, sha256, error)

    def _drop(self, domain_key: str, sha256: str) -> None:
        with self._lock:
            size = self._sizes.pop((domain_key, sha256), None)
            if size is not None:
                self._total -= size
        (self._directory / domain_key / sha256[:2] / sha256).unlink(missing_ok=True)
