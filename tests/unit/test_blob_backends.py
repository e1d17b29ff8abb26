"""Choosing the blob store from the settings, and the service layer on a backend without files."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from packyard.auth.principal import root_principal
from packyard.bootstrap import build_services
from packyard.cli import main
from packyard.cli.imports import import_files
from packyard.errors import CannotStart
from packyard.formats.bulk_import import BulkImporter, find_files
from packyard.formats.pypi.attributes import metadata_sha256
from packyard.formats.pypi.plugin import DIST_SUFFIXES
from packyard.formats.pypi.publish import PypiPublisher
from packyard.settings import load_settings
from packyard.storage.backends import (
    check_blob_store,
    open_blob_store,
    open_shared_files,
    staging_dir,
)
from packyard.storage.local import LocalBlobStore
from packyard.storage.memory import MemoryBlobStore
from packyard.storage.read_cache import CachingBlobStore
from packyard.storage.s3 import S3BlobStore
from packyard.storage.s3_connection import S3Location
from packyard.storage.shared_files import DirectoryFiles
from tests.unit.pypi_samples import build_sdist, build_wheel

ROOT = root_principal("000000000000")


def test_the_default_is_the_data_directorys_blobs_folder(tmp_path: Path) -> None:
    store = open_blob_store(load_settings(environ={}, data_dir=tmp_path))
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"


def test_a_directory_puts_blobs_there(tmp_path: Path) -> None:
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": str(tmp_path / "other-disk")},
                             data_dir=tmp_path / "data")
    store = open_blob_store(settings)
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "other-disk"


def test_the_default_keeps_its_shared_files_in_the_data_directory(tmp_path: Path) -> None:
    files = open_shared_files(load_settings(environ={}, data_dir=tmp_path))
    assert isinstance(files, DirectoryFiles) and files.directory == tmp_path


def test_regression_a_directory_store_keeps_its_shared_files_beside_its_blobs(
        tmp_path: Path) -> None:
    """They were in the data directory whatever the store: a store moved by migrate-storage
    (or shared by replicas) had none, and the key went into the source's data directory."""
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": str(tmp_path / "other-disk")},
                             data_dir=tmp_path / "data")
    files = open_shared_files(settings)
    assert files.get_or_create("iam-secrets.key", lambda: b"new") == b"new"
    assert (tmp_path / "other-disk" / ".packyard" / "iam-secrets.key").read_bytes() == b"new"
    assert not (tmp_path / "data" / "iam-secrets.key").exists()


