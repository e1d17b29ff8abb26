"""The local read cache of hot blobs replicas keep in front of the object store
(``storage/read_cache.py``): what it keeps, what it serves while the store is down, and that
it never holds more than its size."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from packyard.storage.memory import MemoryBlobStore
from packyard.storage.read_cache import CachingBlobStore
from packyard.storage.s3 import BlobStoreUnavailable

KEY = "d1"


class CountingStore(MemoryBlobStore):
    """A remote store that counts the reads that reach it, and can be down."""

    def __init__(self, staging: Path) -> None:
        super().__init__(staging)
        self.reads = 0
        self.down = False

    async def read(self, domain_key: str, sha256: str, start: int = 0,
                   end: int | None = None) -> AsyncIterator[bytes]:
        self.reads += 1
        if self.down:
            raise BlobStoreUnavailable("The blob store is unavailable right now; try again shortly")
        async for chunk in super().read(domain_key, sha256, start, end):
            yield chunk


def _read(store: Any, sha256: str, start: int = 0, end: int | None = None) -> bytes:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in store.read(KEY, sha256, start, end)])
    return anyio.run(collect)


@pytest.fixture
def remote(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "staging")


def _put(remote: CountingStore, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    return remote.put_bytes(data, KEY).sha256, data


def test_a_download_reads_zero_to_size_and_is_kept(remote: CountingStore,
                                                    tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 10_000)
    sha, data = _put(remote, 4000)
    assert _read(cache, sha, 0, 4000) == data  # what BlobResponse asks for
    assert cache.local_path(KEY, sha) is not None


def test_a_second_download_is_a_local_file_and_never_reaches_the_store(
        remote: CountingStore, tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 10_000)
    sha, data = _put(remote, 4000)
    assert cache.local_path(KEY, sha) is None
    assert _read(cache, sha) == data
    path = cache.local_path(KEY, sha)
    assert path is not None and path.read_bytes() == data
    assert _read(cache, sha) == data and _read(cache, sha, 10, 20) == data[10:20]
    assert remote.reads == 1


def test_cached_blobs_are_served_while_the_store_is_down(remote: CountingStore,
                                                         tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 10_000)
    sha, data = _put(remote, 100)
    other, _ = _put(remote, 100)
    _read(cache, sha)
    remote.down = True
    assert _read(cache, sha) == data
    with pytest.raises(BlobStoreUnavailable):
        _read(cache, other)


def test_the_least_recently_used_blob_makes_room(remote: CountingStore, tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 3000)
    first, _ = _put(remote, 1000)
    second, _ = _put(remote, 1000)
    third, _ = _put(remote, 1000)
    fourth, _ = _put(remote, 1000)
    for sha in (first, second, third):
        _read(cache, sha)
    assert cache.local_path(KEY, first) is not None  # used again: now the newest
    _read(cache, fourth)
    assert cache.local_path(KEY, second) is None
    assert all(cache.local_path(KEY, sha) for sha in (first, third, fourth))
    assert cache.cached_bytes == 3000
    assert sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file()) == 3000


def test_a_blob_bigger_than_the_cache_and_a_range_are_not_kept(remote: CountingStore,
                                                               tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 1000)
    big, data = _put(remote, 5000)
    assert _read(cache, big) == data
    small, small_data = _put(remote, 500)
    assert _read(cache, small, 0, 100) == small_data[:100]
    assert _read(cache, small, 100) == small_data[100:]
    assert cache.local_path(KEY, big) is None and cache.local_path(KEY, small) is None
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_bytes_that_are_not_the_blob_are_not_kept(remote: CountingStore,
                                                  tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 10_000)
    sha, _ = _put(remote, 100)
    wrong = hashlib.sha256(b"x").hexdigest()
    remote.put_bytes(b"x", KEY)
    # As if the store answered other bytes under this name (a bug, a bit flip).
    original = MemoryBlobStore.read

    async def rotten(self: Any, domain_key: str, sha256: str, start: int = 0,
                     end: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in original(self, domain_key, wrong, start, end):
            yield chunk

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(MemoryBlobStore, "read", rotten)
        _read(cache, sha)
    assert cache.local_path(KEY, sha) is None


def test_a_restarted_replica_keeps_its_cache_and_drops_half_written_files(
        remote: CountingStore, tmp_path: Path) -> None:
    sha, data = _put(remote, 100)
    _read(CachingBlobStore(remote, tmp_path / "cache", 10_000), sha)
    leftover = tmp_path / "cache" / KEY / "ab" / "ab12.1234.partial"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")
    again = CachingBlobStore(remote, tmp_path / "cache", 10_000)
    assert again.local_path(KEY, sha) is not None and again.cached_bytes == 100
    assert not leftover.exists()


def test_a_deleted_blob_leaves_the_cache(remote: CountingStore, tmp_path: Path) -> None:
    cache = CachingBlobStore(remote, tmp_path / "cache", 10_000)
    sha, _ = _put(remote, 100)
    _read(cache, sha)
    cache.delete(KEY, sha)
    assert cache.local_path(KEY, sha) is None and cache.cached_bytes == 0
    assert not remote.exists(KEY, sha)
