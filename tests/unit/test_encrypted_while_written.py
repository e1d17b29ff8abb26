"""A pulled file encrypted as it is written (``encryption/sealed_while_written.py``): the
ciphertext made with the download under a key made for the declared sha256 is what the commit
keeps, without reading the staged plaintext again; when it cannot be (bytes not as declared,
another writer's key recorded first, no key made) the commit encrypts as for an upload, and
nothing made for it is left behind."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, UnknownKey
from packyard.crypto.keyring import LocalKeyring
from packyard.crypto.keys import DataKey, WrappedKey
from packyard.encryption import rotation, sealed_while_written
from packyard.encryption.blob_store import EncryptingBlobStore, sealed_partition
from packyard.encryption.providers import DomainKeys
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.data_keys import StoredDataKey
from packyard.storage.blobs import ExpectedBlob, StagedBlob
from packyard.storage.local import LocalBlobStore

DATA = os.urandom(200 * 1024 + 3)
SHA = hashlib.sha256(DATA).hexdigest()


class _Data:
    def __init__(self, tmp_path: Path, catalog: SqlCatalog) -> None:
        self.root = tmp_path / "blobs"
        self.inner = LocalBlobStore(self.root)
        self.catalog = catalog
        self.keyring = LocalKeyring.in_data_dir(tmp_path)
        self.keys = DomainKeys(self.keyring, catalog, "alias/aws/codeartifact")
        catalog.create_domain("one", "000000000000", self.keys.for_new_domain(None),
                              datetime.now(UTC))  # blob key d1
        self.made = 0

    def store(self) -> EncryptingBlobStore:
        return EncryptingBlobStore(self.inner, self.catalog, self.keyring, self.keys)

    def staging(self) -> list[Path]:
        return sorted((self.root / ".staging").iterdir())


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Data]:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    made = _Data(tmp_path, catalog)
    generate = made.keyring.generate_data_key

    def counted(key_ref: str, context: EncryptionContext) -> DataKey:
        made.made += 1
        return generate(key_ref, context)

    monkeypatch.setattr(made.keyring, "generate_data_key", counted)
    yield made
    catalog.dispose()


def _read(store: EncryptingBlobStore, sha256: str) -> bytes:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in store.read("d1", sha256)])
    return anyio.run(collect)


def _pulled(store: EncryptingBlobStore, data: bytes = DATA, sha256: str = SHA) -> StagedBlob:
    staged = store.stage(batched=True, expected=ExpectedBlob("d1", sha256))
    for start in range(0, len(data), 64 * 1024):
        staged.write(data[start:start + 64 * 1024])
    return staged


def test_a_pulled_file_is_kept_as_the_ciphertext_made_while_it_was_written(
        data: _Data) -> None:
    """The commit does not read the staged plaintext again: changed on disk after it was
    written (which the second pass refuses: ``_seal``), the blob kept is still the bytes that
    were written and hashed."""
    store = data.store()
    staged = _pulled(store)
    assert staged.digests().sha256 == SHA
    staged.local_path.write_bytes(b"changed after it was written")
    assert store.commit(staged, "d1").sha256 == SHA
    assert _read(data.store(), SHA) == DATA  # a cold store: the key from its row
    row = data.catalog.data_key(1, SHA)
    assert row is not None and row.plaintext_size == len(DATA)
    assert data.inner.size(sealed_partition("d1"), SHA) == \
        store._layout.ciphertext_size(len(DATA))
    assert data.made == 1 and data.staging() == []


def test_its_key_is_made_on_the_first_write_not_when_it_is_staged(data: _Data) -> None:
    """Staging happens on the event loop; making a key may ask a KMS or transit over the
    network, so it waits for the first write (a worker thread's)."""
    store = data.store()
    staged = store.stage(batched=True, expected=ExpectedBlob("d1", SHA))
    assert data.made == 0
    staged.write(DATA)
    assert data.made == 1
    store.commit(staged, "d1")
    assert _read(store, SHA) == DATA


def test_a_batch_keeps_the_ciphertext_made_while_written_beside_one_sealed_at_commit(
        data: _Data) -> None:
    store = data.store()
    metadata = store.stage(batched=True)
    metadata.write(b"Metadata-Version: 2.1")
    wheel = _pulled(store)
    wheel.local_path.write_bytes(b"changed after it was written")
    digests = store.commit_many([wheel, metadata], "d1")
    assert _read(data.store(), digests[0].sha256) == DATA
    assert _read(data.store(), digests[1].sha256) == b"Metadata-Version: 2.1"
    assert data.staging() == []


def test_bytes_not_as_declared_are_encrypted_at_commit_and_the_early_ciphertext_dropped(
        data: _Data) -> None:
    store = data.store()
    staged = _pulled(store, b"other bytes", SHA)
    digests = store.commit(staged, "d1")
    assert digests.sha256 == hashlib.sha256(b"other bytes").hexdigest()
    assert _read(data.store(), digests.sha256) == b"other bytes"
    assert data.catalog.data_key(1, SHA) is None
    assert data.staging() == []


def test_a_key_another_writer_recorded_first_wins_and_ours_is_dropped(data: _Data) -> None:
    """Two pulls of the same bytes (two file names, or two processes): the first commit's key
    is the blob's; the second's ciphertext, under a key no row holds, is thrown away."""
    first, second = data.store(), data.store()
    one, two = _pulled(first), _pulled(second)
    first.commit(one, "d1")
    row = data.catalog.data_key(1, SHA)
    second.commit(two, "d1")
    assert data.catalog.data_key(1, SHA) == row
    assert _read(data.store(), SHA) == DATA
    assert data.staging() == []


def test_bytes_the_domain_holds_already_are_not_stored_again(data: _Data) -> None:
    store = data.store()
    store.put_bytes(DATA, "d1")
    row = data.catalog.data_key(1, SHA)
    store.commit(_pulled(store), "d1")
    assert data.catalog.data_key(1, SHA) == row
    assert _read(data.store(), SHA) == DATA
    assert data.staging() == []


def test_a_failed_pull_leaves_no_key_row_and_no_staged_file(data: _Data) -> None:
    store = data.store()
    staged = _pulled(store)
    store.discard(staged)
    assert data.catalog.data_key(1, SHA) is None
    assert data.staging() == []


def test_a_key_that_cannot_be_made_while_written_is_made_at_commit(
        data: _Data, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The provider failing for the early key (a KMS away for a moment) does not fail the
    pull: the plaintext is written as before and encrypted at commit."""
    store = data.store()
    generate = data.keyring.generate_data_key
    calls: list[str] = []

    def once_failing(key_ref: str, context: EncryptionContext) -> DataKey:
        calls.append(key_ref)
        if len(calls) == 1:
            raise OSError("key service away")
        return generate(key_ref, context)

    monkeypatch.setattr(data.keyring, "generate_data_key", once_failing)
    with caplog.at_level(logging.WARNING, logger="packyard.encryption"):
        staged = _pulled(store)
    assert "could not encrypt" in caplog.text
    store.commit(staged, "d1")
    assert len(calls) == 2
    assert _read(data.store(), SHA) == DATA
    assert data.staging() == []


def test_a_large_files_plaintext_is_handed_to_the_encrypting_helper_a_mebibyte_at_a_time(
        data: _Data, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-over per network read cost more CPU than the encryption it moved: the first
    ``_HELPED_FROM`` bytes are encrypted on the writer's thread, then a batch per mebibyte;
    what the caller's reused buffer held when it was written is what is kept."""
    monkeypatch.setattr(sealed_while_written, "_HELPED_FROM", 1024 * 1024)
    handed: list[int] = []
    real = sealed_while_written.on_helper

    def counted(work: Callable[[], object]) -> Future[object] | None:
        handed.append(1)
        return real(work)

    monkeypatch.setattr(sealed_while_written, "on_helper", counted)
    store = data.store()
    whole = os.urandom(3 * 1024 * 1024 + 5)
    staged = store.stage(batched=True,
                         expected=ExpectedBlob("d1", hashlib.sha256(whole).hexdigest()))
    buffer = bytearray(64 * 1024)
    for start in range(0, len(whole), len(buffer)):
        piece = whole[start:start + len(buffer)]
        buffer[:len(piece)] = piece
        staged.write(memoryview(buffer)[:len(piece)])  # the same buffer, refilled each time
    staged.local_path.write_bytes(b"changed after it was written")  # not read again
    sha256 = store.commit(staged, "d1").sha256
    assert len(handed) == 3  # the first mebibyte here, two more on the helper, then the rest
    assert _read(data.store(), sha256) == whole
    assert data.staging() == []


def test_a_helper_failing_on_the_last_batch_leaves_the_encryption_to_the_commit(
        data: _Data, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def failing(_encryptor: object, _chunks: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(sealed_while_written, "_encrypt_all", failing)
    monkeypatch.setattr(sealed_while_written, "_HELPED_FROM", 64 * 1024)
    store = data.store()
    staged = _pulled(store)
    with caplog.at_level(logging.WARNING, logger="packyard.encryption"):
        assert store.commit(staged, "d1").sha256 == SHA
    assert "could not finish encrypting" in caplog.text
    assert _read(data.store(), SHA) == DATA
    assert data.staging() == []


def test_regression_a_key_provider_away_is_logged_in_one_line_without_a_traceback(
        data: _Data, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # Was: with transit down, every upload and pull logged "could not encrypt … as it was
    # pulled" (uploads too) with a full traceback, beside the one-line error its client got.
    def away(key_ref: str, context: EncryptionContext) -> DataKey:
        raise KeyUnavailable("The transit server did not answer: connection refused")

    monkeypatch.setattr(data.keyring, "generate_data_key", away)
    with caplog.at_level(logging.DEBUG, logger="packyard.encryption"):
        staged = _pulled(data.store())
    data.store().discard(staged)
    [record] = [r for r in caplog.records if "could not encrypt" in r.getMessage()]
    assert record.exc_info is None
    # At debug: the request's own line says why it failed, an outage's start is logged once.
    assert record.levelno == logging.DEBUG
    assert "The transit server did not answer" in record.getMessage()
    assert "as it was written" in record.getMessage()


def test_regression_a_pull_under_way_during_keys_rotate_stays_readable(data: _Data) -> None:
    # A pull (or an upload whose form declares its sha256) makes its data key at its first
    # write and records it at commit. `packyard keys rotate` run in between re-wraps every row
    # it finds, sees none left below the new version and retires the old one; the row recorded
    # after that names the retired version: with the local keyring, whose retirement drops the
    # material, the file never opens again ("tampered"); with transit, not until
    # min_decryption_version is lowered.
    store = data.store()
    staged = store.stage(batched=True, expected=ExpectedBlob("d1", SHA))
    staged.write(DATA[:64 * 1024])  # the key is made now, at the key's current version
    rotation.rotate(data.catalog, data.keyring, data.keys.kek_of(1))
    for start in range(64 * 1024, len(DATA), 64 * 1024):
        staged.write(DATA[start:start + 64 * 1024])
    store.commit(staged, "d1")
    assert _read(data.store(), SHA) == DATA  # a store that has not opened its key yet


def test_regression_a_key_recorded_between_a_rotations_passes_is_rewrapped_before_retiring(
        data: _Data, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server wraps a blob's data key just before the transaction that records it: one wrapped
    # under the old version as `keys rotate` began may be recorded after the rotation's first
    # pass. The rotation looks again before retiring that version.
    kek = data.keys.kek_of(1)
    context = EncryptionContext("d1", SHA)
    early = data.keyring.generate_data_key(kek, context)
    row = StoredDataKey(1, SHA, data.keyring.name, early.wrapped.key_id,
                        early.wrapped.key_version, early.wrapped.ciphertext, len(DATA))
    monkeypatch.setattr(rotation.time, "sleep",
                        lambda _seconds: data.catalog.add_data_key(row, datetime.now(UTC)))
    report = rotation.rotate(data.catalog, data.keyring, kek, settle_seconds=1.0)
    kept = data.catalog.data_key(1, SHA)
    assert kept is not None and early.wrapped.key_version in report.retired
    assert kept.key_version == report.version
    assert data.keyring.decrypt_data_key(
        WrappedKey(kept.key_id, kept.key_version, kept.wrapped), context) == early.plaintext


def test_regression_a_key_deleted_at_the_provider_while_a_pull_is_written_is_named_not_a_404(
        data: _Data, monkeypatch: pytest.MonkeyPatch) -> None:
    # The data key made at the first write is wrapped again as it is recorded: a KEK deleted
    # at the provider meanwhile was the provider's ``UnknownKey`` there, a ``NotFound`` (404
    # "No ... key" for an upload or a pull), where opening or making a key says the key is
    # gone and how to restore it (500).
    store = data.store()
    staged = _pulled(store)

    def deleted(key_ref: str, plaintext: bytes, context: EncryptionContext) -> WrappedKey:
        raise UnknownKey(f"No key {key_ref!r}")

    monkeypatch.setattr(data.keyring, "wrap_data_key", deleted)
    with pytest.raises(KeyUnavailable, match="no longer exists at the key provider"):
        store.commit(staged, "d1")
    assert data.catalog.data_key(1, SHA) is None


def test_a_key_without_versions_is_not_wrapped_again_at_the_commit(
        data: _Data, monkeypatch: pytest.MonkeyPatch) -> None:
    # The re-wrap at the commit is for keys a ``keys rotate`` retires versions of; a provider
    # whose keys have none (KMS) would be asked once more per pulled file for nothing.
    generate = data.keyring.generate_data_key

    def unversioned(key_ref: str, context: EncryptionContext) -> DataKey:
        made = generate(key_ref, context)
        return DataKey(made.plaintext, WrappedKey(made.wrapped.key_id, None,
                                                  made.wrapped.ciphertext))

    def asked_again(key_ref: str, plaintext: bytes, context: EncryptionContext) -> WrappedKey:
        raise AssertionError("wrapped again")

    monkeypatch.setattr(data.keyring, "generate_data_key", unversioned)
    monkeypatch.setattr(data.keyring, "wrap_data_key", asked_again)
    store = data.store()
    store.commit(_pulled(store), "d1")
    row = data.catalog.data_key(1, SHA)
    assert row is not None and row.key_version is None
