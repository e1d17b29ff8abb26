"""Revision 0005 (format attributes) upgrades a database with data in it, on every backend."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from packyard.metadata.migrate import alembic_config
from tests.conformance.conftest import Databases

OWNER = "000000000000"
WHEEL, SDIST = "pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"
WHEEL_SHA, SDIST_SHA, META_SHA = "a" * 64, "b" * 64, "c" * 64
B2_WHEEL, B2_SDIST = "1" * 64, "2" * 64
MOVED = {"blake2_256", "requires_python", "metadata_sha256", "metadata_size"}
STAMP = "'2026-01-01 00:00:00'"


def _database_at_0004_with_data(databases: Databases) -> str:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
        for statement in (
            "INSERT INTO domains (id, name, owner, encryption_key, status, created_at) "
            f"VALUES (1, 'dom', '{OWNER}', 'k', 'Active', {STAMP})",
            "INSERT INTO repositories (id, domain_id, name, description, administrator_account, "
            f"created_at) VALUES (1, 1, 'repo', '', '{OWNER}', {STAMP})",
            "INSERT INTO packages (id, repository_id, format, namespace, name, display_name, "
            "origin_publish, origin_upstream, created_at) VALUES (1, 1, 'pypi', '', 'pkg', "
            f"'Pkg', 'ALLOW', 'BLOCK', {STAMP})",
            "INSERT INTO package_versions (id, package_id, version, version_key, status, "
            "revision, published_at, summary, licenses, dependencies, origin_type, "
            f"origin_repository_id) VALUES (1, 1, '1.0', '1.0', 'Published', 'r1', {STAMP}, "
            "'A package', '[]', '[]', 'INTERNAL', 1)",
            *(f"INSERT INTO blobs (domain_id, sha256, size, created_at) VALUES "
              f"(1, '{sha}', {size}, {STAMP})"
              for sha, size in ((WHEEL_SHA, 10), (SDIST_SHA, 20), (META_SHA, 5))),
            # A wheel with every PyPI column set, and an sdist with the nullable ones NULL.
            "INSERT INTO assets (id, package_version_id, name, size, sha256, sha512, sha1, md5, "
            "blake2_256, requires_python, metadata_sha256, metadata_size, created_at) VALUES "
            f"(1, 1, '{WHEEL}', 10, '{WHEEL_SHA}', '{'5' * 128}', '{'3' * 40}', '{'4' * 32}', "
            f"'{B2_WHEEL}', '>=3.8', '{META_SHA}', 5, {STAMP})",
            "INSERT INTO assets (id, package_version_id, name, size, sha256, sha512, sha1, md5, "
            "blake2_256, requires_python, metadata_sha256, metadata_size, created_at) VALUES "
            f"(2, 1, '{SDIST}', 20, '{SDIST_SHA}', '{'6' * 128}', '{'7' * 40}', '{'8' * 32}', "
            f"'{B2_SDIST}', NULL, NULL, NULL, {STAMP})",
        ):
            conn.execute(text(statement))
    engine.dispose()
    return url


def test_revision_0005_moves_every_pypi_column_into_attributes(databases: Databases) -> None:
    url = _database_at_0004_with_data(databases)
    catalog = databases.catalog(url)
    catalog.migrate()  # what `packyard serve` does at start-up
    columns = {c["name"] for c in inspect(catalog.engines[0]).get_columns("assets")}
    assert "attributes" in columns and not MOVED & columns

    domain = catalog.get_domain(OWNER, "dom")
    repo = catalog.get_repository(domain, "repo")
    found = catalog.find_asset(repo.id, "pypi", "pkg", WHEEL)
    assert found is not None
    version, wheel = found
    assert dict(wheel.attributes) == {"blake2_256": B2_WHEEL, "requires_python": ">=3.8",
                                      "metadata_sha256": META_SHA, "metadata_size": 5}
    assert (wheel.size, wheel.sha256, wheel.hashes()) == (10, WHEEL_SHA, {
        "MD5": "4" * 32, "SHA-1": "3" * 40, "SHA-256": WHEEL_SHA, "SHA-512": "5" * 128})
    assert version.summary == "A package" and dict(version.attributes) == {}
    sdist = catalog.find_asset(repo.id, "pypi", "pkg", SDIST)
    assert sdist is not None and dict(sdist[1].attributes) == {"blake2_256": B2_SDIST}

    pkg = catalog.find_package(repo.id, "pypi", "", "pkg")
    assert pkg is not None
    catalog.put_package_tag(pkg.id, "latest", "1.0")
    assert catalog.package_tags(pkg.id) == {"latest": "1.0"}
    # The metadata file is the wheel's companion blob: used until the wheel goes.
    assert sorted(catalog.delete_repository(repo)) == sorted([WHEEL_SHA, SDIST_SHA, META_SHA])
