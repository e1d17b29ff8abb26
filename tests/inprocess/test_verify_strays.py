"""Stray blobs (stored, and never recorded: what an upload or a pull killed between its bytes and
its rows leaves) listed by ``packyard verify`` on every store, and deleted by
``--delete-strays`` only while nothing names them."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from packyard.cli.main import main
from packyard.encryption import verification
from packyard.encryption.blob_store import EncryptingBlobStore
from packyard.encryption.verification import delete_strays, stray_blobs
from packyard.services.blob_sweeper import BlobSweeper
from packyard.storage.blobs import BlobStore
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import DistFactory, DistSpec, upload
from tests.services import SeaweedServer

TWO_HOURS_AGO = time.time() - 2 * 3600


def _verify(packyard: InProcessPackyard, *options: str,
            env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", "--data-dir", str(packyard.settings.data_dir),
                                       *options], env=env)
    return result.exit_code, result.stdout


def _blobs(packyard: InProcessPackyard) -> EncryptingBlobStore:
    """The server's blob store (encryption at rest is on)."""
    encryption = packyard.container.encryption
    assert encryption is not None
    return encryption.blobs


def _inner(packyard: InProcessPackyard) -> BlobStore:
    """The store holding the files."""
    return _blobs(packyard).inner


def test_verify_delete_strays_deletes_what_it_lists_and_nothing_else(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    kept = dists.wheel(DistSpec(name="kept", version="1.0"))
    assert upload(repo, kept).status_code == 200
    blobs = packyard.settings.blob_dir
    # What an upload killed after storing its bytes leaves: ciphertext and a data key row.
    killed = _blobs(packyard).put_bytes(b"an upload killed before its rows", "d1")
    stray = blobs / "d1.enc" / killed.sha256[:2] / killed.sha256
    os.utime(stray, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    in_flight = _blobs(packyard).put_bytes(b"an upload being recorded", "d1")
    # The plain copy an interrupted packyard encrypt left beside the ciphertext.
    plain = blobs / "d1" / kept.sha256[:2] / kept.sha256
    plain.parent.mkdir(parents=True)
    plain.write_bytes(kept.path.read_bytes())
    os.utime(plain, (TWO_HOURS_AGO, TWO_HOURS_AGO))

    code, text = _verify(packyard)
    assert code == 0, text
    lines = text.splitlines()
    assert f"2 stray file(s) under {blobs} that nothing serves:" in lines
    assert f"  stray: d1/{kept.sha256[:2]}/{kept.sha256}" in lines
    assert f"  stray: d1.enc/{killed.sha256[:2]}/{killed.sha256}" in lines
    assert "packyard verify --delete-strays deletes them" in " ".join(text.split())
    assert stray.exists() and plain.exists()

    code, report = _verify(packyard, "--delete-strays", "--output", "json")
    assert code == 0, report
    listed = [f"d1.enc/{killed.sha256[:2]}/{killed.sha256}",
              f"d1/{kept.sha256[:2]}/{kept.sha256}"]
    assert sorted(json.loads(report)["stray"]) == sorted(listed)
    assert sorted(json.loads(report)["deleted"]) == sorted(listed)
    assert not stray.exists() and not plain.exists()
    assert packyard.container.catalog.data_key(1, killed.sha256) is None  # its key went too
    # The upload in flight (younger than an hour) and the recorded file are untouched.
    assert _blobs(packyard).exists("d1", in_flight.sha256)
    got = repo.get(f"simple/kept/{kept.filename}")
    assert hashlib.sha256(got.content).hexdigest() == kept.sha256
    code, text = _verify(packyard, "--delete-strays")
    assert code == 0 and "stray: " not in text and "0 stray file(s) deleted" in text, text


def test_a_stray_recorded_between_listing_and_deletion_is_not_deleted(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    """The bytes of a file whose upload was killed, sent again and recorded after verify
    listed them as a stray and before it deleted them: the row keeps them."""
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="again", version="1.0"))
    _blobs(packyard).put_bytes(dist.path.read_bytes(), "d1")  # the killed upload
    path = packyard.settings.blob_dir / "d1.enc" / dist.sha256[:2] / dist.sha256
    os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    encryption = packyard.container.encryption
    assert encryption is not None
    catalog = packyard.container.catalog
    strays = list(stray_blobs(catalog, encryption.blobs.inner))
    assert [stray.stored_as for stray in strays] == [
        f"d1.enc/{dist.sha256[:2]}/{dist.sha256}"]

    assert upload(repo, dist).status_code == 200  # recorded meanwhile
    deleted = delete_strays(strays, encryption.blobs.inner, catalog,
                            packyard.container.registry.sweeper.sweep_strays)
    assert deleted == []
    assert path.exists()
    got = repo.get(f"simple/again/{dist.filename}")
    assert hashlib.sha256(got.content).hexdigest() == dist.sha256
    assert list(stray_blobs(catalog, encryption.blobs.inner)) == []


@pytest.fixture
def on_s3(packyard_factory: PackyardFactory, seaweedfs_server: SeaweedServer,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InProcessPackyard, dict[str, str]]]:
    """A Packyard whose blobs are in SeaweedFS (encryption at rest on, the local keyring), and
    the environment its commands need."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_access_key)
    blob_store = f"s3://{seaweedfs_server.bucket}/{seaweedfs_server.new_prefix('strays')}"
    packyard = packyard_factory(blob_store=blob_store,
                                s3_endpoint_url=seaweedfs_server.endpoint_url)
    yield packyard, {"PACKYARD_BLOB_STORE": blob_store,
                     "PACKYARD_S3_ENDPOINT_URL": seaweedfs_server.endpoint_url}


def test_regression_a_stray_left_by_a_killed_upload_on_s3_is_listed_and_can_be_deleted(
        on_s3: tuple[InProcessPackyard, dict[str, str]], dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """verify walked only a directory store's files: on S3 the objects a killed upload or
    pull left were never listed, and nothing could reclaim them."""
    packyard, env = on_s3
    repo = packyard.pypi_repo()
    kept = dists.wheel(DistSpec(name="kept", version="1.0"))
    assert upload(repo, kept).status_code == 200
    killed = _blobs(packyard).put_bytes(b"an upload killed before its rows", "d1")
    name = f"d1.enc/{killed.sha256[:2]}/{killed.sha256}"
    inner = _inner(packyard)
    assert inner.exists("d1.enc", killed.sha256)

    # Stored a moment ago: maybe an upload being recorded, so no stray yet.
    code, report = _verify(packyard, "--delete-strays", "--output", "json", env=env)
    assert code == 0, report
    assert json.loads(report)["stray"] == [] and json.loads(report)["deleted"] == []
    assert inner.exists("d1.enc", killed.sha256)

    # An hour on (an object's LastModified cannot be set back): listed, then deleted.
    monkeypatch.setattr(verification, "STRAY_AGE_SECONDS", 0)
    code, text = _verify(packyard, env=env)
    assert code == 0, text
    assert f"1 stray file(s) under {env['PACKYARD_BLOB_STORE']} that nothing serves:" in \
        text.splitlines()
    assert f"  stray: {name}" in text.splitlines()
    code, text = _verify(packyard, "--delete-strays", env=env)
    assert code == 0, text
    assert text.splitlines()[-2:] == ["1 stray file(s) deleted:", f"  deleted: {name}"]
    assert not inner.exists("d1.enc", killed.sha256)
    # What is left is what the catalog records (the wheel, and its METADATA file).
    assert [blob.sha256 for blob in inner.list_blobs()] == [
        row.sha256 for row in packyard.container.catalog.blob_rows()]
    got = repo.get(f"simple/kept/{kept.filename}")
    assert hashlib.sha256(got.content).hexdigest() == kept.sha256


def test_regression_verify_on_s3_read_its_read_cache_not_the_store(
        on_s3: tuple[InProcessPackyard, dict[str, str]], dists: DistFactory,
        seaweedfs_server: SeaweedServer) -> None:
    """verify read S3 blobs through the data directory's read cache: every file it checked was
    copied to local disk, and a later run found the copies there, so a file deleted from (or
    lost by) the bucket since was reported ok."""
    packyard, env = on_s3
    dist = dists.wheel(DistSpec(name="lost", version="1.0"))
    assert upload(packyard.pypi_repo(), dist).status_code == 200
    code, text = _verify(packyard, env=env)
    assert code == 0, text
    prefix = env["PACKYARD_BLOB_STORE"].split("/", 3)[3]
    seaweedfs_server.client().delete_object(
        Bucket=seaweedfs_server.bucket, Key=f"{prefix}/d1.enc/{dist.sha256[:2]}/{dist.sha256}")

    code, text = _verify(packyard, env=env)
    assert code == 1, text
    assert "1 missing" in text
    assert f"({dist.filename})" in text, text


def test_verify_of_one_domain_lists_only_its_strays(packyard: InProcessPackyard,
                                                     tmp_path: Path) -> None:
    one = packyard.pypi_repo("one")
    packyard.pypi_repo("two")
    ids = {name: packyard.container.catalog.get_domain(
        packyard.settings.account_id, name, with_stats=False).id for name in ("one", "two")}
    names = {}
    for name, domain_id in ids.items():
        digests = _blobs(packyard).put_bytes(name.encode(), f"d{domain_id}")
        path = packyard.settings.blob_dir / f"d{domain_id}.enc" / digests.sha256[:2] / \
            digests.sha256
        os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
        names[name] = f"d{domain_id}.enc/{digests.sha256[:2]}/{digests.sha256}"
    code, report = _verify(packyard, "--domain", one.domain, "--delete-strays", "--output",
                           "json")
    assert code == 0, report
    assert json.loads(report)["stray"] == [names["one"]] == json.loads(report)["deleted"]
    code, report = _verify(packyard, "--output", "json")
    assert json.loads(report)["stray"] == [names["two"]]


def test_verify_delete_strays_names_each_stray_it_kept(
        packyard: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listed stray the sweep would not delete (recorded since it was listed, or the store
    refused) is said as kept, with why, beside the count of those deleted."""
    packyard.pypi_repo()  # domain d1
    killed = _blobs(packyard).put_bytes(b"an upload killed before its rows", "d1")
    path = packyard.settings.blob_dir / "d1.enc" / killed.sha256[:2] / killed.sha256
    os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    # What the sweep answers for a blob a row names by the time it looks: none deleted.
    monkeypatch.setattr(BlobSweeper, "sweep_strays", lambda *_args: [])
    code, text = _verify(packyard, "--delete-strays")
    assert code == 0, text
    name = f"d1.enc/{killed.sha256[:2]}/{killed.sha256}"
    assert text.splitlines()[-2:] == [
        "0 stray file(s) deleted",
        f"  kept: {name}: recorded since it was listed, or the blob store would not delete it "
        "(see the log)"]
    assert path.exists()
