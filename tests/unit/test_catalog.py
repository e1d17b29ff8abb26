"""The metadata store on SQLite: transactions, uniqueness, dedupe bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from packyard.errors import Conflict, Denied, NotFound, PackyardError
from packyard.metadata.catalog import Catalog, NewAsset, NewFile, NewVersion
from packyard.model import Repository

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


def test_publish_many_answers_as_publishing_one_by_one(tmp_path: Path) -> None:
    batched = Catalog(f"sqlite:///{tmp_path / 'batched.sqlite'}")
    single = Catalog(f"sqlite:///{tmp_path / 'single.sqlite'}")
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


def test_filenames_taken_answers_only_for_the_repository(catalog: Catalog) -> None:
    one, two = _repo(catalog, "one"), _repo(catalog, "two")
    catalog.publish_many(one, "pypi", "", [BATCH[0]], NOW)
    catalog.publish_many(two, "pypi", "", [BATCH[2]], NOW)
    names = ["pkg-1.0.tar.gz", "pkg-2.0.tar.gz", "missing-1.0.tar.gz"]
    assert {n: a.sha256 for n, a in catalog.filenames_taken(one.id, "pypi", names).items()} == {
        "pkg-1.0.tar.gz": "a" * 64}
    assert set(catalog.filenames_taken(two.id, "pypi", names)) == {"pkg-2.0.tar.gz"}


# -- the format's rule for the files of one version (formats/pypi/release_files) --------------


@pytest.fixture()
def ruled(tmp_path: Path) -> Catalog:
    from packyard.formats.pypi.release_files import release_conflict

    c = Catalog(f"sqlite:///{tmp_path / 'ruled.sqlite'}", file_rules={"pypi": release_conflict})
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
