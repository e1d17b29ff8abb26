"""The first read of a file looked up on the event loop's thread (``find_listed_file_now``), on
every database backend: on SQLite it finds what ``find_listed_asset`` finds (the version's
status as it is, whatever it is: the status rules are the resolver's), ``MISSING`` for a file,
project or repository it does not hold (as final as ``find_listed_asset``'s None: the first
read of a file only an upstream has takes it as the miss), and nothing while the database
cannot be read without waiting or when the asset's attributes are over the bound; given a namespace and a version,
what ``find_asset`` finds (npm's tarballs, one file name in every version); on PostgreSQL it
reads nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from packyard.lifecycle.version_changes import plan_dispose, plan_status_update
from packyard.metadata.catalog import ListedFile, NewAsset, NewVersion, SqlCatalog
from packyard.metadata.point_reads import MISSING, POINT_READ_MAX_BYTES, Missing
from packyard.metadata.schema import assets
from packyard.model import Package, Repository
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"
WHEEL = "pkg-1.0-py3-none-any.whl"
ATTRIBUTES = {"requires_python": ">=3.9", "metadata_sha256": "b" * 64, "metadata_size": 42}


def _catalog(databases: Databases) -> SqlCatalog:
    catalog = databases.catalog(databases.url("db", migrated=True))
    catalog.migrate()
    return catalog


def _repos(catalog: SqlCatalog) -> tuple[Repository, Repository]:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    return (catalog.create_repository(domain, "one", "", OWNER, NOW),
            catalog.create_repository(domain, "two", "", OWNER, NOW))


def _publish(catalog: SqlCatalog, repo: Repository, version: str = "1.0",
             filename: str = WHEEL) -> Package:
    new_version = NewVersion(version=version, version_key=version, summary="s", home_page=None,
                             source_code_repository=None, licenses=[], readme=None,
                             readme_content_type=None, dependencies=[])
    asset = NewAsset(name=filename, size=3, sha256="a" * 64, sha512="0" * 128, sha1="0" * 40,
                     md5="0" * 32, attributes=ATTRIBUTES)
    return catalog.publish(repo, "pypi", "", "pkg", "Pkg", new_version, asset,
                           {"a" * 64: 3}, NOW).package


def _on_sqlite(catalog: SqlCatalog) -> bool:
    return catalog.url.startswith("sqlite")


def _missing(catalog: SqlCatalog) -> Missing | None:
    """What a lookup made now says of a file not held: ``MISSING`` where it reads (SQLite),
    nothing on PostgreSQL."""
    return MISSING if _on_sqlite(catalog) else None


def test_a_file_is_found_as_the_worker_threads_lookup_finds_it(databases: Databases) -> None:
    catalog = _catalog(databases)
    one, two = _repos(catalog)
    _publish(catalog, one)
    found = catalog.find_listed_asset(one.id, "pypi", "pkg", WHEEL)
    assert found is not None
    now = catalog.find_listed_file_now(one.id, "pypi", "pkg", WHEEL)
    expected = ListedFile("Published", "a" * 64, 3, ATTRIBUTES)
    assert ListedFile.of(*found) == expected
    assert now == (expected if _on_sqlite(catalog) else None)


@pytest.mark.parametrize(("repo", "fmt", "name", "filename"), [
    pytest.param("one", "pypi", "pkg", "pkg-9.0-py3-none-any.whl", id="other-file"),
    pytest.param("one", "pypi", "other", WHEEL, id="other-project"),
    pytest.param("one", "npm", "pkg", WHEEL, id="other-format"),
    pytest.param("two", "pypi", "pkg", WHEEL, id="other-repository"),
])
def test_a_file_not_held_is_not_found(databases: Databases, repo: str, fmt: str, name: str,
                                      filename: str) -> None:
    catalog = _catalog(databases)
    repos = dict(zip(("one", "two"), _repos(catalog), strict=True))
    _publish(catalog, repos["one"])
    assert catalog.find_listed_asset(repos[repo].id, fmt, name, filename) is None
    assert catalog.find_listed_file_now(repos[repo].id, fmt, name, filename) is _missing(catalog)


def test_the_versions_status_is_given_as_it_is(databases: Databases) -> None:
    catalog = _catalog(databases)
    one, _ = _repos(catalog)
    package = _publish(catalog, one)
    for status in ("Unlisted", "Archived", "Published"):
        catalog.change_versions(package, {"1.0": "1.0"}, lambda current, s=status:
                                plan_status_update(["1.0"], current, target_status=s), NOW)
        now = catalog.find_listed_file_now(one.id, "pypi", "pkg", WHEEL)
        assert (now.status if now is not None else None) == (
            status if _on_sqlite(catalog) else None)
    catalog.change_versions(package, {"1.0": "1.0"},
                            lambda current: plan_dispose(["1.0"], current), NOW)
    worker = catalog.find_listed_asset(one.id, "pypi", "pkg", WHEEL)
    now = catalog.find_listed_file_now(one.id, "pypi", "pkg", WHEEL)
    # A disposed version's files: whatever the worker thread's lookup says, this says too.
    assert now == (_missing(catalog) if worker is None else
                   ListedFile.of(*worker) if _on_sqlite(catalog) else None)


def test_attributes_over_the_bound_are_left_to_the_worker_thread(databases: Databases) -> None:
    catalog = _catalog(databases)
    one, _ = _repos(catalog)
    _publish(catalog, one)
    big = json.dumps({"padding": "x" * POINT_READ_MAX_BYTES})
    with catalog.engines[1].begin() as conn:
        conn.execute(update(assets).values(attributes=big))
    found = catalog.find_listed_asset(one.id, "pypi", "pkg", WHEEL)
    assert found is not None and len(found[1].attributes["padding"]) == POINT_READ_MAX_BYTES
    assert catalog.find_listed_file_now(one.id, "pypi", "pkg", WHEEL) is None


def test_a_database_that_cannot_be_read_now_is_not_waited_for(databases: Databases) -> None:
    catalog = _catalog(databases)
    one, _ = _repos(catalog)
    _publish(catalog, one)
    if not _on_sqlite(catalog):
        pytest.skip("PostgreSQL is never read on the caller's thread (tested above)")
    path = make_url(catalog.url).database
    assert path is not None
    for engine in catalog.engines:  # its pooled connections closed: the lock waits for them
        engine.dispose()
    # A connection in exclusive locking mode keeps every other one out, even under WAL.
    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        assert catalog.find_listed_file_now(one.id, "pypi", "pkg", WHEEL) is None
    finally:
        holder.close()
    assert catalog.find_listed_file_now(one.id, "pypi", "pkg", WHEEL) is not None


def _publish_tarball(catalog: SqlCatalog, repo: Repository, namespace: str, version: str,
                     sha256: str) -> None:
    """One version of a package whose versions' files share a name (npm's package.tgz)."""
    new_version = NewVersion(version=version, version_key=version, summary="s", home_page=None,
                             source_code_repository=None, licenses=[], readme=None,
                             readme_content_type=None, dependencies=[])
    asset = NewAsset(name="package.tgz", size=5, sha256=sha256, sha512="0" * 128,
                     sha1="0" * 40, md5="0" * 32, attributes={})
    catalog.publish(repo, "npm", namespace, "util", "util", new_version, asset, {sha256: 5},
                    NOW)


@pytest.mark.parametrize(("namespace", "version_key", "expected"), [
    pytest.param("acme", "1.0.0", "c" * 64, id="scoped-first-version"),
    pytest.param("acme", "2.0.0", "d" * 64, id="scoped-second-version"),
    pytest.param("", "1.0.0", "e" * 64, id="unscoped-same-name"),
    pytest.param("acme", "9.9.9", None, id="other-version"),
    pytest.param("other", "1.0.0", None, id="other-namespace"),
])
def test_a_versions_file_is_found_as_find_asset_finds_it(
        databases: Databases, namespace: str, version_key: str, expected: str | None) -> None:
    # npm's tarballs: one asset name in every version; the version and namespace decide.
    catalog = _catalog(databases)
    one, _ = _repos(catalog)
    _publish_tarball(catalog, one, "acme", "1.0.0", "c" * 64)
    _publish_tarball(catalog, one, "acme", "2.0.0", "d" * 64)
    _publish_tarball(catalog, one, "", "1.0.0", "e" * 64)
    worker = catalog.find_asset(one.id, "npm", "util", "package.tgz", namespace, version_key)
    assert (worker[1].sha256 if worker is not None else None) == expected
    now = catalog.find_listed_file_now(one.id, "npm", "util", "package.tgz", namespace,
                                       version_key)
    if expected is None:
        assert now is _missing(catalog)
    elif not _on_sqlite(catalog):
        assert now is None
    else:
        assert now == ListedFile("Published", expected, 5, {})
