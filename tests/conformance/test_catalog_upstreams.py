"""The Catalog contract for upstreams, on every database backend: links, external connections,
kept copies, origins, and the migration that added them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from packyard.errors import Conflict, Denied, Invalid, NotFound, QuotaExceeded
from packyard.metadata.catalog import (
    Catalog,
    DomainGraph,
    EntryPoint,
    NewAsset,
    NewVersion,
    SqlCatalog,
)
from packyard.metadata.outbox import EventOutbox
from packyard.metadata.schema import asset_blobs
from packyard.model import Repository
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"


def _repos(catalog: Catalog, *names: str) -> list[Repository]:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    return [catalog.create_repository(domain, n, "", OWNER, NOW) for n in names]


def _version(v: str = "1.0") -> NewVersion:
    return NewVersion(version=v, version_key=v, summary="s", home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[])


def _asset(name: str, sha: str) -> NewAsset:
    return NewAsset(name=name, size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                    md5="0" * 32, attributes={"blake2_256": "0" * 64})


def _no_check(_: DomainGraph) -> None:
    pass


def test_upstreams_keep_their_order(catalog: Catalog) -> None:
    team, a, b = _repos(catalog, "team", "a", "b")
    catalog.replace_upstreams(team, [b.id, a.id], _no_check)
    assert catalog.repository_links(team.id).upstreams == ["b", "a"]
    catalog.replace_upstreams(team, [a.id], _no_check)
    assert catalog.repository_links(team.id).upstreams == ["a"]
    assert catalog.domain_graph(team.domain_id).upstreams == {team.id: [a.id]}


def test_a_refused_upstream_list_changes_nothing(catalog: Catalog) -> None:
    team, a = _repos(catalog, "team", "a")
    catalog.replace_upstreams(team, [a.id], _no_check)

    def refuse(_: DomainGraph) -> None:
        raise Invalid("no")

    with pytest.raises(Invalid):
        catalog.replace_upstreams(team, [], refuse)
    assert catalog.repository_links(team.id).upstreams == ["a"]


def test_one_external_connection_per_repository(catalog: Catalog) -> None:
    (store,) = _repos(catalog, "store")
    catalog.add_external_connection(store, "public:pypi", "pypi", NOW)
    with pytest.raises(Conflict) as same:
        catalog.add_external_connection(store, "public:pypi", "pypi", NOW)
    assert same.value.message == "Repository store already has the external connection public:pypi"
    with pytest.raises(QuotaExceeded) as other:
        catalog.add_external_connection(store, "public:npmjs", "npm", NOW)
    assert other.value.message.startswith("Repository store already has the external "
                                          "connection public:pypi; a repository can have only one")
    links = catalog.repository_links(store.id)
    assert [(c.name, c.package_format) for c in links.external_connections] == [
        ("public:pypi", "pypi")]
    catalog.remove_external_connection(store, "public:pypi")
    with pytest.raises(NotFound) as gone:
        catalog.remove_external_connection(store, "public:pypi")
    assert gone.value.message == "Repository store has no external connection public:pypi"


def test_deleting_an_upstream_unlinks_it_and_keeps_what_was_retained(catalog: Catalog) -> None:
    team, store = _repos(catalog, "team", "store")
    catalog.replace_upstreams(team, [store.id], _no_check)
    catalog.add_external_connection(store, "public:pypi", "pypi", NOW)
    catalog.retain([store, team], "pypi", "", "pkg", "pkg", _version(),
                   _asset("pkg-1.0.tar.gz", "a" * 64), EntryPoint("EXTERNAL", None, "public:pypi"),
                   {"a" * 64: 3}, NOW)
    assert catalog.delete_repository(store) == []  # the blob is still used by team
    assert catalog.repository_links(team.id).upstreams == []
    assert catalog.find_asset(team.id, "pypi", "pkg", "pkg-1.0.tar.gz") is not None


def test_retained_packages_get_codeartifacts_upstream_defaults(catalog: Catalog) -> None:
    team, store = _repos(catalog, "team", "store")
    kept = catalog.retain([store, team], "pypi", "", "pkg", "Pkg", _version(),
                          _asset("pkg-1.0.tar.gz", "a" * 64),
                          EntryPoint("EXTERNAL", None, "public:pypi"), {"a" * 64: 3}, NOW)
    assert [r.name for r in kept] == ["store", "team"]
    for repo in (team, store):
        pkg = catalog.find_package(repo.id, "pypi", "", "pkg")
        assert pkg is not None and (pkg.origin_publish, pkg.origin_upstream) == ("BLOCK", "ALLOW")
        found = catalog.find_asset(repo.id, "pypi", "pkg", "pkg-1.0.tar.gz")
        assert found is not None
        origin = catalog.version_origins([found[0].id])[found[0].id]
        assert (origin.origin_type, origin.external_connection) == ("EXTERNAL", "public:pypi")
    # Keeping it again is a no-op.
    assert catalog.retain([team], "pypi", "", "pkg", "Pkg", _version(),
                          _asset("pkg-1.0.tar.gz", "a" * 64),
                          EntryPoint("EXTERNAL", None, "public:pypi"), {}, NOW) == []


def test_a_kept_copy_reads_back_nothing_it_inserted(catalog: Catalog) -> None:
    # A pulled file is kept in two repositories per pull (the cold pull-through's largest CPU
    # cost): a new package and version take their ids from the inserts, a new package has no
    # versions and a new version no files to look through, and a new version's fresh revision
    # is not replaced at once by another. Both repositories' rows go in together: one
    # statement per table, not one per repository.
    team, store, other = _repos(catalog, "team", "store", "other")
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    def made(prefix: str) -> int:
        return len([s for s in statements if s.startswith(prefix)])

    wheel = NewAsset(name="pkg-1.0-py3-none-any.whl", size=3, sha256="a" * 64,
                     sha512="0" * 128, sha1="0" * 40, md5="0" * 32,
                     attributes={"blake2_256": "0" * 64}, companions=("c" * 64,))
    writer = catalog.engines[1]
    event.listen(writer, "before_cursor_execute", count)
    try:
        kept = catalog.retain([store, team], "pypi", "", "pkg", "Pkg", _version(), wheel,
                              EntryPoint("EXTERNAL", None, "public:pypi"),
                              {"a" * 64: 3, "c" * 64: 5}, NOW)
    finally:
        event.remove(writer, "before_cursor_execute", count)
    assert [r.name for r in kept] == ["store", "team"]
    # Which of the file's blobs the domain holds and which are queued for the sweep: one query.
    assert made("SELECT blob_sweeps.sha256") == 1 and not made("SELECT blobs.sha256")
    assert not made("SELECT assets.")
    assert not made("UPDATE package_versions SET revision")
    assert not made("SELECT package_versions.id, package_versions.package_id")
    for prefix in ("SELECT packages.id", "INSERT INTO packages ", "INSERT INTO package_versions ",
                   "INSERT INTO assets ", "INSERT INTO asset_blobs ",
                   "SELECT package_event_sequences.", "INSERT INTO package_event_sequences ",
                   # Serials, events.
                   "UPDATE packages SET last_serial", "INSERT INTO event_outbox"):
        assert made(prefix) == 1, prefix
    for repo in (store, team):
        found = catalog.find_asset(repo.id, "pypi", "pkg", "pkg-1.0-py3-none-any.whl")
        assert found is not None and found[1].sha256 == "a" * 64
        with catalog.engines[0].connect() as conn:
            assert list(conn.execute(select(asset_blobs.c.sha256).where(
                asset_blobs.c.asset_id == found[1].id)).scalars()) == ["c" * 64]
    # Packages both repositories hold already: one version lookup each (its row locked), the
    # new versions, their files and event numbers again one statement for both.
    statements.clear()
    event.listen(writer, "before_cursor_execute", count)
    try:
        kept = catalog.retain([store, team], "pypi", "", "pkg", "Pkg", _version("2.0"),
                              _asset("pkg-2.0.tar.gz", "b" * 64),
                              EntryPoint("EXTERNAL", None, "public:pypi"), {"b" * 64: 3}, NOW)
    finally:
        event.remove(writer, "before_cursor_execute", count)
    assert [r.name for r in kept] == ["store", "team"]
    assert made("SELECT package_versions.id, package_versions.package_id") == 2
    assert not made("INSERT INTO packages ")
    for prefix in ("SELECT packages.id", "INSERT INTO package_versions ", "INSERT INTO assets ",
                   "SELECT package_event_sequences.", "UPDATE package_event_sequences "):
        assert made(prefix) == 1, prefix
    assert isinstance(catalog, SqlCatalog)
    numbers = [(e.repository_name, e.document["detail"]["packageVersion"],
                e.document["detail"]["sequenceNumber"])
               for e in EventOutbox(*catalog.engines).after(0)]
    assert sorted(numbers) == [("store", "1.0", 1), ("store", "2.0", 2), ("team", "1.0", 1),
                               ("team", "2.0", 2)]


def test_a_kept_copy_gets_revisions_and_events_as_before(catalog: Catalog) -> None:
    team, store, other = _repos(catalog, "team", "store", "other")
    kept = catalog.retain([store, team], "pypi", "", "pkg", "Pkg", _version(),
                          _asset("pkg-1.0.tar.gz", "a" * 64),
                          EntryPoint("EXTERNAL", None, "public:pypi"), {"a" * 64: 3}, NOW)
    assert [r.name for r in kept] == ["store", "team"]
    revisions = {}
    for repo in (store, team):
        found = catalog.find_asset(repo.id, "pypi", "pkg", "pkg-1.0.tar.gz")
        assert found is not None and found[1].sha256 == "a" * 64
        assert found[0].status == "Published" and found[0].revision
        revisions[repo.id] = found[0].revision
    # A second file of the version looks at its siblings and gives it a new revision.
    wheel = _asset("pkg-1.0-py3-none-any.whl", "b" * 64)
    assert catalog.retain([team], "pypi", "", "pkg", "Pkg", _version(), wheel,
                          EntryPoint("EXTERNAL", None, "public:pypi"), {"b" * 64: 3},
                          NOW) == [team]
    again = catalog.find_asset(team.id, "pypi", "pkg", "pkg-1.0-py3-none-any.whl")
    assert again is not None and again[0].revision != revisions[team.id]
    assert catalog.retain([team], "pypi", "", "pkg", "Pkg", _version(), wheel,
                          EntryPoint("EXTERNAL", None, "public:pypi"), {}, NOW) == []
    # A version new in one repository and not in the other: an event for each, as before.
    sdist = _asset("pkg-1.0.zip", "d" * 64)
    assert catalog.retain([team, other], "pypi", "", "pkg", "Pkg", _version(), sdist,
                          EntryPoint("EXTERNAL", None, "public:pypi"), {"d" * 64: 3},
                          NOW) == [team, other]
    # A file added to the version in both: each gets a new revision of its own.
    before = {}
    for repo in (team, other):
        found = catalog.find_asset(repo.id, "pypi", "pkg", "pkg-1.0.zip")
        assert found is not None
        before[repo.id] = found[0].revision
    assert catalog.retain([team, other], "pypi", "", "pkg", "Pkg", _version(),
                          _asset("pkg-1.0-py2-none-any.whl", "e" * 64),
                          EntryPoint("EXTERNAL", None, "public:pypi"), {"e" * 64: 3},
                          NOW) == [team, other]
    after = {}
    for repo in (team, other):
        found = catalog.find_asset(repo.id, "pypi", "pkg", "pkg-1.0-py2-none-any.whl")
        assert found is not None and found[0].revision != before[repo.id]
        after[repo.id] = found[0].revision
    assert after[team.id] != after[other.id]
    assert isinstance(catalog, SqlCatalog)
    events = [(e.repository_name, e.document["detail"]["operationType"],
               e.document["detail"]["sequenceNumber"],
               e.document["detail"]["changes"]["assetsAdded"],
               e.document["detail"]["changes"]["metadataUpdated"])
              for e in EventOutbox(*catalog.engines).after(0)]
    assert sorted(events) == sorted([
        ("store", "Created", 1, 1, True), ("team", "Created", 1, 1, True),
        ("team", "Updated", 2, 1, False), ("team", "Updated", 3, 1, False),
        ("other", "Created", 1, 1, True), ("team", "Updated", 4, 1, False),
        ("other", "Updated", 2, 1, False)])


def test_nothing_is_retained_where_the_package_blocks_upstream(catalog: Catalog) -> None:
    (team,) = _repos(catalog, "team")
    catalog.publish(team, "pypi", "", "pkg", "pkg", _version("1.0"),
                    _asset("pkg-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
    kept = catalog.retain([team], "pypi", "", "pkg", "pkg", _version("9.0"),
                          _asset("pkg-9.0.tar.gz", "b" * 64),
                          EntryPoint("EXTERNAL", None, "public:pypi"), {"b" * 64: 3}, NOW)
    assert kept == []
    assert catalog.find_asset(team.id, "pypi", "pkg", "pkg-9.0.tar.gz") is None


def test_retain_from_copies_the_version_with_its_entry_point(catalog: Catalog) -> None:
    team, lib = _repos(catalog, "team", "lib")
    catalog.publish(lib, "pypi", "", "pkg", "Pkg", _version(), _asset("pkg-1.0.tar.gz", "c" * 64),
                    {"c" * 64: 3}, NOW)
    assert catalog.retain_from(lib.id, "pypi", "pkg", "pkg-1.0.tar.gz", [team], NOW)
    version, asset = catalog.find_asset(team.id, "pypi", "pkg", "pkg-1.0.tar.gz") or (None, None)
    assert version is not None and asset is not None and asset.sha256 == "c" * 64
    origin = catalog.version_origins([version.id])[version.id]
    assert (origin.origin_type, origin.repository_name) == ("INTERNAL", "lib")
    assert not catalog.retain_from(lib.id, "pypi", "pkg", "missing.tar.gz", [team], NOW)


def test_publishing_a_package_that_came_from_upstream_is_blocked(catalog: Catalog) -> None:
    (team,) = _repos(catalog, "team")
    catalog.retain([team], "pypi", "", "pkg", "pkg", _version(),
                   _asset("pkg-1.0.tar.gz", "a" * 64), EntryPoint("EXTERNAL", None, "public:pypi"),
                   {"a" * 64: 3}, NOW)
    with pytest.raises(Denied) as err:
        catalog.publish(team, "pypi", "", "pkg", "pkg", _version("2.0"),
                        _asset("pkg-2.0.tar.gz", "b" * 64), {"b" * 64: 3}, NOW)
    assert err.value.message == (
        "Publishing pkg to repository team is blocked by the package's origin configuration "
        "(publish: BLOCK); an administrator can allow it with put-package-origin-configuration")
    catalog.put_origin_configuration(team, "pypi", "", "pkg", "pkg", "ALLOW", "ALLOW", NOW)
    catalog.publish(team, "pypi", "", "pkg", "pkg", _version("2.0"),
                    _asset("pkg-2.0.tar.gz", "b" * 64), {"b" * 64: 3}, NOW)


def test_origin_configuration_creates_a_package_without_versions(catalog: Catalog) -> None:
    team, other = _repos(catalog, "team", "other")
    pkg = catalog.put_origin_configuration(team, "pypi", "", "pkg", "Pkg", "BLOCK", "BLOCK", NOW)
    assert (pkg.origin_publish, pkg.origin_upstream) == ("BLOCK", "BLOCK")
    assert catalog.list_versions(pkg.id) == []
    assert set(catalog.packages_named(team.domain_id, "pypi", "", "pkg")) == {team.id}


def test_domain_project_indexes_are_each_repositorys_project_index(catalog: Catalog) -> None:
    """An upstream search reads the package in every repository of the domain at once; what
    it gets per repository is exactly ``project_index``'s answer."""
    team, lib, other = _repos(catalog, "team", "lib", "other")
    catalog.publish(lib, "pypi", "", "pkg", "Pkg", _version(), _asset("pkg-1.0.tar.gz", "a" * 64),
                    {"a" * 64: 3}, NOW)
    catalog.publish(lib, "pypi", "", "pkg", "Pkg", _version("2.0"),
                    _asset("pkg-2.0-py3-none-any.whl", "b" * 64), {"b" * 64: 3}, NOW)
    catalog.publish(lib, "pypi", "", "pkg", "Pkg", _version("2.0"),
                    _asset("pkg-2.0.tar.gz", "c" * 64), {"c" * 64: 3}, NOW)
    catalog.put_origin_configuration(team, "pypi", "", "pkg", "pkg", "BLOCK", "BLOCK", NOW)
    catalog.publish(other, "pypi", "", "unrelated", "unrelated", _version(),
                    _asset("unrelated-1.0.tar.gz", "d" * 64), {"d" * 64: 3}, NOW)
    found = catalog.domain_project_indexes(team.domain_id, "pypi", "", "pkg")
    assert set(found) == {team.id, lib.id}
    for repository in (team, lib):
        package, versions, entries = found[repository.id]
        expected = catalog.project_index(repository.id, "pypi", "pkg")
        assert expected is not None
        assert (package, sorted(versions, key=lambda v: v.id), entries) == (
            expected[0], sorted(expected[1], key=lambda v: v.id), expected[2])
    assert [e.asset.name for e in found[lib.id][2]] == [
        "pkg-1.0.tar.gz", "pkg-2.0-py3-none-any.whl", "pkg-2.0.tar.gz"]
    assert found[team.id][1:] == ([], [])
    assert catalog.domain_project_indexes(team.domain_id, "pypi", "", "missing") == {}
    # The same from the package rows just read (a merge's recheck that found them changed).
    rows = catalog.packages_named(team.domain_id, "pypi", "", "pkg")
    assert {repo: package.id for repo, package in rows.items()} == {
        repo: package.id for repo, (package, _, _) in found.items()}
    assert catalog.domain_project_indexes(team.domain_id, "pypi", "", "pkg", rows) == found
    assert catalog.domain_project_indexes(team.domain_id, "pypi", "", "missing", {}) == {}


