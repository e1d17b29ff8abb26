"""``packyard migrate-storage``: an embedded install with real uploads, IAM users and tokens,
copied onto PostgreSQL and SeaweedFS, serves the same files byte for byte there; a run stopped
half-way resumes; the source is only read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from packyard.cli.main import main
from packyard.errors import Invalid
from packyard.iam.shared_secrets import ServerSecrets
from packyard.metadata.catalog import SqlCatalog
from packyard.services import storage_migration
from packyard.services.storage_migration import migrate_storage
from packyard.settings import Settings
from packyard.storage.backends import open_blob_store, open_shared_files
from packyard.storage.s3 import S3BlobStore
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, settings_for
from tests.integration.helpers import DistFactory, DistSpec, free_port, upload
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
    # The source's own pages are rendered after each upload, in the background: done before
    # the snapshot, so that only what the migration does to the source is compared.
    assert packyard.container.catalog.flush_rendered_pages(timeout=30)
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
    with pytest.raises(Invalid, match=r"the destination database is not empty \(domains\) "
                                      "and holds another install's domains or users; migrate "
                                      "into a new database"):
        migrate_storage(packyard.settings, target.settings)


def test_regression_a_database_holding_as_many_domains_of_another_install_is_refused(
        packyard: InProcessPackyard, target: Target, dists: DistFactory) -> None:
    """Another install with one domain, as this one has: not taken for an earlier run of this
    copy ("rows already copied", exit 0, and none of this install's rows copied)."""
    repo = packyard.pypi_repo()
    dist = dists.wheel(DistSpec(name="pkg", version="1.0"))
    assert upload(repo, dist).status_code == 200
    catalog = SqlCatalog(target.database_url)
    try:
        catalog.migrate()
        catalog.create_domain(repo.domain, "000000000000", "", NOW)  # same name, another one
    finally:
        catalog.dispose()
    with pytest.raises(Invalid, match=r"the destination database is not empty \(domains\) "
                                      "and holds another install's domains or users"):
        migrate_storage(packyard.settings, target.settings)
    # Refused before a file was copied: the bucket prefix is as it was.
    store = open_blob_store(target.settings)
    assert not any(store.exists(f"d{n}", dist.sha256) for n in range(1, 4))


def test_the_command_says_what_it_copied_and_how_to_start(packyard: InProcessPackyard,
                                                          target: Target) -> None:
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(packyard.settings.data_dir),
        "--to-database-url", target.database_url, "--to-blob-store", target.blob_store],
        env={"PACKYARD_S3_ENDPOINT_URL": str(target.settings.s3_endpoint_url)})
    assert result.exit_code == 0, result.output
    assert "copied 0 file(s) (0 already there) and " in result.output
    assert f"start the replicas with --database-url {target.database_url}" in result.output


def test_regression_an_unreachable_database_is_one_line_naming_it_without_its_password(
        packyard: InProcessPackyard, tmp_path: Path) -> None:
    """A database that is down, or a wrong host, port or name, was a SQLAlchemy traceback
    (``packyard serve`` met it the same way: the first connection is the migration's)."""
    port = free_port()  # nobody listens there
    url = f"postgresql://packyard:s3cret-pw@127.0.0.1:{port}/packyard"
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(packyard.settings.data_dir),
        "--to-database-url", url, "--to-blob-store", str(tmp_path / "blobs")])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit)
    line = " ".join(result.output.split())
    assert line.startswith(f"error: cannot reach the database postgresql+psycopg://packyard:***"
                           f"@127.0.0.1:{port}/packyard: connection failed: ")
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output


