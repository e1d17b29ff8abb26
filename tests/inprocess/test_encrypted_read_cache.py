"""A replica's read cache under encryption at rest: ciphertext is named by the plaintext's
sha256, and read by segments, so the cache is filled by a whole download (``fetch_whole``,
checked by size; every segment is authenticated as it is decrypted), then served from local
disk, also while the object store is down (``tests/integration/test_replicas.py`` does the
same through real replicas)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from packyard.crypto.keyring import LocalKeyring
from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.encryption.providers import DomainKeys
from packyard.metadata.catalog import SqlCatalog
from packyard.storage.read_cache import CachingBlobStore
from packyard.storage.s3 import BlobStoreUnavailable
from tests.unit.test_blob_read_cache import CountingStore

KEY = "d1"


def _read(store: Any, sha256: str, start: int = 0, end: int | None = None) -> bytes:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in store.read(KEY, sha256, start, end)])
    return anyio.run(collect)


@pytest.fixture
def stores(tmp_path: Path) -> Any:
    remote = CountingStore(tmp_path / "staging")
    cache = CachingBlobStore(remote, tmp_path / "cache", 10_000_000)
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    keyring = LocalKeyring.in_data_dir(tmp_path)
    keys = DomainKeys(keyring, catalog, "alias/aws/codeartifact")
    catalog.create_domain("one", "000000000000", keys.for_new_domain(None), datetime.now(UTC))
    yield remote, cache, EncryptingBlobStore(cache, catalog, keyring, keys)
    catalog.dispose()


def test_a_whole_download_fills_the_cache_and_is_served_while_the_store_is_down(
        stores: Any) -> None:
    remote, cache, encrypted = stores
    data = os.urandom(200_000)  # several segments
    sha = encrypted.put_bytes(data, KEY).sha256
    assert _read(encrypted, sha) == data
    assert cache.local_path(KEY + ".enc", sha) is not None
    remote.down = True
    reads = remote.reads
    assert _read(encrypted, sha) == data
    assert _read(encrypted, sha, 70_000, 140_000) == data[70_000:140_000]
    assert remote.reads == reads


def test_a_range_read_goes_to_the_store_and_keeps_nothing(stores: Any) -> None:
    remote, cache, encrypted = stores
    data = os.urandom(200_000)
    sha = encrypted.put_bytes(data, KEY).sha256
    assert _read(encrypted, sha, 1000, 2000) == data[1000:2000]
    assert cache.local_path(KEY + ".enc", sha) is None
    remote.down = True
    with pytest.raises(BlobStoreUnavailable):
        _read(encrypted, sha, 1000, 2000)
