"""Revision 0017 withdraws PyPI sdists' core metadata files, on every backend."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import create_engine, text

from packyard.metadata.migrate import alembic_config
from tests.conformance.conftest import Databases

OWNER = "000000000000"
STAMP = "'2026-01-01 00:00:00'"
META = {"metadata_sha256": "c" * 64, "metadata_size": 5}
# asset id, version id, name, attributes
ASSETS = (
    (1, 1, "pkg-1.0-py3-none-any.whl", {"blake2_256": "1" * 64, **META}),
    (2, 1, "pkg-1.0.tar.gz", {"blake2_256": "2" * 64, "requires_python": ">=3.8", **META}),
    (3, 1, "pkg-1.0.zip", {**META}),
    (4, 2, "other-1.0-py3-none-any.whl", {**META}),
    (5, 3, "npmpkg-1.0.tar.gz", {**META}),  # another format's: not PyPI's to judge
)


def _database_at_0016_with_data(databases: Databases) -> str:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0016_packages_by_name")
        for statement in (
            "INSERT INTO domains (id, name, owner, encryption_key, status, created_at) "
            f"VALUES (1, 'dom', '{OWNER}', 'k', 'Active', {STAMP})",
            "INSERT INTO repositories (id, domain_id, name, description, administrator_account, "
            f"created_at) VALUES (1, 1, 'repo', '', '{OWNER}', {STAMP})",
            *(f"INSERT INTO packages (id, repository_id, format, namespace, name, display_name, "
              f"origin_publish, origin_upstream, created_at, last_serial) VALUES ({pid}, 1, "
              f"'{fmt}', '', '{name}', '{name}', 'ALLOW', 'BLOCK', {STAMP}, 7)"
              for pid, fmt, name in ((1, "pypi", "pkg"), (2, "pypi", "other"),
                                     (3, "npm", "npmpkg"))),
            *("INSERT INTO package_versions (id, package_id, version, version_key, status, "
              "revision, published_at, summary, licenses, dependencies, origin_type, "
              f"origin_repository_id) VALUES ({vid}, {vid}, '1.0', '1.0', 'Published', 'r1', "
              f"{STAMP}, 'A package', '[]', '[]', 'INTERNAL', 1)" for vid in (1, 2, 3)),
        ):
            conn.execute(text(statement))
        for asset_id, version_id, name, attributes in ASSETS:
            conn.execute(text(
                "INSERT INTO assets (id, package_version_id, name, size, sha256, sha512, sha1, "
                f"md5, created_at, attributes) VALUES ({asset_id}, {version_id}, '{name}', 10, "
                f"'{str(asset_id) * 64}', '{'5' * 128}', '{'3' * 40}', '{'4' * 32}', {STAMP}, "
                ":attributes)"), {"attributes": json.dumps(attributes, sort_keys=True)})
        for package_id in (1, 2):
            conn.execute(text(
                "INSERT INTO rendered_pages (package_id, kind, serial, digest, body) VALUES "
                "(:package, 'html', 7, 'd', :body)"), {"package": package_id, "body": b"page"})
    engine.dispose()
    return url


def test_revision_0017_withdraws_pypi_sdists_metadata_and_their_pages(
        databases: Databases) -> None:
    url = _database_at_0016_with_data(databases)
    catalog = databases.catalog(url)
    catalog.migrate()  # what `packyard serve` does at start-up
    with catalog.engines[0].connect() as conn:
        attributes = {row.name: json.loads(row.attributes) for row in conn.execute(
            text("SELECT name, attributes FROM assets"))}
        pages = sorted(row.package_id for row in conn.execute(
            text("SELECT package_id FROM rendered_pages")))
    assert attributes == {
        "pkg-1.0-py3-none-any.whl": {"blake2_256": "1" * 64, **META},
        "pkg-1.0.tar.gz": {"blake2_256": "2" * 64, "requires_python": ">=3.8"},
        "pkg-1.0.zip": {},
        "other-1.0-py3-none-any.whl": META,
        "npmpkg-1.0.tar.gz": META,
    }
    # The page that offered an sdist's metadata is rendered again on its next read.
    assert pages == [2]
