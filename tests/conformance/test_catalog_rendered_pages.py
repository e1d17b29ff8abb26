"""Pages rendered by the write that changes a package, on every database backend: each kind of
write leaves the kept page current (publish, status changes, deletions, copies, bulk imports,
format attributes), rendered after the write commits (a burst of writes ends with the last one's page),
a row a write did not render again is never read, a page rendered by a read
is kept only while the package is unchanged, repositories with upstreams are left to the
merging path, and revision 0012 upgrades a database that has packages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import create_engine, func, select, text

from packyard.lifecycle.version_changes import (
    CopyDestination,
    CopySource,
    Plan,
    plan_copy,
    plan_delete,
    plan_status_update,
)
from packyard.metadata.catalog import (
    NewAsset,
    NewFile,
    NewVersion,
    PageSource,
    SqlCatalog,
    StoredPage,
)
from packyard.metadata.migrate import alembic_config
from packyard.metadata.point_reads import POINT_READ_MAX_BYTES
from packyard.metadata.schema import rendered_pages
from packyard.metadata.version_lifecycle import CopyDecision
from packyard.model import Package, Repository
from tests.conformance.conftest import Databases

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "000000000000"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def _render(source: PageSource) -> list[StoredPage]:
    """A page that shows every file with its version's status."""
    body = " ".join(f"{e.asset.name}:{e.status}" for e in source.entries).encode()
    return [StoredPage("text", body, None, f"d{len(body)}")]


def _catalog(databases: Databases, renderers: bool = True) -> SqlCatalog:
    catalog = databases.catalog(databases.url("db", migrated=True),
                                page_renderers={"pypi": _render} if renderers else None)
    catalog.migrate()
    return catalog


def _version(v: str) -> NewVersion:
    return NewVersion(version=v, version_key=v, summary="s", home_page=None,
                      source_code_repository=None, licenses=[], readme=None,
                      readme_content_type=None, dependencies=[])


def _asset(name: str, sha: str) -> NewAsset:
    return NewAsset(name=name, size=3, sha256=sha, sha512="0" * 128, sha1="0" * 40,
                    md5="0" * 32)


def _repos(catalog: SqlCatalog, *names: str) -> list[Repository]:
    domain = catalog.create_domain("dom", OWNER, "key", NOW)
    return [catalog.create_repository(domain, name, "", OWNER, NOW) for name in names]


def _publish(catalog: SqlCatalog, repo: Repository, version: str, sha: str) -> Package:
    return catalog.publish(repo, "pypi", "", "pkg", "Pkg", _version(version),
                           _asset(f"pkg-{version}.tar.gz", sha), {sha: 3}, NOW).package


def _package(catalog: SqlCatalog, repo: Repository) -> Package:
    found = catalog.find_package(repo.id, "pypi", "", "pkg")
    assert found is not None
    return found


def _page(catalog: SqlCatalog, repo: Repository) -> str | None:
    """The kept page once the writes' renders are done, checked to show the package's
    current serial."""
    assert catalog.flush_rendered_pages(30)
    found = catalog.rendered_page(repo.id, "pypi", "pkg", "text")
    # The event loop's lookup agrees on SQLite, and is never made on PostgreSQL.
    now = catalog.rendered_page_now(repo.id, "pypi", "pkg", "text")
    assert now == (found if catalog.url.startswith("sqlite") else None)
    if found is None:
        return None
    page, serial = found
    assert serial == _package(catalog, repo).last_serial
    return page.body.decode()


def _copy(versions: list[str]) -> CopyDecision:
    def decide(offered: Mapping[str, CopySource | None],
               held: Mapping[str, CopyDestination | None], refusal: str | None) -> Plan:
        return plan_copy(versions, offered, held, publish_refusal=refusal)
    return decide


