"""The BlobStore contract: every backend must pass these.

A new backend is one more entry in ``_BACKENDS``: a function building it on a fresh temporary
directory, returning the store and the folder it stages in (every backend stages to local files,
``packyard/storage/staging.py``), which is where a crashed writer's leftovers are. A backend on a
real service asks for the session's server through ``request.getfixturevalue`` (``s3``: SeaweedFS,
``tests/conftest.py``; skipped where it cannot be started) and gets a key prefix of its own.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path

import anyio
import pytest

from packyard.crypto.keyring import LocalKeyring
from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.encryption.providers import DomainKeys
from packyard.errors import NotFound
from packyard.metadata.catalog import SqlCatalog
from packyard.processes import process_state
from packyard.storage.blobs import BlobStore, ExpectedBlob, StagedBlob
from packyard.storage.local import LocalBlobStore
from packyard.storage.memory import MemoryBlobStore
from packyard.storage.read_cache import CachingBlobStore
from packyard.storage.s3 import S3BlobStore, S3SharedFiles
from packyard.storage.s3_connection import S3Connection, S3Location, connect
from packyard.storage.shared_files import DirectoryFiles, SharedFiles
from tests.services import SeaweedServer


@dataclass(frozen=True)
class Backend:
    store: BlobStore
    staging_dir: Path
    # The files kept beside the blobs (``storage/shared_files.py``), where the backend has them.
    shared: SharedFiles | None = None


def _local(_request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(LocalBlobStore(tmp_path / "blobs"), tmp_path / "blobs" / ".staging",
                   DirectoryFiles(tmp_path / "blobs" / ".packyard"))


def _memory(_request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(MemoryBlobStore(tmp_path / "staging"), tmp_path / "staging")


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    server: SeaweedServer = request.getfixturevalue("seaweedfs_server")
    location = S3Location(server.bucket, server.new_prefix())
    connection = S3Connection(server.endpoint_url, server.region, server.access_key_id,
                              server.secret_access_key)
    clients = connect(location, connection)
    return Backend(S3BlobStore(clients, tmp_path / "staging"), tmp_path / "staging",
                   S3SharedFiles(clients))


def _s3_cached(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    # What replicas run: the S3 store behind a local read cache of hot blobs.
    s3 = _s3(request, tmp_path)
    return Backend(CachingBlobStore(s3.store, tmp_path / "cache", 1024 * 1024), s3.staging_dir,
                   s3.shared)


def _encrypted(base: Callable[[pytest.FixtureRequest, Path], Backend]
               ) -> Callable[[pytest.FixtureRequest, Path], Backend]:
    """``base`` behind encryption at rest, as bootstrap wires it: data keys in a catalog whose
    domains d1 to d10 exist, KEKs in a local keyring."""
    def build(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
        inner = base(request, tmp_path)
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), tmp_path / "catalog.db")
        catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
        catalog.migrate()
        request.addfinalizer(catalog.dispose)
        keyring = LocalKeyring.in_data_dir(tmp_path)
        keys = DomainKeys(keyring, catalog, "alias/aws/codeartifact")
        for n in range(1, 11):  # ids 1 to 10: blob keys d1 to d10
            catalog.create_domain(f"domain-{n}", "000000000000", keys.for_new_domain(None),
                                  datetime.now(UTC))
        return Backend(EncryptingBlobStore(inner.store, catalog, keyring, keys),
                       inner.staging_dir, inner.shared)
    return build


_PLAIN: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    "local": _local, "memory": _memory, "s3": _s3, "s3-cached": _s3_cached}
_BACKENDS = {**_PLAIN, **{f"{name}+enc": _encrypted(base) for name, base in _PLAIN.items()}}


@pytest.fixture(params=sorted(_BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _BACKENDS[request.param](request, tmp_path)


@pytest.fixture()
def store(backend: Backend) -> BlobStore:
    return backend.store


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
    assert staged.size == len(data)
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


def test_staged_bytes_are_a_local_file_until_committed(store: BlobStore) -> None:
    # Uploads are inspected (zip and tar readers seek) before they are accepted.
    staged = store.stage()
    staged.write(b"PK\x03\x04 an archive")
    digests = staged.digests()
    assert staged.local_path.read_bytes() == b"PK\x03\x04 an archive"
    assert store.commit(staged, "d1") == digests


def test_put_bytes_answers_the_digests_of_a_staged_write(store: BlobStore) -> None:
    staged = store.stage()
    staged.write(b"metadata")
    assert store.put_bytes(b"metadata", "d1") == store.commit(staged, "d1")


def test_local_path_is_the_blob_or_none(store: BlobStore) -> None:
    digests = store.put_bytes(b"served zero-copy where the backend can", "d1")
    path = store.local_path("d1", digests.sha256)
    assert path is None or path.read_bytes() == b"served zero-copy where the backend can"
    assert store.local_path("d1", "0" * 64) is None


# Where a small blob is read on the caller's thread: local files and memory, and behind
# encryption the same with the blob's data key open (an upload opens it); S3 is a round trip,
# and its read cache answers for what it holds.
_READ_NOW = {"local": True, "memory": True, "s3": False, "s3-cached": None}


def test_a_small_blob_read_now_is_its_bytes_or_none(store: BlobStore,
                                                    request: pytest.FixtureRequest) -> None:
    data = b"the first read of a small file, on the event loop's thread"
    sha256 = store.put_bytes(data, "d1").sha256
    expected = _READ_NOW[request.node.callspec.params["backend"].removesuffix("+enc")]
    now = store.read_small_now("d1", sha256, len(data))
    assert now in ((data, None) if expected is None else (data if expected else None,))
    assert store.read_small_now("d1", sha256, len(data) - 1) is None  # over the limit
    assert store.read_small_now("d2", sha256, len(data)) is None  # another domain's
    assert store.read_small_now("d1", "0" * 64, len(data)) is None  # missing


def test_domains_are_partitioned(store: BlobStore) -> None:
    digests = store.put_bytes(b"abc", "d1")
    assert store.exists("d1", digests.sha256)
    assert not store.exists("d2", digests.sha256)


def test_equal_bytes_are_stored_once_per_domain(store: BlobStore) -> None:
    first = store.put_bytes(b"same", "d1")
    second = store.put_bytes(b"same", "d1")
    assert first == second
    assert _read_all(store, "d1", first.sha256) == b"same"


def test_concurrent_commits_of_equal_bytes_all_succeed(store: BlobStore) -> None:
    # Two clients uploading the same file at once: both commits succeed, one copy is kept.
    data = os.urandom(256 * 1024)
    staged: list[StagedBlob] = []
    for _ in range(8):
        blob = store.stage()
        blob.write(data)
        staged.append(blob)
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(staged))

    def commit(blob: StagedBlob) -> None:
        start.wait()
        try:
            results.append(store.commit(blob, "d1").sha256)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(blob,)) for blob in staged]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [hashlib.sha256(data).hexdigest()] * len(staged)
    assert _read_all(store, "d1", results[0]) == data
    assert store.recover() == 0  # every staged file was consumed


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


def test_ranges_are_clipped_to_the_blob(store: BlobStore) -> None:
    data = bytes(range(256)) * 10000  # more than one read chunk
    d = store.put_bytes(data, "d1")
    assert _read_all(store, "d1", d.sha256, len(data) - 5, len(data) + 100) == data[-5:]
    assert _read_all(store, "d1", d.sha256, len(data) + 10) == b""
    assert _read_all(store, "d1", d.sha256, 7, 7) == b""
    assert _read_all(store, "d1", d.sha256, 0, None) == data


def test_an_empty_blob(store: BlobStore) -> None:
    d = store.put_bytes(b"", "d1")
    assert d.sha256 == hashlib.sha256(b"").hexdigest() and d.size == 0
    assert store.exists("d1", d.sha256) and store.size("d1", d.sha256) == 0
    assert _read_all(store, "d1", d.sha256) == b""


def test_missing_blob_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.size("d1", "0" * 64)
    with pytest.raises(NotFound):
        _read_all(store, "d1", "0" * 64)
    assert not store.exists("d1", "0" * 64)


def test_bad_names_are_refused(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.exists("d1", "../../etc/passwd")
    with pytest.raises(NotFound):
        _read_all(store, "d1", "A" * 64)  # hashes are lower-case hex
    with pytest.raises(ValueError):
        store.exists("../x", "0" * 64)
    with pytest.raises(ValueError):
        store.put_bytes(b"x", ".staging")
    with pytest.raises(ValueError):
        store.delete_domain("")


def test_delete_and_delete_domain(store: BlobStore) -> None:
    a = store.put_bytes(b"a", "d1")
    b = store.put_bytes(b"b", "d1")
    store.delete("d1", a.sha256)
    assert not store.exists("d1", a.sha256)
    assert store.exists("d1", b.sha256)
    store.delete_domain("d1")
    assert not store.exists("d1", b.sha256)


def test_deleting_what_is_not_there_is_not_an_error(store: BlobStore) -> None:
    a = store.put_bytes(b"a", "d1")
    store.delete("d1", "0" * 64)
    store.delete("d2", a.sha256)
    store.delete_domain("d3")
    store.delete("d1", a.sha256)
    store.delete("d1", a.sha256)
    assert not store.exists("d1", a.sha256)


def test_delete_domain_keeps_other_domains(store: BlobStore) -> None:
    a = store.put_bytes(b"a", "d1")
    store.put_bytes(b"a", "d2")
    store.delete_domain("d2")
    assert store.exists("d1", a.sha256) and not store.exists("d2", a.sha256)
    # A deleted domain can be used again.
    assert store.put_bytes(b"a", "d2") == a and store.exists("d2", a.sha256)


def _listed(store: BlobStore, domain_key: str | None = None, **options: int
            ) -> list[tuple[str, str]]:
    return [(blob.domain_key, blob.sha256) for blob in store.list_blobs(domain_key, **options)]


def test_list_blobs_names_each_stored_blob_in_order_with_when_it_was_stored(
        store: BlobStore) -> None:
    before = time.time()
    stored = {(key, store.put_bytes(data, key).sha256)
              for key in ("d1", "d2", "d10") for data in (b"a", b"b", key.encode())}
    store.put_bytes(b"a", "d1")  # stored once
    after = time.time()
    # Every domain's, in (domain key, sha256) order: d1, d10, d2.
    assert _listed(store) == sorted(stored)
    assert store.domain_keys() == ["d1", "d10", "d2"]
    assert _listed(store, "d2") == sorted(item for item in stored if item[0] == "d2")
    assert _listed(store, "d3") == []
    for blob in store.list_blobs():
        # An object store's LastModified has whole seconds (and its own clock).
        assert before - 2 <= blob.modified <= after + 2
        assert blob.stored_as == f"{blob.domain_key}/{blob.sha256[:2]}/{blob.sha256}"


def test_list_blobs_fetches_a_page_at_a_time_and_misses_none_between_pages(
        store: BlobStore) -> None:
    shas = sorted(store.put_bytes(str(n).encode(), "d1").sha256 for n in range(7))
    for page_size in (1, 2, 3, 1000):
        assert _listed(store, "d1", page_size=page_size) == [("d1", sha) for sha in shas]


def test_list_blobs_leaves_out_staged_writes_shared_files_and_deleted_blobs(
        backend: Backend) -> None:
    store = backend.store
    kept = store.put_bytes(b"kept", "d1").sha256
    gone = store.put_bytes(b"gone", "d1").sha256
    store.delete("d1", gone)
    staged = store.stage()  # an upload under way
    staged.write(b"half an upload")
    staged.flush()
    if backend.shared is not None:
        backend.shared.get_or_create("iam-secrets.wrapped", lambda: b"a wrapped key")
        backend.shared.get_or_create("keyring.json", lambda: b"{}")
    assert _listed(store) == [("d1", kept)]
    assert store.domain_keys() == ["d1"]
    store.delete_domain("d1")
    assert _listed(store) == []
    store.discard(staged)


def test_a_write_staged_with_its_expected_name_is_stored_and_read_as_any_other(
        backend: Backend) -> None:
    """A pull tells the store where its bytes are declared to belong (an encrypted store then
    encrypts as they are written); alone or in a batch, what is read back is what was written,
    and nothing is left in staging."""
    store = backend.store
    data = os.urandom(300 * 1024 + 7)
    other = b"its metadata file"
    sha = hashlib.sha256(data).hexdigest()
    staged = store.stage(batched=True, expected=ExpectedBlob("d1", sha))
    for start in range(0, len(data), 100 * 1024):
        staged.write(data[start:start + 100 * 1024])
    beside = store.stage(batched=True)
    beside.write(other)
    digests = store.commit_many([staged, beside], "d1")
    assert [d.sha256 for d in digests] == [sha, hashlib.sha256(other).hexdigest()]
    assert _read_all(store, "d1", sha) == data
    assert _read_all(store, "d1", sha, 1000, 70_000) == data[1000:70_000]
    assert _read_all(store, "d1", digests[1].sha256) == other
    # Alone, and again (the bytes stored already: one copy).
    for _ in range(2):
        again = store.stage(expected=ExpectedBlob("d2", sha))
        again.write(data)
        assert store.commit(again, "d2").sha256 == sha
        assert _read_all(store, "d2", sha) == data
    assert store.recover() == 0
    assert [p for p in backend.staging_dir.iterdir()] == []


def test_a_write_whose_bytes_are_not_the_expected_ones_is_stored_under_their_own_name(
        backend: Backend) -> None:
    store = backend.store
    declared = hashlib.sha256(b"what the index page said").hexdigest()
    staged = store.stage(expected=ExpectedBlob("d1", declared))
    staged.write(b"what the upstream sent")
    digests = store.commit(staged, "d1")
    assert digests.sha256 == hashlib.sha256(b"what the upstream sent").hexdigest()
    assert _read_all(store, "d1", digests.sha256) == b"what the upstream sent"
    assert not store.exists("d1", declared)
    assert [p for p in backend.staging_dir.iterdir()] == []


def test_a_write_staged_with_its_expected_name_and_discarded_leaves_nothing(
        backend: Backend) -> None:
    sha = hashlib.sha256(b"half a pull").hexdigest()
    staged = backend.store.stage(expected=ExpectedBlob("d1", sha))
    staged.write(b"half a pull")
    backend.store.discard(staged)
    assert not backend.store.exists("d1", sha)
    assert [p for p in backend.staging_dir.iterdir()] == []


def test_recover_removes_leftovers_of_dead_writers(backend: Backend) -> None:
    # A file left by a process that no longer exists (pid far above pid_max).
    (backend.staging_dir / "999999999.deadbeef.part").write_bytes(b"partial")
    assert backend.store.recover() == 1
    assert list(backend.staging_dir.iterdir()) == []


def _stage_and_wait(store: BlobStore, staged: Event, finish: Event) -> None:
    """A writer process: stage part of an upload, say so, then die when told (no clean-up)."""
    blob = store.stage()
    blob.write(b"half an upload")
    staged.set()
    finish.wait(30)
    os._exit(0)


def test_recover_keeps_live_writers_files_and_removes_them_once_they_die(
        store: BlobStore) -> None:
    # With several workers, one starting up must not remove another's upload in progress.
    fork = multiprocessing.get_context("fork")
    staged, finish = fork.Event(), fork.Event()
    writer = fork.Process(target=_stage_and_wait, args=(store, staged, finish))
    writer.start()
    try:
        assert staged.wait(30)
        assert store.recover() == 0
    finally:
        finish.set()
        writer.join(30)
    assert writer.exitcode == 0
    assert store.recover() == 1
    assert store.recover() == 0


def test_regression_recover_removes_the_files_of_a_writer_killed_and_not_yet_reaped(
        store: BlobStore) -> None:
    # kill -9 and a restart straight after: the killed process is a zombie until its parent
    # reaps it (seconds, under some inits), and a zombie's pid answers signal 0, so its files
    # were taken for a live worker's and kept until the next restart.
    fork = multiprocessing.get_context("fork")
    staged = fork.Event()
    writer = fork.Process(target=_stage_and_sleep, args=(store, staged))
    writer.start()
    try:
        assert staged.wait(30)
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_state(writer.pid) != "Z":  # dead, and not reaped: nobody has waited for it
            assert time.monotonic() < deadline, "the writer did not die"
            time.sleep(0.01)
        assert store.recover() == 1
    finally:
        writer.kill()
        writer.join(30)


def _stage_and_sleep(store: BlobStore, staged: Event) -> None:
    """A writer process killed while it writes: it waits on nothing shared (a process killed
    while waiting on a multiprocessing Event would leave that Event's ``set`` waiting for it)."""
    blob = store.stage()
    blob.write(b"half an upload")
    staged.set()
    time.sleep(60)


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


def test_a_large_blob_is_stored_whole_and_read_in_any_range(store: BlobStore) -> None:
    # Larger than what backends send in one request (S3: a multipart upload, ranged GETs).
    data = os.urandom(1024 * 1024) * 20 + b"end"
    blob = store.stage()
    for offset in range(0, len(data), 1024 * 1024):
        blob.write(data[offset:offset + 1024 * 1024])
    digest = store.commit(blob, "d1")
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert store.size("d1", digest.sha256) == len(data)
    assert hashlib.sha256(_read_all(store, "d1", digest.sha256)).digest() == hashlib.sha256(
        data).digest()
    middle = 8 * 1024 * 1024
    assert _read_all(store, "d1", digest.sha256, middle - 10, middle + 10) == data[
        middle - 10:middle + 10]
    assert _read_all(store, "d1", digest.sha256, len(data) - 3) == b"end"
    assert store.recover() == 0


def test_every_digest_is_its_hashs_whatever_the_chunks(store: BlobStore) -> None:
    # Chunks below and above the size from which the digests are split between two threads
    # (``storage/blobs.py``), bytes and memoryviews: each hash must see every byte in order.
    data = os.urandom(3 * 1024 * 1024 + 11)
    sizes = [1, 64 * 1024 - 1, 64 * 1024, 5, 1024 * 1024 + 3, 200 * 1024]
    blob = store.stage()
    offset = 0
    for size in sizes * 10:
        if offset >= len(data):
            break
        piece = memoryview(data)[offset:offset + size]
        blob.write(piece if size % 2 else bytes(piece))
        offset += size
    blob.write(data[offset:])
    digest = store.commit(blob, "d1")
    assert (digest.size, digest.md5, digest.sha1, digest.sha256, digest.sha512,
            digest.blake2_256) == (
        len(data), hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest(),
        hashlib.blake2b(data, digest_size=32).hexdigest())
    assert hashlib.sha256(_read_all(store, "d1", digest.sha256)).hexdigest() == digest.sha256


def test_concurrent_commits_of_a_large_blob_all_succeed(store: BlobStore) -> None:
    data = os.urandom(1024 * 1024) * 17
    staged: list[StagedBlob] = []
    for _ in range(3):
        blob = store.stage()
        blob.write(data)
        staged.append(blob)
    start = threading.Barrier(len(staged))
    results: list[str] = []
    errors: list[BaseException] = []

    def commit(blob: StagedBlob) -> None:
        start.wait()
        try:
            results.append(store.commit(blob, "d1").sha256)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(blob,)) for blob in staged]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [hashlib.sha256(data).hexdigest()] * len(staged)
    assert _read_all(store, "d1", results[0]) == data
    assert store.recover() == 0


