"""``packyard migrate-storage``: an embedded install with real uploads, IAM users and tokens,
copied onto PostgreSQL and SeaweedFS, serves the same files byte for byte there; a run stopped
half-way resumes; the source is only read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from packyard.cli.main import main
from packyard.errors import Invalid
from packyard.iam.shared_secrets import ServerSecrets
from packyard.metadata.catalog import SqlCatalog
from packyard.services.storage_migration import migrate_storage
from packyard.settings import Settings
from packyard.storage.backends import open_blob_store
from packyard.storage.s3 import S3BlobStore
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, settings_for
from tests.integration.helpers import DistFactory, DistSpec, upload
from tests.openbao import OpenBao
from tests.services import PostgresServer, SeaweedServer

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Target:
    settings: Settings
    database_url: str
    blob_store: str


@pytest.fixture
def target(postgres_server: PostgresServer, seaweedfs_server: SeaweedServer, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_access_key)
    database = postgres_server.new_name("moved")
    postgres_server.create_database(database)
    url = postgres_server.url(database)
    blob_store = f"s3://{seaweedfs_server.bucket}/{seaweedfs_server.new_prefix('moved')}"
    settings = settings_for(tmp_path / "replica", database_url=url, blob_store=blob_store,
                            s3_endpoint_url=seaweedfs_server.endpoint_url, encryption="off")
    yield Target(settings, url, blob_store)
    postgres_server.drop_database(database)


@pytest.fixture
def packyard(packyard_factory: PackyardFactory) -> InProcessPackyard:
    """A source with encryption off (its IAM secrets key still wrapped by its local keyring, as
    every data directory since encryption at rest: the destination gets the key unwrapped)."""
    return packyard_factory(encryption="off")


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def _pages(repo: InProcessRepo, project: str) -> dict[str, bytes]:
    page_url = repo.endpoint + f"simple/{project}/"
    with repo.client() as http:
        page = http.get(page_url, headers=JSON_V1).json()
        return {entry["filename"]: http.get(str(httpx.URL(page_url).join(entry["url"]))).content
                for entry in page["files"]}


def _on(app: InProcessPackyard, repo: InProcessRepo) -> InProcessRepo:
    return InProcessRepo(repo.server_url, repo.domain, repo.repository, repo.endpoint,
                         repo.token, transport=app.transport)


def test_an_install_moved_serves_every_file_byte_for_byte_with_its_users_and_tokens(
        packyard: InProcessPackyard, target: Target, dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    for n in range(3):
        for dist in dists.both(DistSpec(name="pkg", version=f"1.{n}")):
            assert upload(repo, dist).status_code == 200
    assert packyard.container.iam_store is not None
    packyard.container.iam_store.create_user("ci", "/", NOW)
    key, secret = packyard.container.iam_store.create_access_key("ci", NOW)
    (packyard.settings.data_dir / "credentials.json").write_text(json.dumps(
        {"access_key_id": "AKIAMOVEDROOT0000000", "secret_access_key": "moved-secret"}))
    before = _tree(packyard.settings.data_dir)
    served = _pages(repo, "pkg")

    report = migrate_storage(packyard.settings, target.settings)
    assert report.blobs_copied >= 6 and report.rows > 0
    assert _tree(packyard.settings.data_dir) == before  # the source is only read

    moved = InProcessPackyard(target.settings, packyard.portal, packyard._clients)
    try:
        again = _on(moved, repo)  # the token minted before the move
        assert _pages(again, "pkg") == served
        assert moved.container.iam_store is not None
        assert moved.container.iam_store.access_key_secret(key.id) == secret
        # New rows get new ids (the sequences moved past the copied ones).
        assert upload(again, dists.wheel(DistSpec(name="pkg", version="2.0"))).status_code == 200
        assert moved.pypi_repo("another", "shelf").token
        secrets = ServerSecrets(moved.container.catalog.engines,  # type: ignore[attr-defined]
                                moved.container.iam_store._box)
        assert json.loads(secrets.read("root-credentials") or "{}")["access_key_id"] == \
            "AKIAMOVEDROOT0000000"
    finally:
        moved.close()


def test_a_run_stopped_half_way_resumes(packyard: InProcessPackyard, target: Target,
                                        dists: DistFactory,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = packyard.pypi_repo()
    for n in range(4):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}"))).status_code \
            == 200
    commit = S3BlobStore.commit
    calls = []

    def crash_on_the_third(self: S3BlobStore, staged: Any, domain_key: str) -> Any:
        calls.append(domain_key)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as Ctrl-C (or a crash) in the middle
        return commit(self, staged, domain_key)

    with monkeypatch.context() as patched:
        patched.setattr(S3BlobStore, "commit", crash_on_the_third)
        with pytest.raises(KeyboardInterrupt):
            migrate_storage(packyard.settings, target.settings)
    catalog = SqlCatalog(target.database_url)
    try:
        assert catalog.list_domains() == []  # no row before every blob is there
    finally:
        catalog.dispose()
    report = migrate_storage(packyard.settings, target.settings)
    assert report.blobs_present == 2 and report.blobs_copied > 0  # wheels and their metadata
    again = migrate_storage(packyard.settings, target.settings)
    assert again.rows_present and again.blobs_copied == 0


def test_a_database_in_use_is_refused(packyard: InProcessPackyard, target: Target) -> None:
    packyard.pypi_repo()
    catalog = SqlCatalog(target.database_url)
    try:
        catalog.migrate()
        catalog.create_domain("other", "000000000000", "", NOW)
        catalog.create_domain("third", "000000000000", "", NOW)
    finally:
        catalog.dispose()
    with pytest.raises(Invalid, match=r"the destination database is not empty \(domains\); "
                                      "migrate into a new database"):
        migrate_storage(packyard.settings, target.settings)


def test_the_command_says_what_it_copied_and_how_to_start(packyard: InProcessPackyard,
                                                          target: Target) -> None:
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(packyard.settings.data_dir),
        "--to-database-url", target.database_url, "--to-blob-store", target.blob_store],
        env={"PACKYARD_S3_ENDPOINT_URL": str(target.settings.s3_endpoint_url)})
    assert result.exit_code == 0, result.output
    assert "copied 0 file(s) (0 already there) and " in result.output
    assert f"start the replicas with --database-url {target.database_url}" in result.output


def test_migrating_into_the_source_database_is_refused(packyard: InProcessPackyard) -> None:
    with pytest.raises(Invalid, match="--to-database-url is the source database"):
        migrate_storage(packyard.settings, packyard.settings)


def test_progress_is_reported_per_table(packyard: InProcessPackyard, target: Target) -> None:
    seen: list[str] = []
    migrate_storage(packyard.settings, target.settings, lambda what, done, total: seen.append(
        what))
    assert "tables" in seen


def test_an_install_encrypted_with_the_local_keyring_is_refused_before_anything_is_copied(
        packyard_factory: PackyardFactory, target: Target, dists: DistFactory) -> None:
    source = packyard_factory()  # encryption on, the local keyring: the default
    assert upload(source.pypi_repo(), dists.wheel(DistSpec(name="pkg", version="1.0"))) \
        .status_code == 200
    with pytest.raises(Invalid, match=r"this data directory's files are encrypted under its "
                                      r"local keyring \(keyring.json\), which replicas on one "
                                      "database cannot share; moving them to "
                                      "PACKYARD_KEY_PROVIDER=transit or kms is not supported "
                                      "yet"):
        migrate_storage(source.settings, target.settings)
    assert not open_blob_store(target.settings).exists("d1.enc", "0" * 64)


def test_an_install_encrypted_on_transit_moves_as_ciphertext_and_serves_byte_for_byte(
        packyard_factory: PackyardFactory, data_dir: Path, target: Target, dists: DistFactory,
        openbao: OpenBao) -> None:
    transit = {"key_provider": "transit", "transit_url": openbao.url,
               "transit_token": openbao.root_token, "default_encryption_key": openbao.new_key()}
    for name in ("iam-secrets.wrapped", "keyring.json"):  # the template's, made on local
        (data_dir / name).unlink()
    source = packyard_factory(**transit)
    repo = source.pypi_repo()
    for n in range(2):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}"))).status_code \
            == 200
    assert source.container.iam_store is not None
    source.container.iam_store.create_user("ci", "/", NOW)
    key, secret = source.container.iam_store.create_access_key("ci", NOW)
    served = _pages(repo, "pkg")
    with pytest.raises(Invalid, match="encrypted with keys of PACKYARD_KEY_PROVIDER=transit: "
                                      "migrate with the same provider"):
        migrate_storage(source.settings, dataclasses.replace(target.settings, encryption="on"))

    moved_settings = dataclasses.replace(target.settings, encryption="on", **transit)
    report = migrate_storage(source.settings, moved_settings)
    assert report.blobs_copied >= 2
    raw = open_blob_store(dataclasses.replace(moved_settings, blob_cache_bytes=0))
    shas = {hashlib.sha256(data).hexdigest() for data in served.values()}
    assert all(raw.exists("d1.enc", sha) and not raw.exists("d1", sha) for sha in shas)
    moved = InProcessPackyard(moved_settings, source.portal, source._clients)
    try:
        assert _pages(_on(moved, repo), "pkg") == served
        assert moved.container.iam_store is not None
        assert moved.container.iam_store.access_key_secret(key.id) == secret
    finally:
        moved.close()