def test_every_write_leaves_the_kept_page_current(databases: Databases) -> None:
    catalog = _catalog(databases)
    one, two = _repos(catalog, "one", "two")
    _publish(catalog, one, "1.0", A)
    assert _page(catalog, one) == "pkg-1.0.tar.gz:Published"
    result = catalog.publish(one, "pypi", "", "pkg", "Pkg", _version("2.0"),
                             _asset("pkg-2.0.tar.gz", B), {B: 3}, NOW)
    assert _page(catalog, one) == "pkg-1.0.tar.gz:Published pkg-2.0.tar.gz:Published"
    catalog.update_version_status(result.version, "Unlisted")  # an upload's own status change
    assert _page(catalog, one) == "pkg-1.0.tar.gz:Published pkg-2.0.tar.gz:Unlisted"
    catalog.change_versions(_package(catalog, one), {"1.0": "1.0"}, lambda current:
                            plan_status_update(["1.0"], current, target_status="Archived"), NOW)
    assert _page(catalog, one) == "pkg-1.0.tar.gz:Archived pkg-2.0.tar.gz:Unlisted"
    catalog.update_version_attributes(result.version, {"deprecated": "x"})
    assert _page(catalog, one) == "pkg-1.0.tar.gz:Archived pkg-2.0.tar.gz:Unlisted"
    catalog.delete_versions(_package(catalog, one).id, ["2.0"])
    assert _page(catalog, one) == "pkg-1.0.tar.gz:Archived"
    catalog.change_versions(_package(catalog, one), {"1.0": "1.0"},
                            lambda current: plan_delete(["1.0"], current), NOW)
    assert _page(catalog, one) == ""
    # A copy renders the destination's page; a bulk import renders each package once.
    _publish(catalog, one, "3.0", C)
    catalog.copy_versions([one.id], two, "pypi", "", "pkg", {"3.0": "3.0"}, _copy(["3.0"]),
                          NOW)
    assert _page(catalog, two) == "pkg-3.0.tar.gz:Published"
    assert catalog.publish_many(two, "pypi", "", [
        NewFile("pkg", "Pkg", _version("4.0"), _asset("pkg-4.0.tar.gz", A), {A: 3}),
        NewFile("pkg", "Pkg", _version("4.0"), _asset("pkg-4.0-py3-none-any.whl", B), {B: 3}),
    ], NOW) == [True, True]
    assert _page(catalog, two) == ("pkg-3.0.tar.gz:Published pkg-4.0-py3-none-any.whl:Published "
                                   "pkg-4.0.tar.gz:Published")
    # Deleting the package (and then the repository) takes its pages with it.
    catalog.delete_package(_package(catalog, two), NOW)
    assert catalog.flush_rendered_pages(30)
    assert catalog.rendered_page(two.id, "pypi", "pkg", "text") is None
    catalog.delete_repository(one)
    with catalog.engines[0].connect() as conn:
        assert conn.execute(select(func.count()).select_from(rendered_pages)).scalar() == 0


def test_a_page_a_write_did_not_render_again_is_not_read(databases: Databases) -> None:
    catalog = _catalog(databases)
    (repo,) = _repos(catalog, "repo")
    _publish(catalog, repo, "1.0", A)
    assert _page(catalog, repo) is not None
    # Another process without the renderer (an older Packyard beside this one) publishes.
    other = databases.catalog(catalog.url)
    other.publish(repo, "pypi", "", "pkg", "Pkg", _version("2.0"), _asset("pkg-2.0.tar.gz", B),
                  {B: 3}, NOW)
    assert catalog.rendered_page(repo.id, "pypi", "pkg", "text") is None
    source = catalog.page_source(repo.id, "pypi", "pkg")
    assert source is not None
    assert catalog.keep_rendered_pages(source.package, _render(source)) is True
    assert _page(catalog, repo) == "pkg-1.0.tar.gz:Published pkg-2.0.tar.gz:Published"


def test_after_a_burst_of_writes_to_one_package_its_page_shows_the_last(
        databases: Databases) -> None:
    catalog = _catalog(databases)
    (repo,) = _repos(catalog, "repo")
    for n in range(20):
        _publish(catalog, repo, f"1.{n}", f"{n:064x}")
    assert _page(catalog, repo) == " ".join(sorted(f"pkg-1.{n}.tar.gz:Published"
                                                   for n in range(20)))


def test_a_page_rendered_by_a_read_is_not_kept_once_the_package_changed(
        databases: Databases) -> None:
    catalog = _catalog(databases, renderers=False)
    (repo,) = _repos(catalog, "repo")
    _publish(catalog, repo, "1.0", A)
    assert catalog.rendered_page(repo.id, "pypi", "pkg", "text") is None
    source = catalog.page_source(repo.id, "pypi", "pkg")
    assert source is not None
    _publish(catalog, repo, "2.0", B)  # between the read's render and its keeping
    assert catalog.keep_rendered_pages(source.package, _render(source)) is False
    assert catalog.rendered_page(repo.id, "pypi", "pkg", "text") is None
    assert catalog.page_source(repo.id, "pypi", "nothing") is None