def test_bytes_another_process_deleted_are_sealed_again_under_a_recorded_key(
        tmp_path: Path) -> None:
    # Two serving processes on one data directory: one sweeps a blob (its bytes and its key
    # row), the other still remembers the key and is then sent the same bytes again. What it
    # writes must be readable: under a key the catalog records, not the remembered one.
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.migrate()
    try:
        keyring = LocalKeyring.in_data_dir(tmp_path)
        keys = DomainKeys(keyring, catalog, "alias/aws/codeartifact")
        catalog.create_domain("one", "000000000000", keys.for_new_domain(None),
                              datetime.now(UTC))
        inner = LocalBlobStore(tmp_path / "blobs")
        sweeper = EncryptingBlobStore(inner, catalog, keyring, keys)
        uploader = EncryptingBlobStore(inner, catalog, keyring, keys)
        data = b"swept and sent again" * 100
        sha = uploader.put_bytes(data, "d1").sha256
        assert _read_all(sweeper, "d1", sha) == data  # both processes hold the key now
        sweeper.delete("d1", sha)
        assert catalog.data_key(1, sha) is None
        uploader.put_bytes(data, "d1")
        assert catalog.data_key(1, sha) is not None
        fresh = EncryptingBlobStore(inner, catalog, keyring, keys)  # a third, cold process
        assert _read_all(fresh, "d1", sha) == data
    finally:
        catalog.dispose()
