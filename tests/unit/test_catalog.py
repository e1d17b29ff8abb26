"""The metadata store on SQLite: transactions, uniqueness, dedupe bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from packyard.errors import Conflict, NotFound
from packyard.metadata.catalog import Catalog, NewAsset, NewVersion

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture()
def catalog(tmp_path: Path) -> Catalog:
    c = Catalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    c.migrate()
    return c


def _version(v: str = "1.0") -> NewVersion:
    return NewVersion(version=v, version_key=v, summary="s", home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[])


def _asset(name: str, sha: str) -> NewAsset:
    return NewAsset(name=name, size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                    md5="0" * 32, blake2_256="0" * 64, requires_python=None,
                    metadata_sha256=None, metadata_size=None)


def test_migration_creates_every_table(catalog: Catalog) -> None:
    tables = set(inspect(catalog.engines[1]).get_table_names())
    assert {"domains", "repositories", "packages", "package_versions", "assets", "blobs",
            "tokens", "alembic_version"} <= tables


def test_migrate_twice_is_a_no_op(catalog: Catalog) -> None:
    catalog.migrate()
    assert catalog.list_domains() == []


def test_domain_lifecycle(catalog: Catalog) -> None:
    d = catalog.create_domain("dom", "000000000000", "key", NOW)
    assert d.created_at == NOW and d.repository_count == 0
    with pytest.raises(Conflict):
        catalog.create_domain("dom", "000000000000", "key", NOW)
    catalog.create_repository(d, "repo", "", "000000000000", NOW)
    with pytest.raises(Conflict, match="contains repositories"):
        catalog.delete_domain(d)
    assert catalog.get_domain("000000000000", "dom").repository_count == 1


def test_publish_is_idempotent_for_identical_files(catalog: Catalog) -> None:
    d = catalog.create_domain("dom", "000000000000", "key", NOW)
    r = catalog.create_repository(d, "repo", "", "000000000000", NOW)
    first = catalog.publish(r, "pypi", "", "pkg", "Pkg", _version(), _asset("pkg-1.0.tar.gz", "a" * 64),
                            {"a" * 64: 3}, NOW)
    again = catalog.publish(r, "pypi", "", "pkg", "Pkg", _version(), _asset("pkg-1.0.tar.gz", "a" * 64),
                            {"a" * 64: 3}, NOW)
    assert first.created and not again.created
    with pytest.raises(Conflict, match="File already exists"):
        catalog.publish(r, "pypi", "", "pkg", "Pkg", _version(), _asset("pkg-1.0.tar.gz", "b" * 64),
                        {"b" * 64: 3}, NOW)
    assert catalog.get_domain("000000000000", "dom").asset_size_bytes == 3


def test_same_blob_in_two_repositories_counts_once(catalog: Catalog) -> None:
    d = catalog.create_domain("dom", "000000000000", "key", NOW)
    r1 = catalog.create_repository(d, "one", "", "000000000000", NOW)
    r2 = catalog.create_repository(d, "two", "", "000000000000", NOW)
    for r in (r1, r2):
        catalog.publish(r, "pypi", "", "pkg", "pkg", _version(), _asset("pkg-1.0.tar.gz", "c" * 64),
                        {"c" * 64: 3}, NOW)
    assert catalog.get_domain("000000000000", "dom").asset_size_bytes == 3
    # Deleting one repository keeps the blob the other still uses.
    assert catalog.delete_repository(r1) == []
    assert catalog.delete_repository(r2) == ["c" * 64]


def test_project_index_lists_assets_with_status(catalog: Catalog) -> None:
    d = catalog.create_domain("dom", "000000000000", "key", NOW)
    r = catalog.create_repository(d, "repo", "", "000000000000", NOW)
    catalog.publish(r, "pypi", "", "pkg", "pkg", _version("1.0"), _asset("pkg-1.0.tar.gz", "d" * 64),
                    {"d" * 64: 3}, NOW)
    result = catalog.publish(r, "pypi", "", "pkg", "pkg", _version("2.0"),
                             _asset("pkg-2.0.tar.gz", "e" * 64), {"e" * 64: 3}, NOW)
    catalog.update_version_status(result.version, "Unlisted")
    found = catalog.project_index(r.id, "pypi", "pkg")
    assert found is not None
    _, versions, entries = found
    assert {v.version for v in versions} == {"1.0", "2.0"}
    assert {(e.asset.name, e.status) for e in entries} == {
        ("pkg-1.0.tar.gz", "Published"), ("pkg-2.0.tar.gz", "Unlisted")}
    assert catalog.project_index(r.id, "pypi", "other") is None


def test_missing_things_are_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match="Domain nope not found"):
        catalog.get_domain("000000000000", "nope")
    d = catalog.create_domain("dom", "000000000000", "key", NOW)
    with pytest.raises(NotFound, match="Repository nope not found"):
        catalog.get_repository(d, "nope")