def test_regression_a_blob_store_refusing_the_credentials_is_one_line_before_any_copy(
        packyard: InProcessPackyard, target: Target, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong S3 credentials were an obstore traceback from the middle of the copy."""
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(Invalid, match=rf"cannot use the blob store {target.blob_store}: "
                                      r"\w+Error: .*403.* \(nothing was copied\)"):
        migrate_storage(packyard.settings, target.settings)
    catalog = SqlCatalog(target.database_url)
    try:
        assert catalog.list_domains() == []
    finally:
        catalog.dispose()


def test_regression_an_install_keeping_its_files_in_another_directory_moves_with_blob_store(
        packyard_factory: PackyardFactory, target: Target, dists: DistFactory,
        tmp_path: Path) -> None:
    """A server given --blob-store /elsewhere could not be moved: migrate-storage looked in
    DATA_DIR/blobs only (no option to say otherwise) and stopped with a FileNotFoundError
    traceback."""
    packyard = packyard_factory(encryption="off", blob_store=str(tmp_path / "elsewhere"))
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    args = ["migrate-storage", "--data-dir", str(packyard.settings.data_dir),
            "--to-database-url", target.database_url, "--to-blob-store", target.blob_store]
    env = {"PACKYARD_S3_ENDPOINT_URL": str(target.settings.s3_endpoint_url)}
    missed = CliRunner().invoke(main, args, env=env)
    assert missed.exit_code == 2, missed.output
    assert "is missing, though the database lists it: if the server keeps its files " \
           "elsewhere, pass its --blob-store" in " ".join(missed.output.split())
    moved = CliRunner().invoke(main, [*args, "--blob-store", str(tmp_path / "elsewhere")],
                               env=env)
    assert moved.exit_code == 0, moved.output
    assert "copied 2 file(s) (0 already there)" in moved.output


def test_regression_a_move_onto_a_directory_store_keeps_its_shared_files_beside_its_blobs(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """``--to-blob-store DIRECTORY`` wrote IAM's secrets key into the SOURCE data directory
    (the destination's settings came with it): the source was written to, and the destination
    had no key, so a server on it could not read the copied secret access keys."""
    repo = packyard.pypi_repo()
    assert upload(repo, dists.wheel(DistSpec(name="pkg", version="1.0"))).status_code == 200
    assert packyard.container.iam_store is not None
    packyard.container.iam_store.create_user("ci", "/", NOW)
    key, secret = packyard.container.iam_store.create_access_key("ci", NOW)
    assert packyard.container.catalog.flush_rendered_pages(timeout=30)
    before = _tree(packyard.settings.data_dir)
    served = _pages(repo, "pkg")
    store, database = tmp_path / "moved-blobs", f"sqlite:///{tmp_path / 'moved.db'}"

    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(packyard.settings.data_dir),
        "--to-database-url", database, "--to-blob-store", str(store)],
        env={"PACKYARD_ENCRYPTION": "off"})
    assert result.exit_code == 0, result.output
    assert _tree(packyard.settings.data_dir) == before  # the source is only read
    assert (store / ".packyard" / "iam-secrets.key").is_file()

    moved = InProcessPackyard(settings_for(tmp_path / "replica", database_url=database,
                                           blob_store=str(store), encryption="off"),
                              packyard.portal, packyard._clients)
    try:
        assert moved.container.iam_store is not None
        assert moved.container.iam_store.access_key_secret(key.id) == secret
        assert _pages(_on(moved, repo), "pkg") == served
    finally:
        moved.close()


def test_migrating_into_the_source_database_is_refused(packyard: InProcessPackyard) -> None:
    with pytest.raises(Invalid, match="--to-database-url is the source database"):
        migrate_storage(packyard.settings, packyard.settings)


def test_progress_is_reported_per_table(packyard: InProcessPackyard, target: Target) -> None:
    seen: list[str] = []
    migrate_storage(packyard.settings, target.settings, lambda what, done, total: seen.append(
        what))
    assert "tables" in seen


# -- an install under its local keyring, moved onto transit -------------------------------------

LOCAL_REFUSAL = ("this data directory's files are encrypted under its local keyring "
                 "(keyring.json), which replicas on one database cannot share: migrate with "
                 "--to-key-provider transit or kms (and that provider's settings, "
                 "PACKYARD_DEFAULT_ENCRYPTION_KEY naming its key), which moves their keys there")


@dataclass
class LocalInstall:
    """An install encrypted under its local keyring (the default): two domains, ``acme`` on
    the default key and ``beta`` on a key of its own, with the same wheel in both."""

    app: InProcessPackyard
    repos: list[InProcessRepo]
    beta_key: str  # the ARN of beta's local key
    access_key: tuple[str, str]

    def served(self) -> dict[str, dict[str, bytes]]:
        return {repo.domain: _pages(repo, "pkg") for repo in self.repos}


@pytest.fixture
def local_install(packyard_factory: PackyardFactory, dists: DistFactory) -> LocalInstall:
    app = packyard_factory()  # encryption on, the local keyring: the default
    repos = [app.pypi_repo("acme")]  # domain 1
    beta_key = app.aws("kms").create_key(Description="beta's own")["KeyMetadata"]["Arn"]
    app.codeartifact().create_domain(domain="beta", encryptionKey=beta_key)
    repos.append(app.pypi_repo("beta"))
    shared = dists.wheel(DistSpec(name="pkg", version="0.1"))
    for repo in repos:
        assert upload(repo, shared).status_code == 200
        for n in range(2):
            version = f"1.{n}" if repo.domain == "acme" else f"3.{n}"
            for dist in dists.both(DistSpec(name="pkg", version=version)):
                assert upload(repo, dist).status_code == 200
    assert app.container.iam_store is not None
    app.container.iam_store.create_user("ci", "/", NOW)
    key, secret = app.container.iam_store.create_access_key("ci", NOW)
    (app.settings.data_dir / "credentials.json").write_text(json.dumps(
        {"access_key_id": "AKIAMOVEDROOT0000000", "secret_access_key": "moved-secret"}))
    return LocalInstall(app, repos, beta_key, (key.id, secret))


@dataclass
class Transit:
    settings: Settings  # the target's, on transit
    default_key: str
    beta_key: str  # where --key-map sends beta's key


@pytest.fixture
def transit(target: Target, openbao: OpenBao) -> Transit:
    default_key, beta_key = openbao.new_key(), openbao.new_key()
    settings = dataclasses.replace(
        target.settings, encryption="on", key_provider="transit", transit_url=openbao.url,
        transit_token=openbao.root_token, default_encryption_key=default_key)
    return Transit(settings, default_key, beta_key)


def _sealed_files(data_dir: Path) -> dict[tuple[str, str], bytes]:
    return {(p.parent.parent.name, p.name): p.read_bytes()
            for p in sorted((data_dir / "blobs").glob("d*.enc/*/*"))}


def _data_keys(database_url: str) -> list[tuple[int, str, str]]:
    """Every data key's (domain id, provider, KEK); none in a database not made yet."""
    catalog = SqlCatalog(database_url)
    try:
        if not inspect(catalog.engines[0]).has_table("data_keys"):
            return []
        with catalog.engines[0].connect() as conn:
            return [tuple(row) for row in conn.execute(text(
                "SELECT domain_id, provider, key_id FROM data_keys ORDER BY domain_id"))]
    finally:
        catalog.dispose()


def _check_moved(install: LocalInstall, transit: Transit, served: dict[str, dict[str, bytes]],
                 sealed: dict[tuple[str, str], bytes], dists: DistFactory) -> None:
    """The destination as the replicas will find it: every data key on transit under the
    domain's target key, each ciphertext the source's byte for byte, IAM's key wrapped by
    transit; and a replica on it serves every file, opens the secrets and takes uploads."""
    settings = transit.settings
    assert {(domain_id, provider, key_id) for domain_id, provider, key_id in
            _data_keys(str(settings.database_url))} == {
        (1, "transit", transit.default_key), (2, "transit", transit.beta_key)}
    raw = open_blob_store(dataclasses.replace(settings, blob_cache_bytes=0))

    async def read(partition: str, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in raw.read(partition, sha256)])

    for (partition, sha256), ciphertext in sealed.items():
        assert anyio.run(read, partition, sha256) == ciphertext  # copied, not re-encrypted
    wrapped = open_shared_files(settings).read("iam-secrets.wrapped")
    assert wrapped is not None and json.loads(wrapped)["key_id"] == transit.default_key
    assert open_shared_files(settings).read("iam-secrets.key") is None

    moved = InProcessPackyard(settings, install.app.portal, install.app._clients)
    try:
        for repo in install.repos:
            assert _pages(_on(moved, repo), "pkg") == served[repo.domain]
        domains = {d["name"]: d["encryptionKey"]
                   for d in moved.codeartifact().list_domains()["domains"]}
        assert domains == {"acme": transit.default_key, "beta": transit.beta_key}
        assert moved.container.iam_store is not None
        key_id, secret = install.access_key
        assert moved.container.iam_store.access_key_secret(key_id) == secret
        again = _on(moved, install.repos[1])
        assert upload(again, dists.wheel(DistSpec(name="pkg", version="9.0"))).status_code \
            == 200
        assert _pages(again, "pkg")["pkg-9.0-py3-none-any.whl"]
        assert not (settings.data_dir / "keyring.json").exists()
    finally:
        moved.close()


def test_an_install_under_the_local_keyring_moves_onto_transit_and_serves_byte_for_byte(
        local_install: LocalInstall, transit: Transit, dists: DistFactory) -> None:
    source = local_install.app.settings
    # Pages rendered after the uploads (in the background) are written before the snapshot.
    assert local_install.app.container.catalog.flush_rendered_pages(timeout=30)
    served = local_install.served()
    sealed = _sealed_files(source.data_dir)
    before = _tree(source.data_dir)
    local_keys = _data_keys(source.effective_database_url)
    assert {provider for _, provider, _ in local_keys} == {"local"} and len(local_keys) >= 10

    report = migrate_storage(source, transit.settings,
                             key_map={local_install.beta_key: transit.beta_key})
    assert report.keys_moved == len(local_keys) and report.blobs_copied == len(sealed)
    assert _tree(source.data_dir) == before  # the source is only read, its keyring too
    _check_moved(local_install, transit, served, sealed, dists)


class _Crash(BaseException):
    """A stop in the middle, as Ctrl-C or a kill is to the process."""


def _crash_on_the_third_blob(patched: pytest.MonkeyPatch) -> None:
    commit, calls = S3BlobStore.commit, []

    def crash(self: S3BlobStore, staged: Any, domain_key: str) -> Any:
        calls.append(domain_key)
        if len(calls) == 3:
            raise _Crash
        return commit(self, staged, domain_key)

    patched.setattr(S3BlobStore, "commit", crash)


def _crash_after_the_iam_key(patched: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise _Crash  # iam-secrets.wrapped is in the bucket: the rerun's has another nonce

    patched.setattr(ServerSecrets, "get_or_create", crash)


@pytest.mark.parametrize("crash", [_crash_on_the_third_blob, _crash_after_the_iam_key])
def test_a_move_stopped_half_way_resumes(local_install: LocalInstall, transit: Transit,
                                         crash: Callable[[pytest.MonkeyPatch], None],
                                         monkeypatch: pytest.MonkeyPatch,
                                         dists: DistFactory) -> None:
    source = local_install.app.settings
    keys = len(_data_keys(source.effective_database_url))
    served, sealed = local_install.served(), _sealed_files(source.data_dir)
    key_map = {local_install.beta_key: transit.beta_key}
    with monkeypatch.context() as patched:
        crash(patched)
        with pytest.raises(_Crash):
            migrate_storage(source, transit.settings, key_map=key_map)
    assert _data_keys(str(transit.settings.database_url)) == []  # no row before the blobs

    report = migrate_storage(source, transit.settings, key_map=key_map)
    copied_before = 2 if crash is _crash_on_the_third_blob else len(sealed)
    assert (report.blobs_present, report.blobs_copied) == (copied_before,
                                                           len(sealed) - copied_before)
    assert not report.rows_present and report.keys_moved == keys
    again = migrate_storage(source, transit.settings, key_map=key_map)
    assert again.rows_present and again.blobs_copied == 0
    _check_moved(local_install, transit, served, sealed, dists)


@pytest.mark.parametrize("where", [{"encryption": "off"},
                                   {"encryption": "on", "key_provider": "local"}])
def test_a_target_without_a_shared_key_provider_is_refused_in_one_line(
        local_install: LocalInstall, target: Target, where: dict[str, str]) -> None:
    with pytest.raises(Invalid) as refused:
        migrate_storage(local_install.app.settings, dataclasses.replace(target.settings,
                                                                        **where))
    assert refused.value.message == LOCAL_REFUSAL and "\n" not in LOCAL_REFUSAL
    assert _data_keys(target.database_url) == []
    assert not open_blob_store(target.settings).exists("d1.enc", "0" * 64)
    assert open_shared_files(target.settings).read("iam-secrets.key") is None


def test_the_command_refuses_a_local_keyring_without_a_target_provider(
        local_install: LocalInstall, target: Target) -> None:
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(local_install.app.settings.data_dir),
        "--to-database-url", target.database_url, "--to-blob-store", target.blob_store],
        env={"PACKYARD_S3_ENDPOINT_URL": str(target.settings.s3_endpoint_url),
             "PACKYARD_KEY_PROVIDER": None})
    assert result.exit_code == 2
    assert " ".join(result.output.split()) == f"error: {LOCAL_REFUSAL}"


