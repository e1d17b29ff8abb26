"""The Catalog contract for digests filled in after a pull (``metadata/later_digests.py``), on
every database backend: assets kept without MD5, SHA-1 or SHA-512 are found by the blob they
are, and filling one blob's digests in fills every asset of those bytes, keeping any digest an
asset already had."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from packyard.metadata.catalog import Catalog, EntryPoint, LaterDigest, NewAsset
from packyard.model import Repository
from tests.conformance.conftest import Databases
from tests.conformance.test_catalog_attributes_migration import (
    META_SHA,
    _database_at_0004_with_data,
)
from tests.conformance.test_catalog_upstreams import _version

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"
EXTERNAL = EntryPoint("EXTERNAL", None, "public:pypi")


def _repos(catalog: Catalog, domain: str, *names: str) -> list[Repository]:
    created = catalog.create_domain(domain, OWNER, "key", NOW)
    return [catalog.create_repository(created, n, "", OWNER, NOW) for n in names]


def _pulled(name: str, sha: str) -> NewAsset:
    """A pulled file's asset as a pull records it: sha256 only, and its format's BLAKE2b
    left for later (null under the digest's name)."""
    return NewAsset(name=name, size=3, sha256=sha, sha512=None, sha1=None, md5=None,
                    attributes={"blake2_256": None, "requires_python": ">=3.9"})


def _attributes(catalog: Catalog, repo: Repository, filename: str) -> dict[str, object]:
    found = catalog.find_asset(repo.id, "pypi", "pkg", filename)
    assert found is not None
    return dict(found[1].attributes)


def _digests(catalog: Catalog, repo: Repository, name: str, filename: str
             ) -> tuple[str | None, str | None, str | None]:
    found = catalog.find_asset(repo.id, "pypi", name, filename)
    assert found is not None
    asset = found[1]
    return asset.md5, asset.sha1, asset.sha512


def test_assets_kept_without_digests_are_found_by_their_blob(catalog: Catalog) -> None:
    store, team = _repos(catalog, "dom", "store", "team")
    assert catalog.digests_missing() == []
    catalog.retain([store, team], "pypi", "", "pkg", "pkg", _version(),
                   _pulled("pkg-1.0.tar.gz", "a" * 64), EXTERNAL, {"a" * 64: 3}, NOW)
    complete = replace(_pulled("pkg-2.0.tar.gz", "c" * 64), md5="1" * 32, sha1="2" * 40,
                       sha512="3" * 128)
    catalog.retain([store], "pypi", "", "pkg", "pkg", _version("2.0"), complete, EXTERNAL,
                   {"c" * 64: 3}, NOW)
    # One entry per blob, whichever repositories hold it; complete assets are not listed.
    assert catalog.digests_missing() == [(store.domain_id, "a" * 64)]
    assert _digests(catalog, team, "pkg", "pkg-1.0.tar.gz") == (None, None, None)
    # An asset lacking only one digest (an upstream that declared MD5 and SHA-1) is listed.
    partial = replace(_pulled("pkg-3.0.tar.gz", "d" * 64), md5="4" * 32, sha1="5" * 40)
    catalog.retain([store], "pypi", "", "pkg", "pkg", _version("3.0"), partial, EXTERNAL,
                   {"d" * 64: 3}, NOW)
    assert catalog.digests_missing() == [(store.domain_id, "a" * 64),
                                         (store.domain_id, "d" * 64)]
    assert catalog.digests_missing(limit=1) == [(store.domain_id, "a" * 64)]


def test_filling_a_blobs_digests_fills_every_asset_of_it_and_keeps_what_was_there(
        catalog: Catalog) -> None:
    store, team = _repos(catalog, "dom", "store", "team")
    (other,) = _repos(catalog, "dom2", "elsewhere")
    for repos in ([store, team], [other]):
        catalog.retain(repos, "pypi", "", "pkg", "pkg", _version(),
                       _pulled("pkg-1.0.tar.gz", "a" * 64), EXTERNAL, {"a" * 64: 3}, NOW)
    partial = replace(_pulled("pkg-2.0.tar.gz", "d" * 64), md5="4" * 32, sha1="5" * 40,
                      attributes={"blake2_256": "b" * 64})
    catalog.retain([store], "pypi", "", "pkg", "pkg", _version("2.0"), partial, EXTERNAL,
                   {"d" * 64: 3}, NOW)
    stamp = catalog.changes.stamp()
    # Same bytes, same digests: in both repositories and in the other domain; and what an
    # asset had is kept, only what it lacked is filled in. One transaction for both blobs.
    assert catalog.fill_digests([LaterDigest("a" * 64, "6" * 32, "7" * 40, "8" * 128, "e" * 64),
                                 LaterDigest("d" * 64, "9" * 32, "9" * 40, "9" * 128,
                                             "f" * 64)]) == 4
    for repo in (store, team, other):
        assert _digests(catalog, repo, "pkg", "pkg-1.0.tar.gz") == ("6" * 32, "7" * 40,
                                                                     "8" * 128)
        # The format's digest left null is filled in; its other attributes are kept.
        assert _attributes(catalog, repo, "pkg-1.0.tar.gz") == {
            "blake2_256": "e" * 64, "requires_python": ">=3.9"}
    assert _digests(catalog, store, "pkg", "pkg-2.0.tar.gz") == ("4" * 32, "5" * 40, "9" * 128)
    assert _attributes(catalog, store, "pkg-2.0.tar.gz") == {"blake2_256": "b" * 64}
    assert catalog.digests_missing() == []
    # No cached answer was made without them (those that show them fill them in first): the
    # caches of every process stay.
    assert catalog.changes.stamp() == stamp
    # Filling in again changes nothing.
    assert catalog.fill_digests([LaterDigest("a" * 64, "0" * 32, "0" * 40, "0" * 128,
                                             "0" * 64)]) == 0
    assert catalog.fill_digests([]) == 0
    assert _digests(catalog, team, "pkg", "pkg-1.0.tar.gz")[0] == "6" * 32
    assert _attributes(catalog, team, "pkg-1.0.tar.gz")["blake2_256"] == "e" * 64


def test_revision_0015_keeps_every_asset_and_its_references_and_foreign_keys_stay_on(
        databases: Databases) -> None:
    """SQLite makes the digests nullable by rebuilding ``assets``, which ``asset_blobs``
    refers to: with foreign keys on, dropping the old copy failed the migration. Every row
    and reference is kept, and the migrating connection goes back with its foreign keys on."""
    url = _database_at_0004_with_data(databases)
    catalog = databases.catalog(url)
    catalog.migrate()
    with catalog.engines[1].connect() as conn:
        assert conn.execute(text("SELECT id, md5, sha1, sha512 FROM assets ORDER BY id")
                            ).all() == [(1, "4" * 32, "3" * 40, "5" * 128),
                                        (2, "8" * 32, "7" * 40, "6" * 128)]
        assert conn.execute(text("SELECT asset_id, sha256 FROM asset_blobs")).all() == [
            (1, META_SHA)]
    # Every pooled connection, the migration's included, still refuses a dangling reference.
    for _ in range(3):
        with pytest.raises(IntegrityError), catalog.engines[1].begin() as conn:
            conn.execute(text("INSERT INTO asset_blobs (asset_id, sha256) "
                              f"VALUES (99, '{'e' * 64}')"))
    assert catalog.digests_missing() == []
