"""The BlobStore contract: every backend must pass these (add a fixture param for a new backend)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from packyard.errors import NotFound
from packyard.storage.blobs import BlobStore
from packyard.storage.local import LocalBlobStore


@pytest.fixture(params=["local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")


def _read_all(store: BlobStore, key: str, sha: str, start: int = 0, end: int | None = None
              ) -> bytes:
    async def collect() -> bytes:
        return b"".join([c async for c in store.read(key, sha, start, end)])
    return anyio.run(collect)


def test_staged_bytes_are_invisible_until_committed(store: BlobStore) -> None:
    data = b"hello world" * 1000
    sha = hashlib.sha256(data).hexdigest()
    staged = store.stage()
    staged.write(data[:5000])
    staged.write(data[5000:])
    assert not store.exists("d1", sha)
    digests = store.commit(staged, "d1")
    assert digests.sha256 == sha
    assert digests.md5 == hashlib.md5(data).hexdigest()
    assert digests.sha512 == hashlib.sha512(data).hexdigest()
    assert digests.sha1 == hashlib.sha1(data).hexdigest()
    assert digests.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert digests.size == len(data)
    assert store.exists("d1", sha)
    assert store.size("d1", sha) == len(data)
    assert _read_all(store, "d1", sha) == data


def test_domains_are_partitioned(store: BlobStore) -> None:
    digests = store.put_bytes(b"abc", "d1")
    assert store.exists("d1", digests.sha256)
    assert not store.exists("d2", digests.sha256)


def test_equal_bytes_are_stored_once_per_domain(store: BlobStore) -> None:
    first = store.put_bytes(b"same", "d1")
    second = store.put_bytes(b"same", "d1")
    assert first == second
    assert _read_all(store, "d1", first.sha256) == b"same"


def test_discard_leaves_nothing(store: BlobStore) -> None:
    staged = store.stage()
    staged.write(b"half an upload")
    sha = hashlib.sha256(b"half an upload").hexdigest()
    store.discard(staged)
    assert not store.exists("d1", sha)
    assert store.recover() == 0


def test_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 10000
    d = store.put_bytes(data, "d1")
    assert _read_all(store, "d1", d.sha256, 10, 20) == data[10:20]
    assert _read_all(store, "d1", d.sha256, len(data) - 5) == data[-5:]


def test_missing_blob_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.size("d1", "0" * 64)
    with pytest.raises(NotFound):
        _read_all(store, "d1", "0" * 64)


def test_bad_names_are_refused(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.exists("d1", "../../etc/passwd")
    with pytest.raises(ValueError):
        store.exists("../x", "0" * 64)


def test_delete_and_delete_domain(store: BlobStore) -> None:
    a = store.put_bytes(b"a", "d1")
    b = store.put_bytes(b"b", "d1")
    store.delete("d1", a.sha256)
    assert not store.exists("d1", a.sha256)
    assert store.exists("d1", b.sha256)
    store.delete_domain("d1")
    assert not store.exists("d1", b.sha256)


def test_recover_removes_leftovers_of_dead_writers(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    # A file left by a process that no longer exists (pid far above pid_max).
    (root / ".staging" / "999999999.deadbeef.part").write_bytes(b"partial")
    assert store.recover() == 1
    assert list((root / ".staging").iterdir()) == []


def test_commit_many_stores_a_batch(store: BlobStore) -> None:
    contents = [b"first", b"second", b"first", b"third" * 1000]
    staged = []
    for data in contents:
        blob = store.stage(batched=True)
        blob.write(data)
        staged.append(blob)
    digests = store.commit_many(staged, "d1")
    assert [d.sha256 for d in digests] == [hashlib.sha256(c).hexdigest() for c in contents]
    assert [d.size for d in digests] == [len(c) for c in contents]
    for data, digest in zip(contents, digests, strict=True):
        assert _read_all(store, "d1", digest.sha256) == data
    # Equal bytes are stored once, also within one batch; nothing is left in staging.
    assert store.recover() == 0
    assert store.commit_many([], "d1") == []


def test_a_batched_blob_can_still_be_committed_alone(store: BlobStore) -> None:
    blob = store.stage(batched=True)
    blob.write(b"alone")
    digest = store.commit(blob, "d1")
    assert _read_all(store, "d1", digest.sha256) == b"alone"
