"""The Catalog contract on every database backend: transactions, uniqueness, dedupe bookkeeping,
listings, tokens, cached pages and the change counter (``conftest.py`` has the backends)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, inspect, text

from packyard.errors import Conflict, Denied, NotFound, PackyardError
from packyard.metadata.catalog import (
    CachedPage,
    Catalog,
    NewAsset,
    NewFile,
    NewVersion,
    SqlCatalog,
)
from packyard.model import Repository, TokenRecord
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _version(v: str = "1.0") -> NewVersion:
    return NewVersion(version=v, version_key=v, summary="s", home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[])


def _asset(name: str, sha: str) -> NewAsset:
    return NewAsset(name=name, size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                    md5="0" * 32, attributes={"blake2_256": "0" * 64})


def test_migration_creates_every_table(catalog: SqlCatalog) -> None:
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


# -- publish_many: one transaction, the same rules as publishing one file after the other ----


def _file(name: str, version: str, filename: str, sha: str) -> NewFile:
    return NewFile(name, name.title(), _version(version), _asset(filename, sha), {sha: 3})


def _repo(catalog: Catalog, name: str = "repo") -> Repository:
    d = catalog.create_domain(f"dom-{name}", "000000000000", "key", NOW)
    return catalog.create_repository(d, name, "", "000000000000", NOW)


def _outcome(result: object) -> object:
    """A comparable outcome of publish / publish_many: True, False or the error's type+text."""
    if isinstance(result, PackyardError):
        return (type(result).__name__, result.message)
    return result


def _one_by_one(catalog: Catalog, repo: Repository, files: list[NewFile]) -> list[object]:
    outcomes: list[object] = []
    for f in files:
        try:
            outcomes.append(catalog.publish(repo, "pypi", "", f.name, f.display_name, f.version,
                                            f.asset, f.blob_sizes, NOW).created)
        except PackyardError as exc:
            outcomes.append(_outcome(exc))
    return outcomes


def _index(catalog: Catalog, repo: Repository, name: str) -> list[tuple[str, str, str]]:
    found = catalog.project_index(repo.id, "pypi", name)
    assert found is not None
    return sorted((e.version, e.asset.name, e.asset.sha256) for e in found[2])


