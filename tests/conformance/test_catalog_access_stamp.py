"""Which catalog writes move the access stamp (``Catalog.access_changes``), on every metadata
backend: those an access decision or a read grant rests on (domains and repositories made,
changed or deleted, resource tags), and no other. Every write moves the change stamp
(``Catalog.changes``); read grants are kept under the access stamp only, so a publish or a
pull-through keep must leave it where it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from packyard.errors import Conflict
from packyard.metadata.catalog import EntryPoint, NewAsset, NewVersion, SqlCatalog
from packyard.model import Domain, Package, PackageVersion, Repository

ACCOUNT = "000000000000"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _version(v: str) -> NewVersion:
    return NewVersion(version=v, version_key=v, summary="s", home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[])


def _asset(name: str, sha: str) -> NewAsset:
    return NewAsset(name=name, size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                    md5="0" * 32, attributes={})


@dataclass
class Shelf:
    """A domain with repositories ``shelf`` (holding pkg 1.0) and ``lib``, and a package
    group."""

    catalog: SqlCatalog
    domain: Domain
    shelf: Repository
    lib: Repository
    package: Package
    version: PackageVersion


@pytest.fixture
def shelf(catalog: SqlCatalog) -> Shelf:
    domain = catalog.create_domain("dom", ACCOUNT, "key", NOW)
    repo = catalog.create_repository(domain, "shelf", "", ACCOUNT, NOW)
    lib = catalog.create_repository(domain, "lib", "", ACCOUNT, NOW)
    published = catalog.publish(repo, "pypi", "", "pkg", "pkg", _version("1.0"),
                                _asset("pkg-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
    catalog.create_package_group(domain, "/pypi//grouped$", None, None, NOW)
    return Shelf(catalog, domain, repo, lib, published.package, published.version)


Write = Callable[[Shelf], object]

MOVES_ACCESS: dict[str, Write] = {
    "create domain": lambda s: s.catalog.create_domain("other", ACCOUNT, "key", NOW),
    "delete domain": lambda s: s.catalog.delete_domain(
        s.catalog.create_domain("gone", ACCOUNT, "key", NOW)),
    "set a domain's key": lambda s: s.catalog.set_domain_encryption_key(s.domain.id, "k2"),
    "create repository": lambda s: s.catalog.create_repository(s.domain, "new", "", ACCOUNT,
                                                               NOW),
    "update repository": lambda s: s.catalog.update_repository(s.shelf, "described"),
    "delete repository": lambda s: s.catalog.delete_repository(s.lib, NOW),
    "tag a repository": lambda s: s.catalog.change_resource_tags(
        "repository", ACCOUNT, "dom", "shelf", lambda tags: {**tags, "team": "data"}),
    "tag a domain": lambda s: s.catalog.change_resource_tags(
        "domain", ACCOUNT, "dom", None, lambda _tags: {}),
    "create package group": lambda s: s.catalog.create_package_group(
        s.domain, "/pypi//pkg$", None, None, NOW, {"team": "data"}),
    "delete package group": lambda s: s.catalog.delete_package_group(s.domain,
                                                                      "/pypi//grouped$"),
}

LEAVES_ACCESS: dict[str, Write] = {
    "publish": lambda s: s.catalog.publish(
        s.shelf, "pypi", "", "pkg", "pkg", _version("2.0"), _asset("pkg-2.0.tar.gz", "b" * 64),
        {"b" * 64: 3}, NOW),
    "pull-through keep": lambda s: s.catalog.retain(
        [s.lib], "pypi", "", "up", "up", _version("1.0"), _asset("up-1.0.tar.gz", "c" * 64),
        EntryPoint("EXTERNAL", None, "public:pypi"), {"c" * 64: 3}, NOW),
    "version status": lambda s: s.catalog.update_version_status(s.version, "Unlisted"),
    "versions deleted": lambda s: s.catalog.delete_versions(s.package.id, ["1.0"]),
    "package tag": lambda s: s.catalog.put_package_tag(s.package.id, "latest", "1.0"),
    "origin configuration": lambda s: s.catalog.put_origin_configuration(
        s.shelf, "pypi", "", "pkg", "pkg", "ALLOW", "BLOCK", NOW),
    "upstreams": lambda s: s.catalog.replace_upstreams(s.shelf, [s.lib.id], lambda _g: None),
    "external connection": lambda s: s.catalog.add_external_connection(
        s.lib, "public:pypi", "pypi", NOW),
    "token": lambda s: s.catalog.insert_token(
        "t1", "a" * 64, f"arn:aws:iam::{ACCOUNT}:root", None, s.domain, NOW,
        NOW + timedelta(hours=1)),
}


@pytest.mark.parametrize("write", [pytest.param(w, id=n) for n, w in MOVES_ACCESS.items()])
def test_a_write_access_rests_on_moves_both_stamps(shelf: Shelf, write: Write) -> None:
    changes, access = shelf.catalog.changes.stamp(), shelf.catalog.access_changes.stamp()
    write(shelf)
    assert shelf.catalog.access_changes.stamp() != access
    assert shelf.catalog.changes.stamp() != changes


@pytest.mark.parametrize("write", [pytest.param(w, id=n) for n, w in LEAVES_ACCESS.items()])
def test_a_write_no_access_rests_on_leaves_the_access_stamp(shelf: Shelf, write: Write) -> None:
    changes, access = shelf.catalog.changes.stamp(), shelf.catalog.access_changes.stamp()
    write(shelf)
    assert shelf.catalog.access_changes.stamp() == access
    assert shelf.catalog.changes.stamp() != changes


@pytest.mark.parametrize("write", [pytest.param(w, id=n) for n, w in
                                   {**MOVES_ACCESS, **LEAVES_ACCESS}.items()])
def test_only_a_kept_file_leaves_the_structure_stamp(shelf: Shelf, write: Write) -> None:
    """What domain graphs, package groups and merges kept across pulled files are bound to
    (``ChangeLog.structure_stamp``): every write moves it but a pulled file kept."""
    structure = shelf.catalog.changes.structure_stamp()
    write(shelf)
    kept_file = write is LEAVES_ACCESS["pull-through keep"]
    assert (shelf.catalog.changes.structure_stamp() == structure) is kept_file


def test_a_refused_write_moves_no_stamp(shelf: Shelf) -> None:
    changes, access = shelf.catalog.changes.stamp(), shelf.catalog.access_changes.stamp()
    with pytest.raises(Conflict, match="already exists"):
        shelf.catalog.create_repository(shelf.domain, "shelf", "", ACCOUNT, NOW)
    assert (shelf.catalog.changes.stamp(), shelf.catalog.access_changes.stamp()) == (
        changes, access)
