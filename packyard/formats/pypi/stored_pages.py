"""Project pages rendered when a project changes, and found by the first read that wants one.

A write that changes a project renders its own page, PEP 503 HTML and PEP 691 JSON with their
gzip, in the write's transaction (``render_stored_pages``, the catalog's ``PageRenderer`` for
PyPI; ``metadata/rendered_pages.py``), so the first read of a page nobody has asked for yet is
one keyed lookup instead of a listing and a render: on the event loop's own thread where the
catalog reads without waiting (embedded SQLite, ``metadata/point_reads.py``), else in a worker
thread. The bytes are exactly
what the merging path (``UpstreamResolver.listing``, ``upstream.project_page``) renders of a
repository without upstreams, because they are made by the same functions; a repository with
upstreams keeps that path (its page changes with theirs). A page the catalog has no current
row of (written before rendering existed, or by a write that could not render) is rendered on
its read and kept for the next process by a background thread, off the request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from packyard.errors import NotFound
from packyard.formats.pypi.names import require_project_name
from packyard.formats.pypi.negotiation import SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML
from packyard.formats.pypi.plugin import FORMAT
from packyard.formats.pypi.simple import render_project_html, render_project_json
from packyard.formats.pypi.upstream import PypiUpstream, project_page
from packyard.metadata.catalog import Catalog, PageSource, StoredPage
from packyard.model import Package
from packyard.services.access import RepositoryAccess
from packyard.services.answers import RenderedPage, gzip_encoding
from packyard.thread_hop import ThreadHop
from packyard.upstream.graph import SearchStep
from packyard.upstream.merge import merge_listings
from packyard.upstream.resolver import Place, UpstreamResolver, stored_listing

log = logging.getLogger("packyard")

HTML, JSON = "html", "json"
# Both HTML media types get the same body (only Content-Type differs).
_KINDS = {TEXT_HTML: HTML, SIMPLE_V1_HTML: HTML, SIMPLE_V1_JSON: JSON}

_UPSTREAM = PypiUpstream()


def render_stored_pages(source: PageSource) -> list[StoredPage]:
    """A project's own page in both representations, as a repository without upstreams
    serves it (the catalog calls this in the write transaction that changed the project)."""
    name = source.package.name
    listing = stored_listing(_UPSTREAM, Place(SearchStep(source.package.repository_id)), name,
                             source.versions, source.entries, {})
    page = project_page(name, merge_listings([listing], _UPSTREAM.version_sort_key))
    return [_stored(HTML, render_project_html(page)), _stored(JSON, render_project_json(page))]


def _stored(kind: str, body: bytes) -> StoredPage:
    # The digest RenderedPage.of gives the same body: the ETag does not depend on the path.
    return StoredPage(kind, body, gzip_encoding(body), hashlib.sha256(body).hexdigest()[:32])


def _answer(page: StoredPage, media_type: str, serial: int) -> RenderedPage:
    # The serial is the time of the project's last change in microseconds (``serials.py``).
    changed = datetime.fromtimestamp(serial / 1_000_000, UTC) if serial > 0 else None
    return RenderedPage(page.body, media_type, page.digest, last_modified=changed,
                        gzip_body=page.gzip_body)


class StoredPages:
    """The read side: a project's page from the catalog's rendered pages."""

    def __init__(self, catalog: Catalog, resolver: UpstreamResolver) -> None:
        self._catalog = catalog
        self._resolver = resolver
        self._threads = ThreadHop(name="packyard-pages")
        # Pages a read had to render, kept one at a time off the request; each package once.
        self._keeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="packyard-keep")
        self._keeping: set[int] = set()
        self._lock = threading.Lock()
        self.rendered_on_read = 0  # pages no write had rendered (tests, logs)

    async def page(self, access: RepositoryAccess, project: str,
                   media_type: str) -> RenderedPage | None:
        """The page of ``project`` (normalized) in ``media_type``; None when the repository
        has upstreams (its page is merged with theirs: the caller's path), known at once
        when its domain's graph is at hand (no worker-thread hop to learn it)."""
        if self._resolver.merges_upstreams_now(access.domain, access.repository):
            return None
        return await self._threads.run(self._find, access, project, media_type)

    def page_now(self, access: RepositoryAccess, project: str,
                 media_type: str) -> RenderedPage | None:
        """The stored page of ``project`` looked up on the caller's own thread (the event
        loop's), where that never waits (``Catalog.rendered_page_now``) and the repository is
        known to stand alone; None when ``page`` must answer."""
        if not self._resolver.stands_alone_now(access.domain, access.repository):
            return None
        found = self._catalog.rendered_page_now(access.repository.id, FORMAT, project,
                                                _KINDS[media_type])
        return None if found is None else _answer(found[0], media_type, found[1])

    def _find(self, access: RepositoryAccess, project: str,
              media_type: str) -> RenderedPage | None:
        repository = access.repository
        if self._resolver.has_upstreams(access.domain, repository):
            return None
        kind = _KINDS[media_type]
        found = self._catalog.rendered_page(repository.id, FORMAT, project, kind)
        if found is not None:
            return _answer(found[0], media_type, found[1])
        require_project_name(project)  # as the merging path checks it
        source = self._catalog.page_source(repository.id, FORMAT, project)
        if source is None:
            raise NotFound(f"No project {project} in repository {repository.name}")
        pages = render_stored_pages(source)
        self.rendered_on_read += 1
        self._keep(source.package, pages)
        page = next(p for p in pages if p.kind == kind)
        return _answer(page, media_type, source.package.last_serial)

    def _keep(self, package: Package, pages: list[StoredPage]) -> None:
        with self._lock:
            if package.id in self._keeping:
                return
            self._keeping.add(package.id)
        self._keeper.submit(self._store, package, pages)

    def _store(self, package: Package, pages: list[StoredPage]) -> None:
        try:
            self._catalog.keep_rendered_pages(package, pages)
        except Exception:  # noqa: BLE001 - the next read renders it again
            log.warning("keeping the rendered page of %s failed", package.name, exc_info=True)
        finally:
            with self._lock:
                self._keeping.discard(package.id)

    def wait_kept(self) -> None:
        """Wait for the pages being kept (tests)."""
        self._keeper.submit(lambda: None).result()
