"""Pages merged from upstream documents (PyPI project pages, npm packuments) are merged and
rendered once per change of what they are merged from (``UpstreamResolver.merged_listing``, ``PackageReads``' page cache): kept while
the catalog is unchanged and until the upstream document is due for revalidation; after it,
the same page unless the document changed; a local publish shows at once.

The real PyPI page path (``PypiEndpoint.first_read``) on the container's catalog and blob store,
with the upstream an ``httpx.MockTransport`` and one fake clock for the document cache and the
page cache, so that "the document is due" is a clock move, not a sleep.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from packyard.bootstrap import Container
from packyard.clock import Clock
from packyard.formats.npm import packuments as packuments_module
from packyard.formats.npm.names import parse_package_name
from packyard.formats.npm.packuments import Packuments
from packyard.formats.npm.upstream import NpmUpstream
from packyard.formats.pypi import routes as pypi_routes
from packyard.formats.pypi.publish import PypiPublisher
from packyard.formats.pypi.routes import PypiEndpoint
from packyard.formats.pypi.upstream import PypiUpstream
from packyard.lifecycle.version_changes import plan_status_update
from packyard.metadata.catalog import Catalog
from packyard.metadata.new_files import NewAsset, NewVersion
from packyard.metadata.retention import EntryPoint
from packyard.services.access import RepositoryAccess
from packyard.services.answers import RenderedPage
from packyard.services.reads import PackageReads
from packyard.upstream import resolver as resolver_module
from packyard.upstream.client import UpstreamHttp, UpstreamLimits
from packyard.upstream.core import graph_cache
from packyard.upstream.documents import UpstreamDocuments
from packyard.upstream.merge import LARGE_LISTING_ENTRIES
from packyard.upstream.resolver import UpstreamResolver
from tests.inprocess.harness import ROOT_PRINCIPAL
from tests.inprocess.service_support import upload_form
from tests.integration.helpers import DistFactory, DistSpec
from tests.integration.npm_registry import StaticRegistry

INDEX = "https://index.example/simple/"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
DOCUMENT_TTL = 120  # within the backstop of five minutes (CHANGE_BACKSTOP_SECONDS)


class FakeClock(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def _document(*versions: str) -> bytes:
    files = [{"filename": f"demo_pkg-{v}.tar.gz", "url": f"https://files.example/demo_pkg-{v}"
              ".tar.gz", "hashes": {"sha256": hashlib.sha256(v.encode()).hexdigest()}}
             for v in versions]
    return json.dumps({"meta": {"api-version": "1.0"}, "name": "demo-pkg",
                       "files": files}).encode()


class Upstream:
    """demo-pkg's page upstream, with an ETag unless ``validators`` is off; can go down."""

    def __init__(self) -> None:
        self.body = _document("1.0")
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []
        self.validators = True
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if not request.url.path.endswith("/demo-pkg/"):
            return httpx.Response(404)
        headers = {"Content-Type": JSON_V1}
        if self.validators:
            headers["ETag"] = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
            if request.headers.get("if-none-match") == headers["ETag"]:
                self.statuses.append(304)
                return httpx.Response(304, headers=headers)
        self.statuses.append(200)
        return httpx.Response(200, content=self.body, headers=headers)