def test_a_directory_stores_files_kept_in_the_data_directory_before_are_still_its_own(
        tmp_path: Path) -> None:
    """An install given --blob-store DIR before its shared files moved beside the blobs keeps
    its key, and a rotation or a removal changes that key, not a second copy."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "iam-secrets.wrapped").write_bytes(b"old")
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": str(tmp_path / "other-disk")},
                             data_dir=data)
    files = open_shared_files(settings)
    assert files.get_or_create("iam-secrets.wrapped", lambda: b"new") == b"old"
    files.replace("iam-secrets.wrapped", b"rotated")
    assert (data / "iam-secrets.wrapped").read_bytes() == b"rotated"
    assert files.read("iam-secrets.wrapped") == b"rotated"
    files.remove("iam-secrets.wrapped")
    assert files.read("iam-secrets.wrapped") is None
    assert not (data / "iam-secrets.wrapped").exists()


def test_memory_keeps_blobs_in_memory_and_stages_in_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": "memory://"}, data_dir=tmp_path)
    store = open_blob_store(settings)
    assert isinstance(store, MemoryBlobStore)
    staged = store.stage()
    assert staged.local_path.parent == tmp_path / "blobs" / ".staging"
    store.discard(staged)


def test_memory_is_refused_with_several_workers(tmp_path: Path) -> None:
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": "memory://"}, data_dir=tmp_path,
                             workers=2)
    with pytest.raises(ValueError) as refused:
        open_blob_store(settings)
    assert str(refused.value) == (
        "PACKYARD_BLOB_STORE=memory:// keeps blobs in one process's memory; it cannot serve "
        "several workers (use --workers 1)")


def test_an_unknown_scheme_is_refused(tmp_path: Path) -> None:
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": "gs://bucket/prefix"},
                             data_dir=tmp_path)
    with pytest.raises(ValueError) as refused:
        open_blob_store(settings)
    assert str(refused.value) == (
        "PACKYARD_BLOB_STORE: no blob store backend for 'gs://bucket/prefix'; use a directory "
        "path, memory:// or s3://BUCKET/PREFIX")


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://bucket", "bucket", ""),
    ("s3://bucket/", "bucket", ""),
    ("s3://bucket/packyard/blobs/", "bucket", "packyard/blobs"),
])
def test_an_s3_url_names_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert S3Location.parse(url) == S3Location(bucket, prefix)


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://bucket/prefix?versionId=1"])
def test_a_bad_s3_url_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_blob_store(load_settings(environ={"PACKYARD_BLOB_STORE": url}, data_dir=tmp_path))
    assert str(refused.value) == f"PACKYARD_BLOB_STORE: {url!r} is not an s3://BUCKET/PREFIX URL"


def _no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    # Never ask the instance metadata service (a link-local address) from a test.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_s3_without_credentials_is_refused_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_aws_credentials(monkeypatch, tmp_path)
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": "s3://bucket/prefix"},
                             data_dir=tmp_path)
    with pytest.raises(CannotStart) as refused:
        open_blob_store(settings)
    assert str(refused.value) == (
        "PACKYARD_BLOB_STORE=s3://bucket/prefix: no AWS credentials found; set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run with an instance "
        "or container role)")


def test_serve_refuses_s3_without_credentials_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_aws_credentials(monkeypatch, tmp_path)
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data")],
                                env={"PACKYARD_BLOB_STORE": "s3://bucket/prefix"})
    assert result.exit_code == 2, result.output
    assert ("error: PACKYARD_BLOB_STORE=s3://bucket/prefix: no AWS credentials found" in
            " ".join(result.output.split()))


def test_s3_with_credentials_opens_an_s3_store_staging_in_the_data_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": "s3://bucket/prefix",
                                      "PACKYARD_S3_ENDPOINT_URL": "http://127.0.0.1:9"},
                             data_dir=tmp_path)
    store = open_blob_store(settings)  # no request is made until a blob is asked for
    # Behind the local read cache of hot blobs (default 1 GiB, in the data directory).
    assert isinstance(store, CachingBlobStore) and store.max_bytes == 1024 ** 3
    assert isinstance(store.inner, S3BlobStore) and store.inner.location == "s3://bucket/prefix"
    staged = store.stage()
    assert staged.local_path.parent == tmp_path / "blobs" / ".staging" == staging_dir(settings)
    store.discard(staged)


def test_s3_without_a_read_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = load_settings(environ={"PACKYARD_BLOB_STORE": "s3://bucket/prefix",
                                      "PACKYARD_BLOB_CACHE_BYTES": "0"}, data_dir=tmp_path)
    assert isinstance(open_blob_store(settings), S3BlobStore)


def test_serve_refuses_an_unknown_blob_store_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path)],
                                env={"PACKYARD_BLOB_STORE": "gs://bucket"})
    assert result.exit_code == 2
    assert "error: PACKYARD_BLOB_STORE: no blob store backend for 'gs://bucket'" in (
        " ".join(result.output.split()))
    assert not (tmp_path / "packyard.db").exists()


def test_import_refuses_a_memory_blob_store(tmp_path: Path) -> None:
    build_wheel(tmp_path, name="alpha", version="1.0")
    result = CliRunner().invoke(import_files, [
        "--data-dir", str(tmp_path / "data"), "--domain", "dom", "--repository", "repo",
        str(tmp_path)], env={"PACKYARD_BLOB_STORE": "memory://", "PACKYARD_DATA_DIR": None})
    assert result.exit_code == 2
    assert ("error: PACKYARD_BLOB_STORE=memory:// keeps blobs inside the server's process; "
            "packyard import can only add files to a server whose blobs are on disk or in S3") in (
        " ".join(result.stderr.split()))


def test_publishing_and_reading_on_a_store_without_files(tmp_path: Path) -> None:
    """Uploads are inspected from staging and reads stream, when blobs have no local path."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    services = build_services(load_settings(environ={"PACKYARD_BLOB_STORE": "memory://"},
                                            data_dir=data_dir))
    try:
        # Encrypted (the default) into the memory store.
        assert services.encryption is not None
        assert isinstance(services.encryption.blobs.inner, MemoryBlobStore)
        services.registry.create_domain(ROOT, "dom")
        services.registry.create_repository(ROOT, "dom", "repo", None)
        domain, repository = services.registry.get_repository("dom", "repo")
        dists = tmp_path / "dists"
        dists.mkdir()
        wheel = build_wheel(dists, name="alpha", version="1.0")
        build_sdist(dists, name="alpha", version="1.0")
        publisher = PypiPublisher(services.registry, services.settings.max_upload_bytes)
        importer = BulkImporter(publisher, services.blobs, ROOT, domain, repository, 10)
        results = [r for batch in importer.run(find_files([dists], DIST_SUFFIXES))
                   for r in batch]
        assert [(r.path.name, r.status) for r in results] == [
            ("alpha-1.0-py3-none-any.whl", "imported"), ("alpha-1.0.tar.gz", "imported")]

        found = services.catalog.find_asset(repository.id, "pypi", "alpha", wheel.name)
        assert found is not None
        asset = found[1]
        assert metadata_sha256(asset.attributes) is not None  # read from the staged file before commit
        assert services.blobs.local_path(domain.blob_key, asset.sha256) is None

        async def read() -> bytes:
            return b"".join([c async for c in services.blobs.read(domain.blob_key,
                                                                  asset.sha256)])
        assert anyio.run(read) == wheel.read_bytes()
        # Nothing was written to disk but staging, and staging is empty again.
        assert [p for p in (data_dir / "blobs").rglob("*") if p.is_file()] == []
    finally:
        services.catalog.dispose()


