"""A large staged file that will be kept as it is goes to the disk as it is written
(``storage/staging.py``: ``sync_file_range``), so its commit's flush has little left to wait
for; files copied elsewhere or read once and deleted (an encrypted store's plaintext) do not."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from packyard.crypto.keyring import LocalKeyring
from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.encryption.providers import DomainKeys
from packyard.metadata.catalog import SqlCatalog
from packyard.storage import staging
from packyard.storage.blobs import ExpectedBlob, StagedBlob
from packyard.storage.local import LocalBlobStore
from packyard.storage.memory import MemoryBlobStore
from packyard.storage.staging import WRITE_BACK_EVERY

MiB = 1024 * 1024
PIECE = os.urandom(MiB)


class _Calls:
    """The ``sync_file_range`` calls made, per file: (offset, length) each."""

    def __init__(self) -> None:
        self.by_file: dict[str, list[tuple[int, int]]] = {}

    def __call__(self, fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == 2  # SYNC_FILE_RANGE_WRITE: start writing, do not wait
        name = os.readlink(f"/proc/self/fd/{fd}")
        assert os.fstat(fd).st_size >= offset + length  # flushed to the file first
        self.by_file.setdefault(Path(name).name, []).append((offset, length))
        return 0


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Calls]:
    if staging._sync_file_range is None:
        pytest.skip("no sync_file_range(2) here")
    recorded = _Calls()
    monkeypatch.setattr(staging, "_sync_file_range", recorded)
    yield recorded


def _write(staged: StagedBlob, mebibytes: int) -> str:
    digest = hashlib.sha256()
    for _ in range(mebibytes):
        staged.write(PIECE)
        digest.update(PIECE)
    return digest.hexdigest()


def test_a_large_file_kept_as_it_is_goes_to_the_disk_every_8_mib(
        tmp_path: Path, calls: _Calls) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    staged = store.stage(batched=True)
    sha256 = _write(staged, 20)
    assert calls.by_file == {staged.local_path.name: [(0, WRITE_BACK_EVERY),
                                                      (WRITE_BACK_EVERY, WRITE_BACK_EVERY)]}
    assert store.commit_many([staged], "d1")[0].sha256 == sha256
    assert (tmp_path / "blobs" / "d1" / sha256[:2] / sha256).stat().st_size == 20 * MiB


def test_a_small_file_is_left_to_the_commits_flush(tmp_path: Path, calls: _Calls) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    staged = store.stage()
    _write(staged, 7)
    store.commit(staged, "d1")
    assert calls.by_file == {}


def test_scratch_files_and_stores_that_copy_elsewhere_do_not(tmp_path: Path,
                                                             calls: _Calls) -> None:
    scratch = LocalBlobStore(tmp_path / "blobs").stage(batched=True, scratch=True)
    _write(scratch, 17)
    memory = MemoryBlobStore(tmp_path / "staging")
    copied = memory.stage()
    _write(copied, 17)
    assert calls.by_file == {}
    scratch.close()
    memory.discard(copied)


def test_an_encrypted_stores_plaintext_does_not_its_ciphertext_does(
        tmp_path: Path, calls: _Calls) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    keyring = LocalKeyring.in_data_dir(tmp_path)
    keys = DomainKeys(keyring, catalog, "alias/aws/codeartifact")
    catalog.create_domain("one", "000000000000", keys.for_new_domain(None), datetime.now(UTC))
    inner = LocalBlobStore(tmp_path / "blobs")
    store = EncryptingBlobStore(inner, catalog, keyring, keys)

    # An upload: staged plain, encrypted at the commit.
    uploaded = store.stage()
    plain_name = uploaded.local_path.name
    upload_sha = _write(uploaded, 9)
    assert calls.by_file == {}
    before = set((tmp_path / "blobs" / ".staging").iterdir())
    store.commit(uploaded, "d1")
    assert plain_name not in calls.by_file
    assert [offsets for offsets in calls.by_file.values()] == [[(0, WRITE_BACK_EVERY)]]
    assert not before & set((tmp_path / "blobs" / ".staging").iterdir())
    calls.by_file.clear()

    # A pull encrypted as it arrives: only its ciphertext goes to the disk as it is written.
    pulled_bytes = [os.urandom(MiB) for _ in range(9)]
    pull_sha = hashlib.sha256(b"".join(pulled_bytes)).hexdigest()
    pulled = store.stage(batched=True, expected=ExpectedBlob("d1", pull_sha))
    for piece in pulled_bytes:
        pulled.write(piece)
    assert pulled.local_path.name not in calls.by_file
    store.commit_many([pulled], "d1")
    assert len(calls.by_file) == 1 and pulled.local_path.name not in calls.by_file
    assert upload_sha != pull_sha
