"""The SharedFiles contract (``storage/shared_files.py``): where every process of one Packyard
finds the IAM secrets key (or its wrapped key). Run on a directory and on SeaweedFS (the bucket replicas share)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from packyard.iam.secrets import KEY_FILE, SecretBox
from packyard.storage.s3 import S3SharedFiles
from packyard.storage.s3_connection import S3Connection, S3Location, connect
from packyard.storage.shared_files import DirectoryFiles, SharedFiles
from tests.services import SeaweedServer

# Two handles on the same place, as two replicas (or processes) hold them.
Pair = tuple[SharedFiles, SharedFiles]


def _directory(_request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    return DirectoryFiles(tmp_path / "data"), DirectoryFiles(tmp_path / "data")


def _beside_blobs(_request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    """A directory store's (``<store>/.packyard/``, read in the data directory before)."""
    return tuple(DirectoryFiles(tmp_path / "store" / ".packyard", earlier=tmp_path / "data")
                 for _ in range(2))  # type: ignore[return-value]


def _s3(request: pytest.FixtureRequest, _tmp_path: Path) -> Pair:
    server: SeaweedServer = request.getfixturevalue("seaweedfs_server")
    location = S3Location(server.bucket, server.new_prefix())
    connection = S3Connection(server.endpoint_url, server.region, server.access_key_id,
                              server.secret_access_key)
    return (S3SharedFiles(connect(location, connection)),
            S3SharedFiles(connect(location, connection)))


_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Pair]] = {
    "directory": _directory, "beside-blobs": _beside_blobs, "s3": _s3}


@pytest.fixture(params=sorted(_BACKENDS))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    return _BACKENDS[request.param](request, tmp_path)


def test_a_file_nobody_created_reads_as_none(pair: Pair) -> None:
    assert pair[0].read("absent") is None


def test_the_first_process_creates_and_the_others_read_its_bytes(pair: Pair) -> None:
    first, second = pair
    assert first.get_or_create("k", lambda: b"one") == b"one"
    assert second.get_or_create("k", lambda: b"two") == b"one"
    assert second.read("k") == b"one"


def test_processes_racing_to_create_all_get_the_winners_bytes(pair: Pair) -> None:
    got: list[bytes] = []
    start = threading.Barrier(6)

    def create(files: SharedFiles, n: int) -> None:
        start.wait()
        got.append(files.get_or_create("raced", lambda: f"value-{n}".encode()))

    threads = [threading.Thread(target=create, args=(pair[n % 2], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 6 and len(set(got)) == 1, got


def test_two_replicas_get_the_same_secrets_key(pair: Pair) -> None:
    first, second = pair
    sealed = SecretBox.from_shared_files(first).encrypt("s3cret")
    assert SecretBox.from_shared_files(second).decrypt(sealed) == "s3cret"


def test_a_damaged_secrets_key_is_named_with_where_it_is(pair: Pair) -> None:
    pair[0].get_or_create(KEY_FILE, lambda: b"not a key\n")
    with pytest.raises(ValueError, match=rf"{KEY_FILE} in .* is not a Fernet key"):
        SecretBox.from_shared_files(pair[1])


def test_a_directory_file_is_owner_only(tmp_path: Path) -> None:
    DirectoryFiles(tmp_path).get_or_create("k", lambda: b"x")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary file left


def test_a_replaced_file_reads_as_its_new_bytes_everywhere(pair: Pair) -> None:
    # ``packyard keys rotate`` re-wrapping iam-secrets.wrapped.
    first, second = pair
    first.get_or_create("wrapped", lambda: b"old")
    second.replace("wrapped", b"new")
    assert first.read("wrapped") == b"new"


def test_a_removed_file_is_gone_everywhere_and_removing_twice_is_fine(pair: Pair) -> None:
    # An iam-secrets.key migrated onto the key provider.
    first, second = pair
    first.get_or_create("old-key", lambda: b"key")
    second.remove("old-key")
    second.remove("old-key")
    assert first.read("old-key") is None