BATCH = [
    _file("pkg", "1.0", "pkg-1.0.tar.gz", "a" * 64),
    _file("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "b" * 64),  # same version, second file
    _file("pkg", "2.0", "pkg-2.0.tar.gz", "c" * 64),
    _file("pkg", "1.0", "pkg-1.0.tar.gz", "a" * 64),  # identical again: a no-op
    _file("pkg", "1.0", "pkg-1.0.tar.gz", "f" * 64),  # other bytes: a conflict
    _file("other", "0.1", "other-0.1.tar.gz", "a" * 64),  # shares a blob with the first
]


def test_publish_many_answers_as_publishing_one_by_one(databases: Databases) -> None:
    batched = databases.catalog(databases.url("batched"))
    single = databases.catalog(databases.url("single"))
    answers: dict[str, list[object]] = {}
    for label, catalog in (("batched", batched), ("single", single)):
        catalog.migrate()
        repo = _repo(catalog)
        if label == "batched":
            answers[label] = [_outcome(r) for r in catalog.publish_many(repo, "pypi", "", BATCH,
                                                                         NOW)]
        else:
            answers[label] = _one_by_one(catalog, repo, BATCH)
        answers[f"{label} pkg"] = list(_index(catalog, repo, "pkg"))
        answers[f"{label} other"] = list(_index(catalog, repo, "other"))
        answers[f"{label} size"] = [catalog.get_domain("000000000000", "dom-repo").asset_size_bytes]
    assert answers["batched"] == answers["single"] == [
        True, True, True, False,
        ("Conflict", "File already exists: pkg-1.0.tar.gz has other content in version 1.0; "
                     "files are never replaced"),
        True]
    for part in ("pkg", "other", "size"):
        assert answers[f"batched {part}"] == answers[f"single {part}"]


def test_publish_many_again_is_a_no_op_that_keeps_revisions(catalog: Catalog) -> None:
    repo = _repo(catalog)
    assert catalog.publish_many(repo, "pypi", "", BATCH[:3], NOW) == [True, True, True]
    package = catalog.find_package(repo.id, "pypi", "", "pkg")
    assert package is not None and package.display_name == "Pkg"
    before = {v.version: v.revision for v in catalog.list_versions(package.id)}
    assert catalog.publish_many(repo, "pypi", "", BATCH[:3], NOW) == [False, False, False]
    assert {v.version: v.revision for v in catalog.list_versions(package.id)} == before


def test_publish_many_adds_files_to_existing_versions_with_a_new_revision(
        catalog: Catalog) -> None:
    repo = _repo(catalog)
    first = catalog.publish(repo, "pypi", "", "pkg", "Pkg", _version("1.0"),
                            _asset("pkg-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
    assert catalog.publish_many(repo, "pypi", "", [BATCH[1]], NOW) == [True]
    version = catalog.get_version(first.package.id, "1.0")
    assert version is not None and version.revision != first.version.revision
    assert [a.name for a in catalog.list_assets(version.id)] == [
        "pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"]


def test_publish_many_refuses_blocked_packages_and_closed_versions_alone(
        catalog: Catalog) -> None:
    repo = _repo(catalog)
    catalog.put_origin_configuration(repo, "pypi", "", "blocked", "Blocked", "BLOCK", "ALLOW",
                                     NOW)
    archived = catalog.publish(repo, "pypi", "", "pkg", "Pkg", _version("1.0"),
                               _asset("pkg-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
    catalog.update_version_status(archived.version, "Archived")
    results = catalog.publish_many(repo, "pypi", "", [
        _file("blocked", "1.0", "blocked-1.0.tar.gz", "b" * 64),
        _file("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "c" * 64),
        _file("fine", "1.0", "fine-1.0.tar.gz", "d" * 64),
    ], NOW)
    assert isinstance(results[0], Denied) and "origin configuration" in results[0].message
    assert isinstance(results[1], Conflict) and results[1].message == (
        "Version 1.0 of Pkg is Archived; no files can be added to it")
    assert results[2] is True
    blocked = catalog.find_package(repo.id, "pypi", "", "blocked")
    assert blocked is not None and catalog.list_versions(blocked.id) == []
    # Only the accepted file's blob is counted.
    assert catalog.get_domain("000000000000", "dom-repo").asset_size_bytes == 3 + 3


def test_publish_many_keeps_each_files_namespace_and_writes_its_tags(catalog: Catalog) -> None:
    # A batch of npm tarballs spans scopes; each tarball moves its package's dist-tags.
    repo = _repo(catalog)
    catalog.put_origin_configuration(repo, "npm", "held", "util", "@held/util", "BLOCK",
                                     "ALLOW", NOW)

    def tarball(namespace: str | None, display: str, version: str, sha: str,
                tags: dict[str, str | None]) -> NewFile:
        return NewFile("util", display, _version(version), _asset("package.tgz", sha),
                       {sha: 3}, namespace=namespace, tag_changes=tags)

    results = catalog.publish_many(repo, "npm", "", [
        tarball("acme", "@acme/util", "1.0.0", "a" * 64, {"latest": "1.0.0"}),
        tarball("acme", "@acme/util", "2.0.0", "b" * 64, {"next": "2.0.0"}),
        tarball(None, "util", "1.0.0", "c" * 64, {"beta": "1.0.0"}),
        tarball("held", "@held/util", "1.0.0", "d" * 64, {"latest": "1.0.0"}),
        tarball("acme", "@acme/util", "1.0.0", "e" * 64, {"latest": None}),
    ], NOW)

    assert results[:3] == [True, True, True]
    assert isinstance(results[3], Denied) and isinstance(results[4], Conflict)
    tags = {}
    for namespace in ("acme", "", "held"):
        package = catalog.find_package(repo.id, "npm", namespace, "util")
        assert package is not None
        tags[package.display_name] = catalog.package_tags(package.id)
        assert package.namespace == namespace
    # A refused file's tag changes are not written.
    assert tags == {"@acme/util": {"latest": "1.0.0", "next": "2.0.0"},
                    "util": {"beta": "1.0.0"}, "@held/util": {}}


def test_assets_named_answers_only_for_the_repository(catalog: Catalog) -> None:
    one, two = _repo(catalog, "one"), _repo(catalog, "two")
    catalog.publish_many(one, "pypi", "", [BATCH[0]], NOW)
    catalog.publish_many(two, "pypi", "", [BATCH[2]], NOW)
    names = ["pkg-1.0.tar.gz", "pkg-2.0.tar.gz", "missing-1.0.tar.gz"]
    assert {n: a.sha256 for n, a in catalog.find_assets_named(one.id, "pypi", names).items()} == {
        "pkg-1.0.tar.gz": "a" * 64}
    assert set(catalog.find_assets_named(two.id, "pypi", names)) == {"pkg-2.0.tar.gz"}


# -- domains and repositories -----------------------------------------------------------------


def test_domains_are_listed_by_name_with_their_statistics(catalog: Catalog) -> None:
    beta = catalog.create_domain("beta", "000000000000", "key", NOW)
    alpha = catalog.create_domain("alpha", "111111111111", "key", NOW)
    catalog.create_repository(beta, "repo", "", "000000000000", NOW)
    assert [(d.name, d.owner, d.repository_count) for d in catalog.list_domains()] == [
        ("alpha", "111111111111", 0), ("beta", "000000000000", 1)]
    plain = catalog.get_domain("000000000000", "beta", with_stats=False)
    assert (plain.id, plain.name, plain.status, plain.created_at) == (
        beta.id, "beta", "Active", NOW)
    # Names are unique per owner, not across owners.
    assert catalog.create_domain("alpha", "000000000000", "key", NOW).id not in {alpha.id,
                                                                                  beta.id}


def test_an_empty_domain_is_deleted_with_its_tokens(catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", "000000000000", "key", NOW)
    catalog.insert_token("t1", "f" * 64, "arn:aws:iam::000000000000:root", None, domain, NOW,
                         NOW.replace(year=2027))
    catalog.delete_domain(domain)
    assert catalog.list_domains() == []
    assert catalog.find_token("f" * 64) is None
    assert catalog.domain_by_id(domain.id) is None
    with pytest.raises(NotFound, match="Domain dom not found"):
        catalog.get_domain("000000000000", "dom")


def test_domain_by_id(catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", "000000000000", "key", NOW)
    found = catalog.domain_by_id(domain.id)
    assert found is not None and (found.name, found.owner) == ("dom", "000000000000")


def test_repository_names_are_unique_per_domain(catalog: Catalog) -> None:
    one = catalog.create_domain("one", "000000000000", "key", NOW)
    two = catalog.create_domain("two", "000000000000", "key", NOW)
    repo = catalog.create_repository(one, "repo", "first", "000000000000", NOW)
    assert (repo.domain_name, repo.domain_owner, repo.description, repo.created_at) == (
        "one", "000000000000", "first", NOW)
    with pytest.raises(Conflict, match="Repository repo already exists in domain one"):
        catalog.create_repository(one, "repo", "", "000000000000", NOW)
    assert catalog.create_repository(two, "repo", "", "000000000000", NOW).id != repo.id
    with pytest.raises(NotFound, match="Repository nope not found in domain one"):
        catalog.get_repository(one, "nope")


def test_repositories_are_listed_by_name(catalog: Catalog) -> None:
    one = catalog.create_domain("one", "000000000000", "key", NOW)
    two = catalog.create_domain("two", "000000000000", "key", NOW)
    for domain, name in ((one, "zeta"), (two, "alpha"), (one, "beta")):
        catalog.create_repository(domain, name, "", "000000000000", NOW)
    assert [r.name for r in catalog.list_repositories(one)] == ["beta", "zeta"]
    assert [(r.domain_name, r.name) for r in catalog.list_repositories()] == [
        ("two", "alpha"), ("one", "beta"), ("one", "zeta")]


def test_update_repository_changes_its_description(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", "000000000000", "key", NOW)
    repo = catalog.create_repository(domain, "repo", "old", "000000000000", NOW)
    updated = catalog.update_repository(repo, "new")
    assert updated == catalog.get_repository(domain, "repo")
    assert (updated.id, updated.name, updated.description) == (repo.id, "repo", "new")


def test_deleting_a_repository_frees_the_metadata_blobs_it_alone_used(catalog: Catalog) -> None:
    repo = _repo(catalog)
    asset = NewAsset(name="pkg-1.0-py3-none-any.whl", size=3, sha256="a" * 64,
                     sha512="0" * 128, sha1="0" * 40, md5="0" * 32,
                     attributes={"blake2_256": "0" * 64, "requires_python": ">=3.8",
                                 "metadata_sha256": "b" * 64, "metadata_size": 2},
                     companions=("b" * 64,))
    catalog.publish(repo, "pypi", "", "pkg", "pkg", _version(), asset,
                    {"a" * 64: 3, "b" * 64: 2}, NOW)
    assert catalog.delete_repository(repo) == ["a" * 64, "b" * 64]


def test_a_companion_blob_stays_while_a_kept_copy_uses_it(catalog: Catalog) -> None:
    domain = catalog.create_domain("dom", "000000000000", "key", NOW)
    one = catalog.create_repository(domain, "one", "", "000000000000", NOW)
    two = catalog.create_repository(domain, "two", "", "000000000000", NOW)
    asset = NewAsset(name="pkg-1.0-py3-none-any.whl", size=3, sha256="a" * 64,
                     sha512="0" * 128, sha1="0" * 40, md5="0" * 32, companions=("b" * 64,))
    catalog.publish(one, "pypi", "", "pkg", "pkg", _version(), asset,
                    {"a" * 64: 3, "b" * 64: 2}, NOW)
    catalog.put_origin_configuration(two, "pypi", "", "pkg", "pkg", "BLOCK", "ALLOW", NOW)
    assert catalog.retain_from(one.id, "pypi", "pkg", asset.name, [two], NOW)
    assert catalog.delete_repository(one) == []  # the copy in two keeps both blobs
    assert catalog.delete_repository(two) == ["a" * 64, "b" * 64]


def test_publish_many_records_companion_blobs(catalog: Catalog) -> None:
    repo = _repo(catalog)
    asset = NewAsset(name="pkg-1.0-py3-none-any.whl", size=3, sha256="a" * 64,
                     sha512="0" * 128, sha1="0" * 40, md5="0" * 32, companions=("b" * 64,))
    catalog.publish_many(repo, "pypi", "", [NewFile("pkg", "pkg", _version(), asset,
                                                    {"a" * 64: 3, "b" * 64: 2})], NOW)
    assert catalog.delete_repository(repo) == ["a" * 64, "b" * 64]


def test_format_attributes_of_versions_and_assets_round_trip(catalog: Catalog) -> None:
    repo = _repo(catalog)
    manifest = {"name": "pkg", "version": "1.0.0", "dist": {"shasum": "0" * 40},
                "deprecated": "use pkg2"}
    version = NewVersion(version="1.0.0", version_key="1.0.0", summary=None, home_page=None,
                         source_code_repository=None, licenses=[], readme=None,
                         readme_content_type=None, dependencies=[],
                         attributes={"manifest": manifest})
    asset = NewAsset(name="pkg-1.0.0.tgz", size=3, sha256="a" * 64, sha512="0" * 128,
                     sha1="0" * 40, md5="0" * 32, attributes={"integrity": "sha512-AAAA"})
    published = catalog.publish(repo, "npm", "scope", "pkg", "pkg", version, asset,
                                {"a" * 64: 3}, NOW)
    assert dict(published.version.attributes) == {"manifest": manifest}
    assert dict(published.asset.attributes) == {"integrity": "sha512-AAAA"}
    found = catalog.find_asset(repo.id, "npm", "pkg", "pkg-1.0.0.tgz", namespace="scope")
    assert found is not None
    assert dict(found[0].attributes) == {"manifest": manifest}
    assert dict(found[1].attributes) == {"integrity": "sha512-AAAA"}
    assert catalog.find_asset(repo.id, "npm", "pkg", "pkg-1.0.0.tgz") is None  # other scope
    index = catalog.project_index(repo.id, "npm", "pkg", namespace="scope")
    assert index is not None and dict(index[2][0].asset.attributes) == {"integrity": "sha512-AAAA"}


# -- tags ---------------------------------------------------------------------------------------


def test_package_tags_point_at_versions_and_move(catalog: Catalog) -> None:
    repo = _repo(catalog)
    pkg = catalog.put_origin_configuration(repo, "npm", "", "pkg", "pkg", "ALLOW", "BLOCK", NOW)
    other = catalog.put_origin_configuration(repo, "npm", "", "lib", "lib", "ALLOW", "BLOCK", NOW)
    assert catalog.package_tags(pkg.id) == {}
    stamp = catalog.changes.stamp()
    catalog.put_package_tag(pkg.id, "latest", "1.0.0")
    assert catalog.changes.stamp() != stamp  # packuments show tags: caches must drop
    catalog.put_package_tag(pkg.id, "beta", "2.0.0-beta.1")
    catalog.put_package_tag(pkg.id, "latest", "1.1.0")  # moved
    catalog.put_package_tag(other.id, "latest", "3.0.0")
    assert catalog.package_tags(pkg.id) == {"beta": "2.0.0-beta.1", "latest": "1.1.0"}
    assert list(catalog.package_tags(pkg.id)) == ["beta", "latest"]
    assert catalog.delete_package_tag(pkg.id, "beta") is True
    assert catalog.delete_package_tag(pkg.id, "beta") is False
    assert catalog.package_tags(pkg.id) == {"latest": "1.1.0"}
    assert catalog.package_tags(other.id) == {"latest": "3.0.0"}


def test_deleting_a_repository_deletes_its_tags(catalog: Catalog) -> None:
    repo = _repo(catalog)
    pkg = catalog.put_origin_configuration(repo, "npm", "", "pkg", "pkg", "ALLOW", "BLOCK", NOW)
    catalog.put_package_tag(pkg.id, "latest", "1.0.0")
    catalog.delete_repository(repo)
    assert catalog.package_tags(pkg.id) == {}


# -- listings -----------------------------------------------------------------------------------


def test_list_packages_filters_and_pages_by_name(catalog: Catalog) -> None:
    repo = _repo(catalog)
    for name in ("a_b", "abc", "abd", "b"):
        catalog.publish(repo, "pypi", "", name, name, _version(),
                        _asset(f"{name}-1.0.tar.gz", name[0] * 64), {name[0] * 64: 3}, NOW)
    catalog.put_origin_configuration(repo, "npm", "scope", "abe", "abe", "ALLOW", "ALLOW", NOW)

    def names(**query: Any) -> list[str]:
        return [p.name for p in catalog.list_packages(repo.id, **query)]

    assert names() == ["a_b", "abc", "abd", "abe", "b"]
    assert names(fmt="pypi") == ["a_b", "abc", "abd", "b"]
    assert names(namespace="scope") == ["abe"]
    assert names(prefix="ab") == ["abc", "abd", "abe"]
    assert names(prefix="a_") == ["a_b"]  # "_" is a character, not a LIKE wildcard
    abc = catalog.list_packages(repo.id, prefix="abc")[0]
    assert names(after=(abc.name, abc.id), limit=2) == ["abd", "abe"]
    assert catalog.list_packages(_repo(catalog, "other").id) == []


def test_list_packages_pages_by_name_and_id_and_filters_in_the_query(catalog: Catalog) -> None:
    repo = _repo(catalog)
    # One name in three places (two formats, two namespaces): a page may end between them.
    for fmt, namespace in (("npm", "acme"), ("npm", "acme-labs"), ("generic", "tools")):
        catalog.put_origin_configuration(repo, fmt, namespace, "same", "same", "ALLOW",
                                         "ALLOW", NOW)
    catalog.put_origin_configuration(repo, "npm", "other", "zeta", "zeta", "BLOCK", "BLOCK",
                                     NOW)
    everything = catalog.list_packages(repo.id)
    assert [(p.name, p.namespace) for p in everything] == [
        ("same", "acme"), ("same", "acme-labs"), ("same", "tools"), ("zeta", "other")]
    seen, after = [], None
    while True:
        page = catalog.list_packages(repo.id, after=after, limit=1)
        if not page:
            break
        seen += page
        after = (page[-1].name, page[-1].id)
    assert seen == everything
    assert [p.namespace for p in catalog.list_packages(repo.id, namespace_prefix="acme")] == [
        "acme", "acme-labs"]
    assert [p.namespace for p in catalog.list_packages(repo.id, namespace="acme")] == ["acme"]
    assert [p.name for p in catalog.list_packages(repo.id, publish="BLOCK")] == ["zeta"]
    assert [p.name for p in catalog.list_packages(repo.id, upstream="ALLOW")] == ["same"] * 3


def test_list_packages_by_the_status_of_one_of_their_versions(catalog: Catalog) -> None:
    repo = _repo(catalog)
    for name, versions in (("both", ("1.0", "2.0")), ("kept", ("1.0",)), ("gone", ("1.0",))):
        for v in versions:
            catalog.publish(repo, "pypi", "", name, name, _version(v),
                            _asset(f"{name}-{v}.tar.gz", f"{name}{v}".ljust(64, "0")),
                            {f"{name}{v}".ljust(64, "0"): 3}, NOW)
    catalog.put_origin_configuration(repo, "npm", "", "empty", "empty", "ALLOW", "ALLOW", NOW)
    by_name = {p.name: p for p in catalog.list_packages(repo.id)}
    for name, v, status in (("both", "2.0", "Archived"), ("gone", "1.0", "Unlisted")):
        found = catalog.get_version(by_name[name].id, v)
        assert found is not None
        catalog.update_version_status(found, status)

    def names(status: str) -> list[str]:
        return [p.name for p in catalog.list_packages(repo.id, version_status=status)]

    assert names("Published") == ["both", "kept"]
    assert names("Archived") == ["both"]
    assert names("Unlisted") == ["gone"]
    assert names("Disposed") == []


def test_project_names_are_those_with_a_listed_version(catalog: Catalog) -> None:
    repo = _repo(catalog)
    for name, status in (("shown", "Published"), ("unlisted", "Unlisted"),
                         ("archived", "Archived")):
        result = catalog.publish(repo, "pypi", "", name, name, _version(),
                                 _asset(f"{name}-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
        if status != "Published":
            catalog.update_version_status(result.version, status)
    catalog.put_origin_configuration(repo, "pypi", "", "empty", "empty", "ALLOW", "ALLOW", NOW)
    assert catalog.list_project_names(repo.id, "pypi") == ["shown", "unlisted"]
    assert catalog.list_project_names(repo.id, "npm") == []


def test_assets_named_answers_across_the_repositorys_projects(catalog: Catalog) -> None:
    one, two = _repo(catalog, "one"), _repo(catalog, "two")
    catalog.publish(one, "pypi", "", "pkg", "pkg", _version(), _asset("pkg-1.0.tar.gz", "a" * 64),
                    {"a" * 64: 3}, NOW)

    def taken(repo: Repository, fmt: str, filename: str) -> Any:
        return catalog.find_assets_named(repo.id, fmt, [filename]).get(filename)

    found = taken(one, "pypi", "pkg-1.0.tar.gz")
    assert found is not None and found.sha256 == "a" * 64
    assert taken(one, "npm", "pkg-1.0.tar.gz") is None
    assert taken(two, "pypi", "pkg-1.0.tar.gz") is None
    assert taken(one, "pypi", "pkg-2.0.tar.gz") is None


def test_a_status_change_makes_a_new_revision(catalog: Catalog) -> None:
    repo = _repo(catalog)
    result = catalog.publish(repo, "pypi", "", "pkg", "pkg", _version(),
                             _asset("pkg-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
    changed = catalog.update_version_status(result.version, "Unlisted")
    assert (changed.id, changed.status) == (result.version.id, "Unlisted")
    assert changed.revision != result.version.revision
    assert catalog.list_versions(result.package.id) == [changed]
    assert catalog.get_version(result.package.id, "1.0") == changed


# -- cached upstream pages and tokens -----------------------------------------------------------


def test_upstream_pages_are_kept_and_replaced(catalog: Catalog) -> None:
    index = "https://pypi.example/simple/"
    assert catalog.get_upstream_page(index, "pkg") is None
    page = CachedPage(index, "pkg", True, '{"files": []}', '"e1"', "Thu, 01 Jan 2026", NOW)
    catalog.put_upstream_page(page)
    assert catalog.get_upstream_page(index, "pkg") == page
    missing = CachedPage(index, "pkg", False, None, None, None, NOW.replace(hour=1))
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0])

    writer = catalog.engines[1]
    event.listen(writer, "before_cursor_execute", count)
    try:
        catalog.put_upstream_page(missing)
    finally:
        event.remove(writer, "before_cursor_execute", count)
    assert catalog.get_upstream_page(index, "pkg") == missing
    # Replaced in one statement (a cold install stores one page per project it reads).
    assert [s for s in statements if s in ("INSERT", "UPDATE", "DELETE")] == ["INSERT"]
    assert catalog.get_upstream_page("https://other.example/simple/", "pkg") is None


def test_the_index_urls_pages_are_stored_of_are_listed_once_each(catalog: Catalog) -> None:
    assert catalog.upstream_page_urls() == []
    for index, project in (("https://pypi.example/simple/", "a"),
                           ("https://pypi.example/simple/", "b"),
                           ("https://registry.example/", "a")):
        catalog.put_upstream_page(CachedPage(index, project, True, "[]", None, None, NOW))
    assert sorted(catalog.upstream_page_urls()) == ["https://pypi.example/simple/",
                                                    "https://registry.example/"]


def test_an_upstream_page_revalidated_unchanged_keeps_its_document(catalog: Catalog) -> None:
    index = "https://registry.example/"
    page = CachedPage(index, "next", True, '{"versions": [1]}', '"e1"', None, NOW)
    catalog.put_upstream_page(page)
    other = CachedPage(index, "other", True, '{"versions": [2]}', '"o1"', None, NOW)
    catalog.put_upstream_page(other)
    later = NOW.replace(hour=3)
    catalog.touch_upstream_page(CachedPage(index, "next", True, None, '"e2"',
                                           "Fri, 02 Jan 2026", later))
    assert catalog.get_upstream_page(index, "next") == CachedPage(
        index, "next", True, '{"versions": [1]}', '"e2"', "Fri, 02 Jan 2026", later)
    assert catalog.get_upstream_page(index, "other") == other


def test_tokens_are_found_by_their_secrets_hash_and_expire(catalog: SqlCatalog) -> None:
    domain = catalog.create_domain("dom", "000000000000", "key", NOW)
    later = NOW.replace(hour=12)
    catalog.insert_token("t1", "1" * 64, "arn:aws:iam::000000000000:user/u", "AKIAEXAMPLE",
                         domain, NOW, NOW.replace(hour=1))
    catalog.insert_token("t2", "2" * 64, "arn:aws:iam::000000000000:root", None, domain, NOW,
                         later)
    assert catalog.find_token("1" * 64) == TokenRecord(
        id="t1", principal_arn="arn:aws:iam::000000000000:user/u", access_key_id="AKIAEXAMPLE",
        domain_id=domain.id, created_at=NOW, expires_at=NOW.replace(hour=1), revoked_at=None)
    assert catalog.find_token("3" * 64) is None
    assert catalog.delete_expired_tokens(NOW.replace(hour=2)) == 1
    assert catalog.find_token("1" * 64) is None
    found = catalog.find_token("2" * 64)
    assert found is not None and found.expires_at == later


# -- the change counter and concurrent writers --------------------------------------------------


def test_committed_writes_bump_changes_and_reads_and_refused_writes_do_not(
        catalog: Catalog) -> None:
    stamp = catalog.changes.stamp()
    domain = catalog.create_domain("dom", "000000000000", "key", NOW)
    assert catalog.changes.stamp() != stamp
    stamp = catalog.changes.stamp()
    catalog.get_domain("000000000000", "dom")
    catalog.list_repositories(domain)
    assert catalog.changes.stamp() == stamp
    with pytest.raises(Conflict):
        catalog.create_domain("dom", "000000000000", "key", NOW)
    assert catalog.changes.stamp() == stamp
    catalog.create_repository(domain, "repo", "", "000000000000", NOW)
    assert catalog.changes.stamp() != stamp


def _at_once(count: int, work: Callable[[], object]) -> list[object]:
    """Run ``work`` in ``count`` threads started together; each one's result or error."""
    start = threading.Barrier(count)

    def run() -> object:
        start.wait()
        try:
            return work()
        except PackyardError as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


def test_concurrent_publishes_of_one_file_record_it_once(catalog: Catalog) -> None:
    repo = _repo(catalog)
    results = _at_once(6, lambda: catalog.publish(
        repo, "pypi", "", "pkg", "Pkg", _version(), _asset("pkg-1.0.tar.gz", "a" * 64),
        {"a" * 64: 3}, NOW).created)
    assert sorted(results, key=str) == [False] * 5 + [True]
    assert _index(catalog, repo, "pkg") == [("1.0", "pkg-1.0.tar.gz", "a" * 64)]
    assert catalog.get_domain("000000000000", "dom-repo").asset_size_bytes == 3


def test_concurrent_creates_of_one_domain_make_one(catalog: Catalog) -> None:
    results = _at_once(6, lambda: catalog.create_domain("dom", "000000000000", "key", NOW))
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 5 and all(c.message == "Domain dom already exists"
                                       for c in conflicts)
    assert [d.name for d in catalog.list_domains()] == ["dom"]


# -- the format's rule for the files of one version (formats/pypi/release_files) --------------


@pytest.fixture()
def ruled(databases: Databases) -> Catalog:
    from packyard.formats.pypi.plugin import PypiFormat

    c = databases.catalog(databases.url("ruled"), file_rules={"pypi": PypiFormat().file_conflict})
    c.migrate()
    return c


def test_publish_refuses_a_file_that_shadows_another_spelling_of_it(ruled: Catalog) -> None:
    repo = _repo(ruled)
    first = _file("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "a" * 64)
    ruled.publish(repo, "pypi", "", "pkg", "pkg", first.version, first.asset, first.blob_sizes,
                  NOW)
    shadow = _file("pkg", "1.0", "pkg-1.0.0-py3-none-any.whl", "b" * 64)
    with pytest.raises(Conflict, match=r"File already exists \('pkg-1.0-py3-none-any.whl'"):
        ruled.publish(repo, "pypi", "", "pkg", "pkg", shadow.version, shadow.asset,
                      shadow.blob_sizes, NOW)
    assert ruled.release_conflict(repo.id, "pypi", "pkg", "1.0",
                                  "pkg-1.0.0-py3-none-any.whl") is not None
    assert ruled.release_conflict(repo.id, "pypi", "pkg", "1.0",
                                  "pkg-1.0-py2-none-any.whl") is None
    assert _index(ruled, repo, "pkg") == [("1.0", "pkg-1.0-py3-none-any.whl", "a" * 64)]


def test_publish_many_refuses_shadows_in_the_store_and_in_the_batch(ruled: Catalog) -> None:
    repo = _repo(ruled)
    ruled.publish_many(repo, "pypi", "", [_file("pkg", "1.0", "pkg-1.0.tar.gz", "a" * 64)], NOW)
    results = ruled.publish_many(repo, "pypi", "", [
        _file("pkg", "1.0", "pkg-1.0.zip", "b" * 64),  # a second sdist
        _file("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "c" * 64),
        _file("pkg", "1.0", "pkg-1.0.0-py3-none-any.whl", "d" * 64),  # shadows the one before
        _file("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "c" * 64),  # identical: a no-op
    ], NOW)
    assert [_outcome(r) for r in results] == [
        ("Conflict", "Only one sdist may be uploaded per release: this release has "
                     "pkg-1.0.tar.gz already; files are never replaced"),
        True,
        ("Conflict", f"File already exists ('pkg-1.0-py3-none-any.whl', with blake2_256 hash "
                     f"{'0' * 64}): pkg-1.0.0-py3-none-any.whl is the same release, build tag "
                     "and tags under another name; files are never replaced"),
        False,
    ]


def test_a_kept_upstream_copy_never_shadows_a_file_the_version_holds(ruled: Catalog) -> None:
    from packyard.metadata.catalog import EntryPoint

    repo = _repo(ruled)
    first = _file("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "a" * 64)
    ruled.publish(repo, "pypi", "", "pkg", "pkg", first.version, first.asset, first.blob_sizes,
                  NOW)
    ruled.put_origin_configuration(repo, "pypi", "", "pkg", "pkg", "ALLOW", "ALLOW", NOW)
    shadow = _file("pkg", "1.0", "pkg-1.0.0-py3-none-any.whl", "b" * 64)
    kept = ruled.retain([repo], "pypi", "", "pkg", "pkg", shadow.version, shadow.asset,
                        EntryPoint("EXTERNAL", None, "public:pypi"), shadow.blob_sizes, NOW)
    assert kept == []
    assert _index(ruled, repo, "pkg") == [("1.0", "pkg-1.0-py3-none-any.whl", "a" * 64)]


def test_regression_the_ids_of_deleted_rows_are_never_given_again(catalog: SqlCatalog) -> None:
    """SQLite gave a new row the largest id plus one, so a domain (repository, package, version,
    asset) made after the newest one was deleted took its id, and what processes keep by id for
    a while (a token's check, the key a domain's data keys are wrapped with) passed to the new
    one. Ids are now never given twice, on SQLite as on PostgreSQL (migration 0018)."""
    tables = ("domains", "repositories", "packages", "package_versions", "assets")

    def newest() -> dict[str, int]:
        with catalog.engines[0].connect() as conn:
            return {t: conn.execute(text(f"SELECT max(id) FROM {t}")).scalar_one()
                    for t in tables}

    def made(name: str) -> Repository:
        d = catalog.create_domain(name, "000000000000", "key", NOW)
        r = catalog.create_repository(d, "repo", "", "000000000000", NOW)
        sha = (name[-1] * 64)
        catalog.publish(r, "pypi", "", "pkg", "Pkg", _version(),
                        _asset("pkg-1.0.tar.gz", sha), {sha: 3}, NOW)
        return r

    gone = made("dom-a")
    before = newest()
    catalog.delete_repository(gone, NOW)
    catalog.delete_domain(catalog.get_domain("000000000000", "dom-a"))
    made("dom-b")
    after = newest()
    assert {t: after[t] > before[t] for t in tables} == dict.fromkeys(tables, True), (
        before, after)
