"""A small encrypted blob read on the event loop's thread (``EncryptingBlobStore.read_small_now``):
its data key opened there when the catalog's row is a point read and the provider unwraps
without waiting (the local keyring), else only when it is open in memory already; a blob
stored plain is read plain; and whatever ``read`` refuses (tampering) is None here, so that
``read`` refuses it and logs it as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from packyard.crypto.errors import TamperedBlob
from packyard.crypto.keyring import LocalKeyring
from packyard.crypto.keys import KeyProvider
from packyard.encryption.blob_store import EncryptingBlobStore, sealed_partition
from packyard.encryption.providers import DomainKeys
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.point_reads import WouldWait
from packyard.storage.local import LocalBlobStore

DATA = b"a small wheel, encrypted at rest"


class _Data:
    def __init__(self, tmp_path: Path, catalog: SqlCatalog) -> None:
        self.inner = LocalBlobStore(tmp_path / "blobs")
        self.catalog = catalog
        self.keyring = LocalKeyring.in_data_dir(tmp_path)
        self.keys = DomainKeys(self.keyring, catalog, "alias/aws/codeartifact")
        catalog.create_domain("one", "000000000000", self.keys.for_new_domain(None),
                              datetime.now(UTC))  # blob key d1

    def store(self, provider: KeyProvider | None = None) -> EncryptingBlobStore:
        """A store as another process opens it: no data key open in memory."""
        return EncryptingBlobStore(self.inner, self.catalog, provider or self.keyring,
                                   self.keys)


@pytest.fixture
def data(tmp_path: Path) -> Iterator[_Data]:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    yield _Data(tmp_path, catalog)
    catalog.dispose()


def _read(store: EncryptingBlobStore, sha256: str) -> bytes:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in store.read("d1", sha256)])
    return anyio.run(collect)


def test_a_cold_store_opens_the_data_key_on_the_callers_thread(data: _Data) -> None:
    sha256 = data.store().put_bytes(DATA, "d1").sha256
    assert data.store().read_small_now("d1", sha256, len(DATA)) == DATA


class _RoundTripOnly:
    """The keyring without ``decrypt_data_key_now``: as KMS and transit, it may wait."""

    def __init__(self, inner: LocalKeyring) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "decrypt_data_key_now":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_a_provider_that_unwraps_only_by_round_trip_is_left_to_read(data: _Data) -> None:
    sha256 = data.store().put_bytes(DATA, "d1").sha256
    store = data.store(_RoundTripOnly(data.keyring))
    assert store.read_small_now("d1", sha256, len(DATA)) is None
    assert _read(store, sha256) == DATA  # opens the key, in a worker thread
    assert store.read_small_now("d1", sha256, len(DATA)) == DATA


def test_a_catalog_that_would_wait_is_left_to_read(data: _Data,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sha256 = data.store().put_bytes(DATA, "d1").sha256

    def would_wait(*_args: object) -> None:
        raise WouldWait

    monkeypatch.setattr(data.catalog, "data_key_now", would_wait)  # PostgreSQL's answer
    assert data.store().read_small_now("d1", sha256, len(DATA)) is None


def test_a_blob_stored_before_encryption_is_read_plain(data: _Data) -> None:
    sha256 = data.inner.put_bytes(DATA, "d1").sha256  # no data key
    store = data.store()
    assert store.read_small_now("d1", sha256, len(DATA)) == _read(store, sha256) == DATA


def test_a_tampered_blob_is_none_now_and_refused_by_read(data: _Data) -> None:
    sha256 = data.store().put_bytes(DATA, "d1").sha256
    path = data.inner.local_path(sealed_partition("d1"), sha256)
    assert path is not None
    sealed = bytearray(path.read_bytes())
    sealed[-1] ^= 1
    path.chmod(0o600)
    path.write_bytes(bytes(sealed))
    store = data.store()
    assert store.read_small_now("d1", sha256, len(DATA)) is None
    with pytest.raises(TamperedBlob):
        _read(store, sha256)