def test_repositories_with_upstreams_are_not_rendered(databases: Databases) -> None:
    catalog = _catalog(databases)
    upstream, downstream = _repos(catalog, "upstream", "downstream")
    catalog.replace_upstreams(downstream, [upstream.id], lambda _graph: None)
    _publish(catalog, downstream, "1.0", A)
    _publish(catalog, upstream, "1.0", A)
    assert catalog.flush_rendered_pages(30)
    assert catalog.rendered_page(downstream.id, "pypi", "pkg", "text") is None
    assert _page(catalog, upstream) == "pkg-1.0.tar.gz:Published"


def test_the_file_lookup_is_one_query_with_the_version_status(databases: Databases) -> None:
    catalog = _catalog(databases)
    (repo,) = _repos(catalog, "repo")
    result = catalog.publish(repo, "pypi", "", "pkg", "Pkg", _version("1.0"),
                             _asset("pkg-1.0.tar.gz", A), {A: 3}, NOW)
    catalog.update_version_status(result.version, "Unlisted")
    found = catalog.find_listed_asset(repo.id, "pypi", "pkg", "pkg-1.0.tar.gz")
    assert found is not None
    assert (found[0], found[1].sha256) == ("Unlisted", A)
    assert catalog.find_listed_asset(repo.id, "pypi", "pkg", "pkg-2.0.tar.gz") is None


def test_revision_0012_upgrades_a_database_that_has_packages(databases: Databases) -> None:
    url = databases.url("old")
    engine = create_engine(url)
    config = alembic_config()
    stamp = "'2026-01-01 00:00:00'"
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0011_upstream_claims")
        for statement in (
            "INSERT INTO domains (id, name, owner, encryption_key, status, created_at) "
            f"VALUES (1, 'dom', '{OWNER}', 'k', 'Active', {stamp})",
            "INSERT INTO repositories (id, domain_id, name, description, administrator_account, "
            f"created_at) VALUES (1, 1, 'repo', '', '{OWNER}', {stamp})",
            "INSERT INTO packages (id, repository_id, format, namespace, name, display_name, "
            "origin_publish, origin_upstream, created_at, last_serial) VALUES (1, 1, 'pypi', "
            f"'', 'pkg', 'Pkg', 'ALLOW', 'BLOCK', {stamp}, 7)",
        ):
            conn.execute(text(statement))
    engine.dispose()
    catalog = databases.catalog(url, page_renderers={"pypi": _render})
    catalog.migrate()
    repo = catalog.get_repository(catalog.get_domain(OWNER, "dom"), "repo")
    assert catalog.rendered_page(repo.id, "pypi", "pkg", "text") is None  # not rendered yet
    source = catalog.page_source(repo.id, "pypi", "pkg")
    assert source is not None and source.package.last_serial == 7
    assert catalog.keep_rendered_pages(source.package, _render(source)) is True
    assert _page(catalog, repo) == ""
    _publish(catalog, repo, "1.0", A)
    assert _page(catalog, repo) == "pkg-1.0.tar.gz:Published"


def test_the_event_loops_lookup_finds_another_processs_page_and_leaves_big_ones(
        databases: Databases) -> None:
    url = databases.url("db", migrated=True)
    writer = databases.catalog(url, page_renderers={"pypi": _render})
    writer.migrate()
    reader = databases.catalog(url, page_renderers={"pypi": _render})
    (repo,) = _repos(writer, "one")
    assert reader.rendered_page_now(repo.id, "pypi", "pkg", "text") is None  # no package
    _publish(writer, repo, "1.0", A)
    assert writer.flush_rendered_pages(30)
    kept = reader.rendered_page(repo.id, "pypi", "pkg", "text")
    assert kept is not None
    on_sqlite = url.startswith("sqlite")
    assert reader.rendered_page_now(repo.id, "pypi", "pkg", "text") == (
        kept if on_sqlite else None)
    # A page bigger than the bound is read in a worker thread only.
    big = StoredPage("text", b"x" * POINT_READ_MAX_BYTES, b"z", "big")
    assert writer.keep_rendered_pages(_package(writer, repo), [big])
    assert reader.rendered_page(repo.id, "pypi", "pkg", "text") == (big, kept[1])
    assert reader.rendered_page_now(repo.id, "pypi", "pkg", "text") is None
    small = StoredPage("text", b"x" * (POINT_READ_MAX_BYTES - 1), b"z", "small")
    assert writer.keep_rendered_pages(_package(writer, repo), [small])
    assert reader.rendered_page_now(repo.id, "pypi", "pkg", "text") == (
        (small, kept[1]) if on_sqlite else None)
