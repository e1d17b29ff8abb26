"""Migration 0005 (format attributes) downgrades back to 0004 without losing a value (the upgrade
with data, on every backend: ``tests/conformance/test_catalog_attributes_migration.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text

from packyard.metadata.migrate import alembic_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)
WHEEL, SDIST = "pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"
WHEEL_SHA, SDIST_SHA, META_SHA = "a" * 64, "b" * 64, "c" * 64
B2_WHEEL, B2_SDIST = "1" * 64, "2" * 64
MOVED = ("blake2_256", "requires_python", "metadata_sha256", "metadata_size")


def _database_at_0004_with_data(path: Path) -> str:
    url = f"sqlite:///{path}"
    command.upgrade(alembic_config(url), "0004")
    engine = create_engine(url)
    stamp = "'2026-01-01 00:00:00'"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO domains (id, name, owner, encryption_key, status, "
                          f"created_at) VALUES (1, 'dom', '000000000000', 'k', 'Active', {stamp})"))
        conn.execute(text("INSERT INTO repositories (id, domain_id, name, description, "
                          f"administrator_account, created_at) VALUES (1, 1, 'repo', '', "
                          f"'000000000000', {stamp})"))
        conn.execute(text("INSERT INTO packages (id, repository_id, format, namespace, name, "
                          "display_name, origin_publish, origin_upstream, created_at) VALUES "
                          f"(1, 1, 'pypi', '', 'pkg', 'Pkg', 'ALLOW', 'BLOCK', {stamp})"))
        conn.execute(text("INSERT INTO package_versions (id, package_id, version, version_key, "
                          "status, revision, published_at, summary, licenses, dependencies, "
                          f"origin_type, origin_repository_id) VALUES (1, 1, '1.0', '1.0', "
                          f"'Published', 'r1', {stamp}, 'A package', '[]', '[]', 'INTERNAL', 1)"))
        for sha, size in ((WHEEL_SHA, 10), (SDIST_SHA, 20), (META_SHA, 5)):
            conn.execute(text("INSERT INTO blobs (domain_id, sha256, size, created_at) VALUES "
                              f"(1, '{sha}', {size}, {stamp})"))
        # A wheel with every PyPI column set, and an sdist with the nullable ones NULL.
        conn.execute(text(
            "INSERT INTO assets (id, package_version_id, name, size, sha256, sha512, sha1, md5, "
            "blake2_256, requires_python, metadata_sha256, metadata_size, created_at) VALUES "
            f"(1, 1, '{WHEEL}', 10, '{WHEEL_SHA}', '{'5' * 128}', '{'3' * 40}', '{'4' * 32}', "
            f"'{B2_WHEEL}', '>=3.8', '{META_SHA}', 5, {stamp})"))
        conn.execute(text(
            "INSERT INTO assets (id, package_version_id, name, size, sha256, sha512, sha1, md5, "
            "blake2_256, requires_python, metadata_sha256, metadata_size, created_at) VALUES "
            f"(2, 1, '{SDIST}', 20, '{SDIST_SHA}', '{'6' * 128}', '{'7' * 40}', '{'8' * 32}', "
            f"'{B2_SDIST}', NULL, NULL, NULL, {stamp})"))
    engine.dispose()
    return url


def test_downgrade_to_0004_puts_the_columns_back(tmp_path: Path) -> None:
    url = _database_at_0004_with_data(tmp_path / "old.sqlite")
    command.upgrade(alembic_config(url), "0005")
    command.downgrade(alembic_config(url), "0004")
    engine = create_engine(url)
    assert not {"asset_blobs", "package_tags"} & set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, blake2_256, requires_python, metadata_sha256, "
                                 "metadata_size FROM assets ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(WHEEL, B2_WHEEL, ">=3.8", META_SHA, 5),
                                        (SDIST, B2_SDIST, None, None, None)]
    engine.dispose()
