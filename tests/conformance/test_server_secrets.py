"""Secrets replicas share through the database (``iam/shared_secrets.py``), on every catalog
backend: created once, sealed, the same for every process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from packyard.iam.schema import server_secrets
from packyard.iam.secrets import SecretBox
from packyard.iam.shared_secrets import ServerSecrets
from packyard.metadata.catalog import SqlCatalog

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_first_process_creates_the_secret_and_the_others_read_it(
        catalog: SqlCatalog) -> None:
    box = SecretBox.generate()
    first, second = ServerSecrets(catalog.engines, box), ServerSecrets(catalog.engines, box)
    assert first.read("root") is None
    assert first.get_or_create("root", lambda: "one", NOW) == ("one", True)
    assert second.get_or_create("root", lambda: "two", NOW) == ("one", False)
    assert second.read("root") == "one"


def test_a_secret_is_sealed_in_the_database(catalog: SqlCatalog) -> None:
    ServerSecrets(catalog.engines, SecretBox.generate()).get_or_create(
        "root", lambda: "plain-secret", NOW)
    with catalog.engines[0].connect() as conn:
        stored = conn.execute(select(server_secrets.c.value)).scalar_one()
    assert "plain-secret" not in stored


def test_a_secret_sealed_with_another_key_says_which_key_is_wrong(catalog: SqlCatalog) -> None:
    ServerSecrets(catalog.engines, SecretBox.generate()).get_or_create("root", lambda: "x", NOW)
    with pytest.raises(ValueError, match="iam-secrets.key is not the key it was encrypted with"):
        ServerSecrets(catalog.engines, SecretBox.generate()).read("root")
