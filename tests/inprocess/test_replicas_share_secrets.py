"""Replicas on one PostgreSQL and one bucket, each with a data directory of its own, agree on
every secret without copying a file between them: the IAM secrets key (in the bucket) and the
generated root credentials (in the database, sealed with that key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from packyard import bootstrap
from packyard.bootstrap import Container
from packyard.iam.secrets import KEY_FILE
from tests.inprocess.harness import settings_for
from tests.services import PostgresServer, SeaweedServer

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def replicas(postgres_server: PostgresServer, seaweedfs_server: SeaweedServer,
             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Container]]:
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
                s3_endpoint_url=seaweedfs_server.endpoint_url)
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