def test_versions_published_before_upstreams_keep_their_repository_as_origin(
        catalog: Catalog) -> None:
    (team,) = _repos(catalog, "team")
    result = catalog.publish(team, "pypi", "", "pkg", "pkg", _version(),
                             _asset("pkg-1.0.tar.gz", "a" * 64), {"a" * 64: 3}, NOW)
    origin = catalog.version_origins([result.version.id])[result.version.id]
    assert (origin.origin_type, origin.repository_name, origin.external_connection) == (
        "INTERNAL", "team", None)


def test_revision_0003_upgrades_a_database_that_has_versions(databases: Databases) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from packyard.metadata.migrate import alembic_config

    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(text(
            "INSERT INTO domains (id, name, owner, encryption_key, status, created_at) "
            "VALUES (1, 'dom', '000000000000', 'k', 'Active', '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO repositories (id, domain_id, name, description, administrator_account,"
            " created_at) VALUES (1, 1, 'team', '', '000000000000', '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO packages (id, repository_id, format, namespace, name, display_name, "
            "origin_publish, origin_upstream, created_at) VALUES (1, 1, 'pypi', '', 'pkg', "
            "'pkg', 'ALLOW', 'BLOCK', '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO package_versions (id, package_id, version, version_key, status, "
            "revision, published_at, origin_type, origin_repository_id) VALUES (1, 1, '1.0', "
            "'1', 'Published', 'r', '2026-01-01 00:00:00', 'INTERNAL', 1)"))
    engine.dispose()
    catalog = databases.catalog(url)
    catalog.migrate()
    origin = catalog.version_origins([1])[1]
    assert (origin.origin_type, origin.repository_name, origin.external_connection) == (
        "INTERNAL", "team", None)
    team = catalog.get_repository(catalog.get_domain(OWNER, "dom"), "team")
    assert catalog.repository_links(team.id).upstreams == []


def test_a_kept_copy_builds_no_statement_anew(catalog: Catalog,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Every statement a kept copy runs is built once (``new_files``' module docstring): a
    # statement built per call costs its construction and a new cache key each time (the
    # blob claims and the change announcement did, a fifth of a kept copy's CPU). Counted
    # through SQLAlchemy's cache-key generation, which memoizes per statement object.
    from sqlalchemy.sql.cache_key import HasCacheKey

    team, store = _repos(catalog, "team", "store")

    def keep(n: int) -> None:
        sha = f"{n:064x}"
        catalog.retain([store, team], "pypi", "", f"pkg{n}", "Pkg", _version(),
                       _asset(f"pkg{n}-1.0.tar.gz", sha),
                       EntryPoint("EXTERNAL", None, "public:pypi"), {sha: 3}, NOW)

    keep(1)  # the first builds what is built once
    built: list[str] = []
    generate = HasCacheKey._generate_cache_key

    def counting(self: HasCacheKey) -> object:
        built.append(type(self).__name__)
        return generate(self)

    monkeypatch.setattr(HasCacheKey, "_generate_cache_key", counting)
    keep(2)
    assert built == []