class Pages:
    """``team`` (upstreams: ``lib``, then ``public`` with public:pypi), read through the PyPI
    routes' page path, counting merges and renders."""

    def __init__(self, container: Container, upstream: Upstream,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = clock = FakeClock()
        catalog = container.catalog
        registry = container.registry
        self.domain = registry.create_domain(ROOT_PRINCIPAL, "acme")
        self.lib = registry.create_repository(ROOT_PRINCIPAL, "acme", "lib", None)
        registry.create_repository(ROOT_PRINCIPAL, "acme", "public", None)
        registry.associate_external_connection(ROOT_PRINCIPAL, "acme", "public", "public:pypi")
        team = registry.create_repository(ROOT_PRINCIPAL, "acme", "team", None,
                                          upstreams=["lib", "public"])
        self.access = RepositoryAccess(ROOT_PRINCIPAL, self.domain, team)
        http = UpstreamHttp(UpstreamLimits(retries=0, read_timeout=5.0, cooldown=0.0),
                            transport=httpx.MockTransport(upstream))
        fmt = PypiUpstream()
        documents = UpstreamDocuments(catalog, http, clock, DOCUMENT_TTL, fmt)
        self.resolver = UpstreamResolver(
            fmt, catalog, container.registry.blobs, documents, container.core.upstreams.pull, http,
            {"public:pypi": INDEX}, clock, 0, graph_cache(catalog),
            container.core.upstreams.later)
        reads = PackageReads(container.core.gate, container.registry.blobs, catalog.changes,
                             clock=clock, monotonic=lambda: clock.now().timestamp())
        self.reads = reads
        self.routes = PypiEndpoint(reads, cast(Any, None), self.resolver, cast(Any, None),
                                 container.registry.blobs, catalog)
        self.renders = 0
        render = pypi_routes.render_project
        # Pages asked of the format (misses of the page cache).
        self.asked = 0
        merged_listing = self.resolver.merged_listing

        async def asked(*args: Any) -> Any:
            self.asked += 1
            return await merged_listing(*args)

        monkeypatch.setattr(self.resolver, "merged_listing", asked)

        # Whether each render ran on the event loop's thread (the main thread here).
        self.rendered_on_loop: list[bool] = []

        def counted(*args: Any) -> bytes:
            self.renders += 1
            self.rendered_on_loop.append(threading.current_thread() is threading.main_thread())
            return render(*args)

        monkeypatch.setattr(pypi_routes, "render_project", counted)

    async def files(self) -> list[str]:
        page = await self.routes.first_read(self.access, ("page", ("demo-pkg", JSON_V1)))
        assert isinstance(page, RenderedPage)
        return [f["filename"] for f in json.loads(page.body)["files"]]

    @property
    def merges(self) -> int:
        return self.resolver.merges


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def pages(container: Container, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Pages:
    return Pages(container, upstream, monkeypatch)


def _run(steps: Callable[[], Any]) -> None:
    asyncio.run(steps())


def test_reads_with_nothing_changed_merge_and_render_once(pages: Pages,
                                                          upstream: Upstream) -> None:
    async def steps() -> None:
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        # Past the two seconds a merged page used to be kept, well within the document's TTL.
        for seconds in (5, 60, 50):
            pages.clock.advance(seconds)
            assert await pages.files() == ["demo_pkg-1.0.tar.gz"]

    _run(steps)
    assert (pages.asked, pages.merges, pages.renders, len(upstream.requests)) == (1, 1, 1, 1)


def test_a_revalidated_unchanged_document_keeps_the_page(pages: Pages,
                                                         upstream: Upstream) -> None:
    async def steps() -> None:
        await pages.files()
        pages.clock.advance(DOCUMENT_TTL + 1)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]  # revalidated: 304
        upstream.validators = False
        pages.clock.advance(DOCUMENT_TTL + 1)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]  # refetched: the same bytes
        pages.clock.advance(DOCUMENT_TTL - 10)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]  # kept until due again

    _run(steps)
    assert upstream.statuses == [200, 304, 200]
    assert (pages.asked, pages.merges, pages.renders) == (3, 1, 1)


def test_a_new_version_upstream_shows_on_the_read_after_the_revalidation(
        pages: Pages, upstream: Upstream) -> None:
    async def steps() -> None:
        await pages.files()
        upstream.body = _document("1.0", "1.1")
        pages.clock.advance(DOCUMENT_TTL - 1)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]  # not due yet
        pages.clock.advance(2)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz", "demo_pkg-1.1.tar.gz"]
        pages.clock.advance(5)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz", "demo_pkg-1.1.tar.gz"]

    _run(steps)
    assert len(upstream.requests) == 2
    assert (pages.asked, pages.merges, pages.renders) == (2, 2, 2)


