"""Replicas on one PostgreSQL and one bucket, each with a data directory of its own, agree on
every secret without copying a file between them: the IAM secrets key (in the bucket; with
encryption at rest on, the wrapped key instead, and blob keys from transit) and the generated
root credentials (in the database, sealed with that key). The local keyring cannot be shared:
encryption with it on PostgreSQL is refused at start."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from packyard import bootstrap
from packyard.bootstrap import Container
from packyard.errors import CannotStart
from packyard.iam.secret_key import WRAPPED_FILE, LostSecretKey, forget_lost_secrets
from packyard.iam.secrets import KEY_FILE, LostSecret
from packyard.storage.backends import open_shared_files
from tests.inprocess.harness import settings_for
from tests.openbao import OpenBao
from tests.services import PostgresServer, SeaweedServer

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _encryption(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "off":
        return {"encryption": "off"}
    bao: OpenBao = request.getfixturevalue("openbao")
    return {"key_provider": "transit", "transit_url": bao.url, "transit_token": bao.root_token,
            "default_encryption_key": bao.new_key()}


@pytest.fixture
def encryption(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings of ``request.param``'s encryption (indirect)."""
    return _encryption(request)


@pytest.fixture(params=["transit", "off"])
def replicas(request: pytest.FixtureRequest, postgres_server: PostgresServer,
             seaweedfs_server: SeaweedServer, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Container]]:
    encryption = _encryption(request)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_access_key)
    database = postgres_server.new_name("replicas")
    postgres_server.create_database(database)
    blob_store = f"s3://{seaweedfs_server.bucket}/{seaweedfs_server.new_prefix()}"
    built: list[Container] = []
    try:
        for n in range(2):
            settings = settings_for(
                tmp_path / f"replica-{n}", root_access_key_id=None, root_secret_access_key=None,
                database_url=postgres_server.url(database), blob_store=blob_store,
                s3_endpoint_url=seaweedfs_server.endpoint_url, **encryption)
            built.append(bootstrap.build(settings))
        yield built
    finally:
        for container in built:
            container.catalog.dispose()
        postgres_server.drop_database(database)


def test_replicas_generate_one_root_key_and_each_keeps_a_copy(replicas: list[Container]
                                                               ) -> None:
    first, second = replicas
    assert first.root.generated and not second.root.generated
    assert (first.root.access_key_id, first.root.secret_access_key) == \
        (second.root.access_key_id, second.root.secret_access_key)
    for container in replicas:
        path = container.settings.data_dir / "credentials.json"
        assert json.loads(path.read_text())["access_key_id"] == first.root.access_key_id
        assert path.stat().st_mode & 0o777 == 0o600


def test_an_access_key_made_through_one_replica_signs_on_another(replicas: list[Container]
                                                                   ) -> None:
    first, second = replicas
    assert first.iam_store is not None and second.iam_store is not None
    first.iam_store.create_user("ci", "/", NOW)
    key, secret = first.iam_store.create_access_key("ci", NOW)
    assert second.iam_store.access_key_secret(key.id) == secret


def test_no_secrets_key_is_written_to_a_replicas_data_directory(replicas: list[Container]
                                                                 ) -> None:
    for container in replicas:
        assert not (container.settings.data_dir / KEY_FILE).exists()
        assert not (container.settings.data_dir / WRAPPED_FILE).exists()


def test_with_encryption_on_the_wrapped_iam_key_is_in_the_bucket(replicas: list[Container]
                                                                  ) -> None:
    first = replicas[0]
    files = open_shared_files(first.settings)
    if first.encryption is None:
        assert files.read(KEY_FILE) is not None and files.read(WRAPPED_FILE) is None
    else:
        assert files.read(WRAPPED_FILE) is not None and files.read(KEY_FILE) is None


