"""Migration 0002 (IAM) upgrades a database created at 0001 with data in it, and downgrades."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text

from packyard.iam.secrets import SecretBox
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.migrate import alembic_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IAM_TABLES = {"iam_users", "iam_access_keys", "iam_roles", "iam_policies", "iam_user_policies",
              "iam_role_policies", "iam_user_attachments", "iam_role_attachments",
              "sts_sessions", "resource_policies"}


def _database_at_0001_with_data(path: Path) -> str:
    url = f"sqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO domains (id, name, owner, encryption_key, status, "
                          "created_at) VALUES (1, 'dom', '000000000000', 'k', 'Active', "
                          "'2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO repositories (id, domain_id, name, description, "
                          "administrator_account, created_at) VALUES (1, 1, 'repo', '', "
                          "'000000000000', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO tokens (id, secret_sha256, principal_arn, access_key_id, "
                          "domain_id, created_at, expires_at) VALUES ('t1', 'abc', "
                          "'arn:aws:iam::000000000000:root', 'AKIAROOT', 1, "
                          "'2026-01-01 00:00:00', '2026-01-01 12:00:00')"))
    engine.dispose()
    return url


def test_upgrade_from_0001_keeps_data_and_adds_iam(tmp_path: Path) -> None:
    url = _database_at_0001_with_data(tmp_path / "old.sqlite")
    catalog = SqlCatalog(url)
    catalog.migrate()  # what `packyard serve` does at start-up
    tables = set(inspect(catalog.engines[0]).get_table_names())
    assert tables >= IAM_TABLES
    domain = catalog.get_domain("000000000000", "dom")
    repo = catalog.get_repository(domain, "repo")
    assert catalog.find_token("abc") is not None
    store = IamStore(catalog.engines, "000000000000", SecretBox.generate())
    store.create_user("alice", "/", NOW)
    arn = "arn:aws:codeartifact:us-east-1:000000000000:repository/dom/repo"
    store.put_resource_policy(arn, domain.id, repo.id, "{}", None, NOW)
    assert store.resource_policy(arn) is not None
    catalog.dispose()


def test_downgrade_to_0001_removes_only_the_iam_tables(tmp_path: Path) -> None:
    url = _database_at_0001_with_data(tmp_path / "old.sqlite")
    command.upgrade(alembic_config(url), "0002")
    command.downgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert not IAM_TABLES & tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tokens")).scalar_one() == 1
    engine.dispose()