def test_a_local_publish_shows_at_once(pages: Pages, upstream: Upstream,
                                       container: Container, publisher: PypiPublisher,
                                       dists: DistFactory) -> None:
    wheel = dists.wheel(DistSpec(name="demo-pkg", version="2.0"))

    async def steps() -> None:
        await pages.files()
        publisher.publish(ROOT_PRINCIPAL, pages.domain, pages.lib,
                          upload_form(container.registry.blobs, wheel))
        assert await pages.files() == ["demo_pkg-1.0.tar.gz", wheel.filename]

    _run(steps)
    assert len(upstream.requests) == 1  # the document is still fresh
    assert (pages.asked, pages.merges, pages.renders) == (2, 2, 2)


def test_the_stale_copy_is_served_while_the_upstream_is_down(pages: Pages,
                                                             upstream: Upstream) -> None:
    async def steps() -> None:
        await pages.files()
        upstream.down = True
        pages.clock.advance(DOCUMENT_TTL + 1)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        pages.clock.advance(1)
        await pages.files()  # kept a moment: the upstream is not asked on every read
        pages.clock.advance(2)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]  # asked again

    _run(steps)
    assert len(upstream.requests) == 3
    assert (pages.asked, pages.merges, pages.renders) == (3, 1, 1)


def _wheels(versions: int, per_version: int) -> bytes:
    """demo-pkg's upstream page with ``per_version`` wheels of each of ``versions`` releases."""
    files = [{"filename": name, "url": f"https://files.example/{name}",
              "hashes": {"sha256": hashlib.sha256(name.encode()).hexdigest()}}
             for v in range(versions) for n in range(per_version)
             for name in [f"demo_pkg-1.{v}-{n}-py3-none-any.whl"]]
    return json.dumps({"meta": {"api-version": "1.0"}, "name": "demo-pkg",
                       "files": files}).encode()


def test_a_large_project_page_is_merged_and_rendered_off_the_event_loop(
        pages: Pages, upstream: Upstream) -> None:
    """A project with thousands of files upstream (numpy, botocore) was merged, rendered,
    digested and gzipped on the event loop; past ``LARGE_LISTING_ENTRIES`` versions and files
    it is done in a worker thread, whether they are many versions or many files of a few; a
    small page as before."""
    many_versions = LARGE_LISTING_ENTRIES // 2 + 1
    upstream.body = _document(*(f"1.{n}" for n in range(many_versions)))

    async def steps() -> None:
        assert len(await pages.files()) == many_versions
        upstream.body = _wheels(10, LARGE_LISTING_ENTRIES // 10)  # 10 + 400 entries
        pages.clock.advance(DOCUMENT_TTL + 1)
        assert len(await pages.files()) == LARGE_LISTING_ENTRIES
        upstream.body = _document("1.0")
        pages.clock.advance(DOCUMENT_TTL + 1)
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]

    _run(steps)
    assert pages.rendered_on_loop == [False, False, True]


# -- npm: packuments read through the same resolver and page cache ------------------------------

@pytest.fixture
def registry(tmp_path: Path) -> Iterator[StaticRegistry]:
    found = StaticRegistry(tmp_path / "registry")
    yield found
    found.stop()


class NpmTeam:
    """``team`` reading ``public`` (public:npmjs at ``registry``), with its own resolver, page
    cache and packuments on one fake clock."""

    def __init__(self, container: Container, registry: StaticRegistry) -> None:
        self.clock = clock = FakeClock()
        api = container.registry
        self.domain = api.create_domain(ROOT_PRINCIPAL, "acme")
        api.create_repository(ROOT_PRINCIPAL, "acme", "public", None)
        api.associate_external_connection(ROOT_PRINCIPAL, "acme", "public", "public:npmjs")
        self.team = api.create_repository(ROOT_PRINCIPAL, "acme", "team", None,
                                          upstreams=["public"])
        self.access = RepositoryAccess(ROOT_PRINCIPAL, self.domain, self.team)
        catalog = container.catalog
        http = UpstreamHttp(UpstreamLimits(retries=0, read_timeout=5.0, cooldown=0.0))
        documents = UpstreamDocuments(catalog, http, clock, DOCUMENT_TTL, NpmUpstream())
        self.resolver = UpstreamResolver(
            NpmUpstream(), catalog, api.blobs, documents, container.core.upstreams.pull, http,
            {"public:npmjs": registry.url}, clock, 0, graph_cache(catalog),
            container.core.upstreams.later)
        self.reads = PackageReads(container.core.gate, api.blobs, catalog.changes,
                                  clock=clock, monotonic=lambda: clock.now().timestamp())
        self.packuments = Packuments(catalog, self.resolver)
        self.asked = 0

    async def versions(self, package: str) -> list[str]:
        name = parse_package_name(package)

        async def render() -> RenderedPage:
            self.asked += 1
            return await self.packuments.page(self.domain, self.team, name, "full",
                                              "http://packyard/")

        page = await self.reads.page(self.access, (package, "full"), render)
        return list(json.loads(page.body)["versions"])