def test_the_command_moves_the_keys_to_the_provider_it_is_given(
        local_install: LocalInstall, transit: Transit, target: Target,
        dists: DistFactory) -> None:
    served, sealed = local_install.served(), _sealed_files(local_install.app.settings.data_dir)
    keys = len(_data_keys(local_install.app.settings.effective_database_url))
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(local_install.app.settings.data_dir),
        "--to-database-url", target.database_url, "--to-blob-store", target.blob_store,
        "--to-key-provider", "transit", "--key-map", f"{local_install.beta_key}="
                                                     f"{transit.beta_key}"],
        env={"PACKYARD_S3_ENDPOINT_URL": str(target.settings.s3_endpoint_url),
             "PACKYARD_KEY_PROVIDER": None,
             "PACKYARD_TRANSIT_URL": transit.settings.transit_url,
             "PACKYARD_TRANSIT_TOKEN": transit.settings.transit_token,
             "PACKYARD_DEFAULT_ENCRYPTION_KEY": transit.default_key})
    assert result.exit_code == 0, result.output
    assert f"moved {keys} data key(s) onto PACKYARD_KEY_PROVIDER=transit" in result.output
    _check_moved(local_install, transit, served, sealed, dists)


def test_a_key_map_entry_without_an_equals_sign_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(tmp_path), "--to-database-url",
        "postgresql://nobody@127.0.0.1:9/none", "--to-blob-store", str(tmp_path / "blobs"),
        "--key-map", "alias/aws/codeartifact"])
    assert result.exit_code == 2
    assert "--key-map takes LOCAL=TARGET, not 'alias/aws/codeartifact'" in result.output