# -- an object store that cannot be reached ---------------------------------------------------

def _unreachable_store(tmp_path: Path) -> S3BlobStore:
    from packyard.storage.s3_connection import S3Connection, connect
    from tests.integration.helpers import free_port

    connection = S3Connection(f"http://127.0.0.1:{free_port()}", "us-east-1", "KEY", "SECRET")
    return S3BlobStore(connect(S3Location("bucket", "p"), connection), tmp_path / "staging")


def test_storing_in_an_unreachable_object_store_is_unavailable_not_a_crash(
        tmp_path: Path) -> None:
    from packyard.storage.s3 import BlobStoreUnavailable

    store = _unreachable_store(tmp_path)
    staged = store.stage()
    staged.write(b"a wheel")
    with pytest.raises(BlobStoreUnavailable, match="^The blob store is unavailable right now; "
                                                   "try again shortly$") as refused:
        store.commit(staged, "dom")
    assert refused.value.retry_after_seconds == 5
    with pytest.raises(BlobStoreUnavailable):
        store.put_bytes(b"metadata", "dom")
    with pytest.raises(BlobStoreUnavailable):
        store.size("dom", "0" * 64)


def test_reading_from_an_unreachable_object_store_is_unavailable(tmp_path: Path) -> None:
    from packyard.storage.s3 import BlobStoreUnavailable

    store = _unreachable_store(tmp_path)

    async def first_chunk() -> None:
        async for _ in store.read("dom", "0" * 64):
            break

    with pytest.raises(BlobStoreUnavailable):
        anyio.run(first_chunk)