def test_a_file_one_replica_encrypted_reads_on_another(replicas: list[Container]) -> None:
    first, second = replicas
    if first.encryption is None or second.encryption is None:
        pytest.skip("encryption is off")
    key = first.encryption.keys.for_new_domain(None)
    domain = first.catalog.create_domain("shared", "000000000000", key, NOW)
    data = b"stored once, read anywhere" * 100
    sha256 = first.encryption.blobs.put_bytes(data, f"d{domain.id}").sha256
    blobs = second.encryption.blobs

    async def read_all() -> bytes:
        return b"".join([chunk async for chunk in blobs.read(f"d{domain.id}", sha256)])

    read = asyncio.run(read_all())
    assert read == data and hashlib.sha256(read).hexdigest() == sha256


def test_encryption_with_the_local_keyring_on_postgresql_is_refused_at_start(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    database = postgres_server.new_name("local-keyring")
    postgres_server.create_database(database)
    try:
        with pytest.raises(CannotStart) as refused:
            bootstrap.build(settings_for(tmp_path, database_url=postgres_server.url(database)))
        assert str(refused.value) == (
            "encryption at rest with PACKYARD_KEY_PROVIDER=local keeps keys in each data "
            "directory, which replicas on one PostgreSQL database cannot share: set "
            "PACKYARD_KEY_PROVIDER=transit or kms (or PACKYARD_ENCRYPTION=off)")
        assert not (tmp_path / "keyring.json").exists()
    finally:
        postgres_server.drop_database(database)


def test_regression_a_key_lost_from_the_bucket_stops_a_replica_until_reset(
        replicas: list[Container]) -> None:
    first = replicas[0]
    assert first.iam_store is not None
    first.iam_store.create_user("ci", "/", NOW)
    key, _ = first.iam_store.create_access_key("ci", NOW)
    files = open_shared_files(first.settings)
    name = KEY_FILE if first.encryption is None else WRAPPED_FILE
    files.remove(name)
    with pytest.raises(LostSecretKey) as refused:
        bootstrap.build(first.settings)
    assert str(refused.value).startswith(
        f"IAM's secret key {name} is missing from {files.where}, and the catalog holds 1 IAM "
        "access key and the replicas' shared root key sealed with it")
    assert files.read(name) is None
    forget_lost_secrets(first.catalog.engines[1], files, NOW)
    # The shared root key is seeded again from the starting replica's credentials.json.
    again = bootstrap.build(first.settings)
    try:
        assert (again.root.access_key_id, again.root.secret_access_key) == (
            first.root.access_key_id, first.root.secret_access_key)
        assert again.iam_store is not None
        with pytest.raises(LostSecret):
            again.iam_store.access_key_secret(key.id)
        made, secret = again.iam_store.create_access_key("ci", NOW)
        assert again.iam_store.access_key_secret(made.id) == secret
    finally:
        again.catalog.dispose()


@pytest.mark.parametrize("encryption", ["transit", "off"], indirect=True)
def test_replicas_starting_at_once_on_a_new_store_agree_on_one_key(
        encryption: dict[str, Any], postgres_server: PostgresServer,
        seaweedfs_server: SeaweedServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_access_key)
    database = postgres_server.new_name("at-once")
    postgres_server.create_database(database)
    blob_store = f"s3://{seaweedfs_server.bucket}/{seaweedfs_server.new_prefix()}"
    settings = [settings_for(
        tmp_path / f"replica-{n}", root_access_key_id=None, root_secret_access_key=None,
        database_url=postgres_server.url(database), blob_store=blob_store,
        s3_endpoint_url=seaweedfs_server.endpoint_url, **encryption) for n in range(2)]
    barrier = threading.Barrier(2)

    def build(one: Any) -> Container:
        barrier.wait()
        return bootstrap.build(one)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(build, one) for one in settings]
        built = [future.result(timeout=120) for future in futures]
    try:
        first, second = built
        assert first.iam_store is not None and second.iam_store is not None
        assert first.root.access_key_id == second.root.access_key_id
        first.iam_store.create_user("ci", "/", NOW)
        key, secret = first.iam_store.create_access_key("ci", NOW)
        assert second.iam_store.access_key_secret(key.id) == secret
    finally:
        for container in built:
            container.catalog.dispose()
        postgres_server.drop_database(database)