def test_packuments_are_merged_and_rendered_once_per_change(
        container: Container, registry: StaticRegistry) -> None:
    registry.add("left-pad", "1.0.0")
    team = NpmTeam(container, registry)

    async def steps() -> None:
        assert await team.versions("left-pad") == ["1.0.0"]
        team.clock.advance(60)
        assert await team.versions("left-pad") == ["1.0.0"]  # kept: nothing changed
        team.clock.advance(DOCUMENT_TTL)
        assert await team.versions("left-pad") == ["1.0.0"]  # refetched, the same document
        registry.add("left-pad", "2.0.0")
        team.clock.advance(DOCUMENT_TTL + 1)
        assert await team.versions("left-pad") == ["1.0.0", "2.0.0"]

    asyncio.run(steps())
    assert [r for r in registry.requests if r == "/left-pad"] == ["/left-pad"] * 3
    assert (team.asked, team.resolver.merges, team.packuments.renders) == (3, 2, 2)


def test_regression_a_rendered_packument_does_not_hold_the_upstream_document(
        container: Container, registry: StaticRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    # The documents and merges are bounded by size; the renders remembered beside them must
    # not hold a document once those have let it go (they held every packument ever read).
    registry.add("left-pad", "1.0.0")
    team = NpmTeam(container, registry)
    documents = team.resolver._documents

    async def steps() -> None:
        assert await team.versions("left-pad") == ["1.0.0"]
        held = next(iter(documents._memory.values())).listing
        assert held is not None
        gone = weakref.ref(held)
        del held
        documents._memory.clear()
        team.resolver._merged.clear()
        team.resolver._settled.clear()
        team.reads._pages.cache.clear()
        gc.collect()
        assert gone() is None
        # Read again (from the catalog's copy): the same packument, rendered anew.
        assert await team.versions("left-pad") == ["1.0.0"]

    asyncio.run(steps())
    assert team.packuments.renders == 2


def test_a_large_packument_is_merged_and_prepared_off_the_event_loop(
        container: Container, registry: StaticRegistry,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """typescript's 3,500 versions took ~0.1 s of merging, fingerprinting and preparing on
    the event loop after each change of the package (a new version upstream, a kept
    tarball), which every other request waited out. Past ``LARGE_LISTING_ENTRIES`` versions
    and files that work runs in a worker thread; a small package's stays where it is
    (cheaper than a hop)."""
    versions = LARGE_LISTING_ENTRIES // 2 + 1  # and a tarball each
    for n in range(versions):
        registry.add("big", f"1.0.{n}")
    registry.add("small", "1.0.0")
    team = NpmTeam(container, registry)
    ran: list[tuple[str, bool]] = []

    def watched(module: Any, name: str) -> None:
        work = getattr(module, name)

        def on_which_thread(*args: Any) -> Any:
            ran.append((name, threading.current_thread() is threading.main_thread()))
            return work(*args)

        monkeypatch.setattr(module, name, on_which_thread)

    watched(resolver_module, "merge_listings")
    watched(packuments_module, "_fingerprint")
    watched(packuments_module, "_stored_versions")

    async def steps() -> None:
        assert len(await team.versions("big")) == versions
        big = list(ran)
        ran.clear()
        assert await team.versions("small") == ["1.0.0"]
        assert (big, ran) == (
            [("merge_listings", False), ("_fingerprint", False), ("_stored_versions", False)],
            [("merge_listings", True), ("_fingerprint", True), ("_stored_versions", True)])

    asyncio.run(steps())  # the event loop runs on the main thread


def _kept_file(name: str, version: str, data: bytes) -> tuple[NewVersion, NewAsset, str]:
    """A version and its one file, as a pull-through keeps them (``Catalog.retain``)."""
    sha256 = hashlib.sha256(data).hexdigest()
    asset = NewAsset(name=f"{name.replace('-', '_')}-{version}.tar.gz", size=len(data),
                     sha256=sha256, sha512=hashlib.sha512(data).hexdigest(),
                     sha1=hashlib.sha1(data).hexdigest(), md5=hashlib.md5(data).hexdigest())
    new = NewVersion(version=version, version_key=version, summary=None, home_page=None,
                     source_code_repository=None, licenses=[], readme=None,
                     readme_content_type=None, dependencies=[], origin_type="EXTERNAL")
    return new, asset, sha256


def _graph_loads(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The domain ids whose upstream graph ``catalog`` loads from now on, in order."""
    loads: list[int] = []
    domain_graph = catalog.domain_graph

    def counted(domain_id: int) -> Any:
        loads.append(domain_id)
        return domain_graph(domain_id)

    monkeypatch.setattr(catalog, "domain_graph", counted)
    return loads


def _keep(container: Container, pages: Pages, name: str, version: str) -> None:
    """``name``'s ``version`` pulled through and kept in ``lib``."""
    data = f"{name} {version} kept from upstream".encode()
    new, asset, sha256 = _kept_file(name, version, data)
    container.catalog.retain([pages.lib], "pypi", "", name, name, new, asset,
                             EntryPoint("EXTERNAL", None, "public:pypi"), {sha256: len(data)},
                             pages.clock.now())


def test_a_page_read_is_made_again_after_a_kept_file_before_the_next_read(
        pages: Pages, container: Container, upstream: Upstream) -> None:
    """A cold install keeps a file of every package it pulls, so each page it read was stale
    when the next install read it, and that read merged and rendered it again. The page
    warmer makes it again in a quiet moment after the kept file, through the read's own
    render: the next read is a cache hit showing the file."""
    warmer = pages.reads.warmer

    async def steps() -> None:
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        _keep(container, pages, "demo-pkg", "0.9")
        warmer.yield_to(lambda: (0, 0))  # a server with nothing under way
        assert await warmer.warm() == 1
        assert (pages.asked, pages.renders) == (2, 2)
        assert await warmer.warm() == 0  # made already
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]
        assert (pages.asked, pages.renders) == (2, 2)  # the read found it made

    _run(steps)
    assert len(upstream.requests) == 1


def test_a_page_whose_upstream_document_is_due_is_left_for_its_read(
        pages: Pages, container: Container, upstream: Upstream) -> None:
    """Making a page again never asks an upstream: one merged from a document that is due
    for revalidation is left to the next read, which revalidates it."""
    warmer = pages.reads.warmer
    warmer.yield_to(lambda: (0, 0))

    async def steps() -> None:
        await pages.files()
        _keep(container, pages, "demo-pkg", "0.9")
        pages.clock.advance(DOCUMENT_TTL + 1)
        assert await warmer.warm() == 0
        assert len(upstream.requests) == 1
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]
        assert len(upstream.requests) == 2  # the read revalidated it

    _run(steps)


def test_a_pulled_file_kept_keeps_the_domain_graph_and_a_repository_change_drops_it(
        pages: Pages, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold install keeps a file every few milliseconds; each used to make the next request
    load the domain's upstream graph (and groups, tags) again. Keeping a file changes what a
    page lists (merged again), never the graph; changing upstreams still drops it at once."""
    catalog = container.catalog
    loads = _graph_loads(catalog, monkeypatch)

    async def steps() -> None:
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        _keep(container, pages, "demo-pkg", "0.9")
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]
        assert len(loads) == 1
        container.registry.update_repository(ROOT_PRINCIPAL, "acme", "team", None,
                                             upstreams=["public"])
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        assert len(loads) == 2

    _run(steps)


def test_a_file_kept_for_another_package_leaves_the_merge(
        pages: Pages, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file a cold install keeps moved the catalog's stamp, and every merged page was
    planned, merged and rendered again on its next read, whatever package the file was of.
    Now a page whose package's rows are unchanged is taken again after one query."""
    catalog = container.catalog
    plans: list[str] = []
    domain_project_indexes = catalog.domain_project_indexes

    def counted(domain_id: int, fmt: str, namespace: str, name: str, *rows: Any) -> Any:
        plans.append(name)
        return domain_project_indexes(domain_id, fmt, namespace, name, *rows)

    monkeypatch.setattr(catalog, "domain_project_indexes", counted)

    async def steps() -> None:
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        _keep(container, pages, "other-pkg", "1.0")
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        _keep(container, pages, "other-pkg", "1.1")
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        # The package's own kept file is shown at once.
        _keep(container, pages, "demo-pkg", "0.9")
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]

    _run(steps)
    assert plans == ["demo-pkg", "demo-pkg"]  # the first read, and after its own file
    assert (pages.asked, pages.merges, pages.renders, pages.resolver.rechecks) == (4, 2, 2, 2)


def test_a_change_another_process_announced_late_is_seen_by_its_serial(
        pages: Pages, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process's write moves the shared stamp at once, but this process's structure
    stamp only when its announcement is heard. A version made Unlisted there in between must
    not leave the merge kept across pulled files standing: its serial moved."""
    catalog = container.catalog

    async def steps() -> None:
        _keep(container, pages, "demo-pkg", "0.9")
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]
        _keep(container, pages, "other-pkg", "1.0")  # the stamp moves, the structure stays
        touch = catalog.changes.touch
        # As another process's write reaches this one before its announcement does.
        monkeypatch.setattr(catalog.changes, "touch",
                            lambda content_only=False: touch(content_only=True))
        package = catalog.find_package(pages.lib.id, "pypi", "", "demo-pkg")
        assert package is not None
        catalog.change_versions(package, {"0.9": "0.9"}, lambda current: plan_status_update(
            ["0.9"], current, target_status="Archived"), pages.clock.now())
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]

    _run(steps)
    assert pages.resolver.rechecks == 0


def test_own_kept_files_in_a_burst_leave_the_domain_graph(
        pages: Pages, container: Container) -> None:
    """The embedded default's change watcher hears its own process's writes when several
    land between two of its polls (it cannot tell whose they were). A burst of kept files
    was heard as ``catalog``, which drops every domain graph and moves the structure stamp:
    during a cold install, again and again. Kept files are announced as ``content`` now."""
    invalidation = container.invalidation
    assert invalidation is not None
    invalidation.start()
    try:
        time.sleep(0.15)  # its first look at the counters
        structure = container.catalog.changes.structure_stamp()
        for n in range(8):
            _keep(container, pages, f"pkg-{n}", "1.0")
        time.sleep(0.3)  # several polls
        assert "catalog" not in invalidation.heard
        assert container.catalog.changes.structure_stamp() == structure
    finally:
        container.stop_background()


def test_a_file_kept_by_a_replica_drops_pages_and_keeps_the_graph(
        pages: Pages, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica (no stamp file shared) is heard only through its announcements: its kept
    file, announced as ``content``, must drop this process's pages at once and leave the
    domain's graph; a structural write of its (``catalog``) drops the graph too."""
    catalog = container.catalog
    invalidation = container.invalidation
    assert invalidation is not None
    loads = _graph_loads(catalog, monkeypatch)

    async def steps() -> None:
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]
        with monkeypatch.context() as replica:
            replica.setattr(catalog.changes, "touch", lambda content_only=False: None)
            _keep(container, pages, "demo-pkg", "0.9")  # the replica's write: no stamp moved
        assert await pages.files() == ["demo_pkg-1.0.tar.gz"]  # not heard yet
        structure = catalog.changes.structure_stamp()
        invalidation.changed_elsewhere(frozenset({"content"}))
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]
        assert catalog.changes.structure_stamp() == structure
        assert len(loads) == 1
        invalidation.changed_elsewhere(frozenset({"catalog"}))
        assert await pages.files() == ["demo_pkg-0.9.tar.gz", "demo_pkg-1.0.tar.gz"]
        assert len(loads) == 2

    _run(steps)