def test_a_target_key_transit_does_not_have_is_refused_before_anything_is_copied(
        local_install: LocalInstall, transit: Transit) -> None:
    with pytest.raises(Invalid, match="PACKYARD_DEFAULT_ENCRYPTION_KEY names 'nobody', which "
                                      "PACKYARD_KEY_PROVIDER=transit cannot use"):
        migrate_storage(local_install.app.settings, dataclasses.replace(
            transit.settings, default_encryption_key="nobody"))
    with pytest.raises(Invalid, match="--key-map names 'alias/nothing', which is not a key of "):
        migrate_storage(local_install.app.settings, transit.settings,
                        key_map={"alias/nothing": transit.beta_key})
    assert _data_keys(str(transit.settings.database_url)) == []
    assert open_shared_files(transit.settings).read("iam-secrets.wrapped") is None


def test_a_ciphertext_that_does_not_open_with_its_moved_key_stops_the_move(
        local_install: LocalInstall, transit: Transit) -> None:
    # Same size, one byte of the first segment changed: the size check alone lets it through.
    victim = sorted((local_install.app.settings.data_dir / "blobs").glob("d1.enc/*/*"))[0]
    damaged = bytearray(victim.read_bytes())
    damaged[100] ^= 1
    victim.write_bytes(bytes(damaged))
    with pytest.raises(Invalid, match=f"the copy of blob {victim.name} of d1 does not open "
                                      "with its key on transit: segment 0 of"):
        migrate_storage(local_install.app.settings, transit.settings)
    assert _data_keys(str(transit.settings.database_url)) == []


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


