"""The Catalog's edits of versions besides their status, on every database backend: a version's
format attributes replaced (npm's deprecation), versions deleted with their assets, extra blobs
and tags (npm's unpublish), and one version's asset found and kept when every version's file
has the same name (npm's ``package.tgz``)."""

from __future__ import annotations

from datetime import UTC, datetime

from packyard.metadata.catalog import Catalog, NewAsset, NewVersion, PublishResult, SqlCatalog
from packyard.metadata.outbox import EventOutbox
from packyard.model import Repository

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _repo(catalog: Catalog, name: str = "repo") -> Repository:
    domain = catalog.create_domain(f"dom-{name}", "000000000000", "key", NOW)
    return catalog.create_repository(domain, name, "", "000000000000", NOW)


def _publish(catalog: Catalog, repo: Repository, version: str, sha: str,
             attributes: dict[str, str] | None = None) -> PublishResult:
    new_version = NewVersion(version=version, version_key=version, summary="s", home_page=None,
                             source_code_repository=None, licenses=[], readme=None,
                             readme_content_type=None, dependencies=[],
                             attributes=attributes or {})
    asset = NewAsset(name="package.tgz", size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                     md5="0" * 32, attributes={})
    return catalog.publish(repo, "npm", "acme", "util", "@acme/util", new_version, asset,
                           {sha: 3}, NOW)


def test_replacing_a_versions_attributes_makes_a_new_revision(catalog: Catalog) -> None:
    repo = _repo(catalog)
    published = _publish(catalog, repo, "1.0.0", "a" * 64, {"manifest": "m"})
    stamp = catalog.changes.stamp()
    changed = catalog.update_version_attributes(published.version,
                                                {"manifest": "m", "deprecated": "use 2"})
    assert catalog.changes.stamp() != stamp  # packuments show deprecations: caches must drop
    assert dict(changed.attributes) == {"manifest": "m", "deprecated": "use 2"}
    assert changed.revision != published.version.revision
    assert (changed.id, changed.status) == (published.version.id, "Published")
    assert catalog.get_version(published.package.id, "1.0.0") == changed


def test_deleting_versions_removes_their_assets_tags_and_unused_blobs(catalog: Catalog) -> None:
    repo = _repo(catalog)
    other = catalog.create_repository(catalog.get_domain("000000000000", "dom-repo"), "other",
                                      "", "000000000000", NOW)
    first = _publish(catalog, repo, "1.0.0", "a" * 64)
    _publish(catalog, repo, "1.1.0", "b" * 64)
    _publish(catalog, other, "1.1.0", "b" * 64)  # the same bytes, kept by another repository
    package = first.package.id
    catalog.put_package_tag(package, "latest", "1.1.0")
    catalog.put_package_tag(package, "old", "1.0.0")
    stamp = catalog.changes.stamp()
    unused = catalog.delete_versions(package, ["1.0.0", "1.1.0"])
    assert catalog.changes.stamp() != stamp
    assert unused == ["a" * 64]  # "b" is still used by the other repository
    assert catalog.list_versions(package) == []
    assert catalog.package_tags(package) == {}
    assert catalog.find_asset(repo.id, "npm", "util", "package.tgz", "acme") is None
    assert catalog.get_domain("000000000000", "dom-repo").asset_size_bytes == 3
    assert catalog.delete_versions(package, []) == []


def test_a_deleted_version_may_be_published_again_with_other_bytes(catalog: Catalog) -> None:
    repo = _repo(catalog)
    first = _publish(catalog, repo, "1.0.0", "a" * 64)
    catalog.delete_versions(first.package.id, ["1.0.0"])
    again = _publish(catalog, repo, "1.0.0", "c" * 64)
    assert again.created
    found = catalog.find_asset(repo.id, "npm", "util", "package.tgz", "acme", "1.0.0")
    assert found is not None and found[1].sha256 == "c" * 64


def test_one_versions_asset_when_every_version_names_it_alike(catalog: Catalog) -> None:
    repo = _repo(catalog)
    team = catalog.create_repository(catalog.get_domain("000000000000", "dom-repo"), "team",
                                     "", "000000000000", NOW)
    _publish(catalog, repo, "1.0.0", "a" * 64)
    _publish(catalog, repo, "2.0.0", "b" * 64)
    for version, sha in (("1.0.0", "a"), ("2.0.0", "b")):
        found = catalog.find_asset(repo.id, "npm", "util", "package.tgz", "acme", version)
        assert found is not None
        assert (found[0].version, found[1].sha256) == (version, sha * 64)
    assert catalog.find_asset(repo.id, "npm", "util", "package.tgz", "acme", "3.0.0") is None
    assert catalog.retain_from(repo.id, "npm", "util", "package.tgz", [team], NOW, "acme",
                               "2.0.0")
    kept = catalog.find_asset(team.id, "npm", "util", "package.tgz", "acme", "2.0.0")
    assert kept is not None and kept[1].sha256 == "b" * 64
    assert catalog.find_asset(team.id, "npm", "util", "package.tgz", "acme", "1.0.0") is None


def test_edits_and_deletions_are_version_events(catalog: Catalog) -> None:
    assert isinstance(catalog, SqlCatalog)
    repo = _repo(catalog)
    published = _publish(catalog, repo, "1.0.0", "a" * 64)
    catalog.update_version_attributes(published.version, {"deprecated": "use 2"})
    catalog.delete_versions(published.package.id, ["1.0.0"])
    details = [e.document["detail"] for e in EventOutbox(*catalog.engines).after(0)]
    assert [(d["packageVersion"], d["operationType"], d["packageVersionState"],
             d["changes"]["metadataUpdated"], d["changes"]["assetsRemoved"])
            for d in details] == [("1.0.0", "Created", "Published", True, 0),
                                  ("1.0.0", "Updated", "Published", True, 0),
                                  ("1.0.0", "Deleted", "Deleted", False, 1)]
