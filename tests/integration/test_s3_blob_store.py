"""What the S3 blob store promises beyond the BlobStore contract, on a real SeaweedFS: replicas
sharing a bucket see each other's blobs at once, an object is created and never replaced,
racing multipart uploads leave nothing behind, and recover aborts abandoned uploads."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from packyard.storage import s3
from packyard.storage.s3 import S3BlobStore
from packyard.storage.s3_connection import S3Connection, S3Location, connect
from tests.services import SeaweedServer


def _replica(server: SeaweedServer, prefix: str, staging: Path) -> S3BlobStore:
    """One Packyard process's store: its own clients and staging folder, the shared prefix."""
    connection = S3Connection(server.endpoint_url, server.region, server.access_key_id,
                              server.secret_access_key)
    return S3BlobStore(connect(S3Location(server.bucket, prefix), connection), staging)


def _read(store: S3BlobStore, sha256: str) -> bytes:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in store.read("dom", sha256)])
    return anyio.run(collect)


@pytest.fixture()
def prefix(seaweedfs_server: SeaweedServer) -> str:
    return seaweedfs_server.new_prefix("replicas")


def test_a_committed_blob_is_in_the_store_for_every_replica(
        seaweedfs_server: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    # The durability order: commit returns once the store has the object, so a catalog row
    # written next never points at a blob another replica cannot read.
    first = _replica(seaweedfs_server, prefix, tmp_path / "a")
    second = _replica(seaweedfs_server, prefix, tmp_path / "b")
    staged = first.stage()
    staged.write(b"a wheel")
    digest = first.commit(staged, "dom")
    assert second.exists("dom", digest.sha256)
    assert _read(second, digest.sha256) == b"a wheel"
    key = f"{prefix}/dom/{digest.sha256[:2]}/{digest.sha256}"
    head = seaweedfs_server.client().head_object(Bucket=seaweedfs_server.bucket, Key=key)
    assert head["ContentLength"] == len(b"a wheel")


@pytest.mark.parametrize("size", [1024, 20 * 1024 * 1024], ids=["one-put", "multipart"])
def test_an_object_is_created_never_replaced(
        seaweedfs_server: SeaweedServer, prefix: str, tmp_path: Path, size: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _replica(seaweedfs_server, prefix, tmp_path / "staging")
    # As if another replica created it after this one looked: only the write's own condition
    # (If-None-Match on the PUT, or on CompleteMultipartUpload) keeps the object.
    monkeypatch.setattr(store, "_exists", lambda name: False)
    data = os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()
    key = f"{prefix}/dom/{sha256[:2]}/{sha256}"
    # Something already at the key (it could only be these bytes; other ones show whether a
    # commit sends a conditional create or overwrites).
    seaweedfs_server.client().put_object(Bucket=seaweedfs_server.bucket, Key=key, Body=b"first")
    staged = store.stage()
    staged.write(data)
    assert store.commit(staged, "dom").sha256 == sha256
    assert _read(store, sha256) == b"first"
    assert not staged.local_path.exists()


def test_replicas_racing_with_a_large_file_store_it_once_and_leave_no_upload(
        seaweedfs_server: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024) * 18
    replicas = [_replica(seaweedfs_server, prefix, tmp_path / f"r{n}") for n in range(3)]
    staged = []
    for replica in replicas:
        blob = replica.stage()
        blob.write(data)
        staged.append(blob)
    start = threading.Barrier(len(replicas))
    errors: list[BaseException] = []

    def commit(replica: S3BlobStore, blob: s3.StagedBlob) -> None:
        start.wait()
        try:
            replica.commit(blob, "dom")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=pair)
               for pair in zip(replicas, staged, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sha256 = hashlib.sha256(data).hexdigest()
    assert _read(replicas[0], sha256) == data
    client = seaweedfs_server.client()
    uploads = client.list_multipart_uploads(Bucket=seaweedfs_server.bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == []
    listed = client.list_objects_v2(Bucket=seaweedfs_server.bucket, Prefix=prefix)
    assert [item["Key"] for item in listed["Contents"]] == [
        f"{prefix}/dom/{sha256[:2]}/{sha256}"]


def test_recover_aborts_abandoned_multipart_uploads_only(
        seaweedfs_server: SeaweedServer, prefix: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _replica(seaweedfs_server, prefix, tmp_path / "staging")
    client, bucket = seaweedfs_server.client(), seaweedfs_server.bucket
    client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/dom/ab/abandoned")
    elsewhere = seaweedfs_server.new_prefix("other")
    other = client.create_multipart_upload(Bucket=bucket, Key=f"{elsewhere}/dom/ab/x")
    assert store.recover() == 0  # begun just now: a live writer's, maybe
    monkeypatch.setattr(s3, "_STALE_UPLOAD", timedelta(seconds=-60))  # everything is stale
    assert store.recover() == 1
    assert client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []) == []
    # Uploads outside the store's prefix are not its own.
    others = client.list_multipart_uploads(Bucket=bucket, Prefix=elsewhere)["Uploads"]
    assert [upload["UploadId"] for upload in others] == [other["UploadId"]]
    client.abort_multipart_upload(Bucket=bucket, Key=f"{elsewhere}/dom/ab/x",
                                  UploadId=other["UploadId"])


def test_recover_clears_staging_even_when_uploads_cannot_be_listed(
        seaweedfs_server: SeaweedServer, prefix: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    refused = S3Connection(seaweedfs_server.endpoint_url, seaweedfs_server.region,
                           seaweedfs_server.access_key_id, "not-the-secret")
    store = S3BlobStore(connect(S3Location(seaweedfs_server.bucket, prefix), refused),
                        tmp_path / "staging")
    (tmp_path / "staging" / "999999999.deadbeef.part").write_bytes(b"partial")
    assert store.recover() == 1  # a start-up is not stopped by the sweep
    assert "could not list multipart uploads in s3://" in caplog.text


def test_list_blobs_leaves_out_unfinished_uploads_and_objects_of_other_prefixes(
        seaweedfs_server: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    store = _replica(seaweedfs_server, prefix, tmp_path / "staging")
    kept = store.put_bytes(b"kept", "dom").sha256
    client, bucket = seaweedfs_server.client(), seaweedfs_server.bucket
    sha = hashlib.sha256(b"a large upload under way").hexdigest()
    upload = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/dom/{sha[:2]}/{sha}")
    client.upload_part(Bucket=bucket, Key=f"{prefix}/dom/{sha[:2]}/{sha}",
                       UploadId=upload["UploadId"], PartNumber=1, Body=b"a part")
    # A prefix that starts with this store's (``…-1`` beside ``…-10``) is another store's.
    client.put_object(Bucket=bucket, Key=f"{prefix}0/dom/{kept[:2]}/{kept}", Body=b"other")
    client.put_object(Bucket=bucket, Key=f"{prefix}/dom/{kept[:2]}/not-a-blob", Body=b"x")
    try:
        assert [(blob.domain_key, blob.sha256) for blob in store.list_blobs()] == \
            [("dom", kept)]
        assert store.domain_keys() == ["dom"]
    finally:
        client.abort_multipart_upload(Bucket=bucket, Key=f"{prefix}/dom/{sha[:2]}/{sha}",
                                      UploadId=upload["UploadId"])