def test_regression_a_file_deleted_by_a_running_server_is_not_called_missing(
        packyard: InProcessPackyard, target: Target, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run beside a server deleting versions, it said 'is missing, though the database lists
    it … else run packyard verify', which then found nothing wrong."""
    repo = packyard.pypi_repo()
    for n in range(2):
        assert upload(repo, dists.wheel(DistSpec(name="pkg", version=f"1.{n}"))).status_code \
            == 200
    snapshot = storage_migration.snapshot_sqlite

    def snapshot_then_delete(database: Path, copy: Path) -> None:
        snapshot(database, copy)
        packyard.codeartifact().delete_package_versions(
            domain=repo.domain, repository=repo.repository, format="pypi", package="pkg",
            versions=["1.0"])
        packyard.container.registry.sweeper.sweep()

    with monkeypatch.context() as patched:
        patched.setattr(storage_migration, "snapshot_sqlite", snapshot_then_delete)
        with pytest.raises(Invalid, match=r"was deleted after the copy began: a server running "
                                          r"on .* deletes files; stop it, then run "
                                          r"migrate-storage again \(no row was copied\)"):
            migrate_storage(packyard.settings, target.settings)
    assert migrate_storage(packyard.settings, target.settings).rows > 0  # once it is stopped


def test_regression_the_command_says_the_webhooks_stay_behind(packyard: InProcessPackyard,
                                                               target: Target) -> None:
    """The webhooks are a file of the data directory, not rows: replicas started as the
    command said sent no event, and nothing said so."""
    webhooks = packyard.settings.data_dir / "webhooks.json"
    webhooks.write_text(json.dumps({"webhooks": [{"name": "ci", "url": "https://ci.example/h",
                                                  "domain": "acme"}]}))
    result = CliRunner().invoke(main, [
        "migrate-storage", "--data-dir", str(packyard.settings.data_dir),
        "--to-database-url", target.database_url, "--to-blob-store", target.blob_store],
        env={"PACKYARD_S3_ENDPOINT_URL": str(target.settings.s3_endpoint_url)})
    assert result.exit_code == 0, result.output
    assert (f"the webhooks in {webhooks} are not in the database: give each replica a copy "
            "(PACKYARD_WEBHOOKS_FILE)") in " ".join(result.output.split())
