"""Upstream documents, cached: fresh for a while, then revalidated, and served stale on error.

What an upstream says about one package (PyPI: a project page; npm: a packument) is fetched,
parsed by the format (``FormatUpstream.parse_listing``) and kept in the metadata store in the
format's encoding, so it survives restarts, with an in-memory copy in front. Within ``ttl`` it
is used as is. After that the next request revalidates it with a conditional GET
(``If-None-Match`` / ``If-Modified-Since``, RFC 9110 section 13): a 304 costs the upstream almost
nothing. When the upstream is down, times out or answers 5xx, the document last fetched is
served anyway (stale-if-error, RFC 5861) and only a package never fetched gets an error; an
upstream's 404 is remembered as long as a document. Concurrent requests for one document share
one fetch. A slow revalidation is not waited for long: after ``revalidate_wait`` seconds the
cached copy is served and the fetch finishes in the background (clients such as pip time out
after 15 seconds).

A document's parsed listing is the same object until its content changes (a 304, or a 200 with
the same document, keeps it): what is merged and rendered from it is kept by that identity
(``UpstreamResolver.merged_listing``).

The in-memory copies are bounded by the size of their encoded documents (``_MEMORY_BYTES``), not
by their number: one npm packument (next, typescript) parses into tens of megabytes of objects,
a small project's into kilobytes. The encoded document itself is not held (only its digest, to
tell a refetched document unchanged): a 304 refreshes the stored copy's validators and fetch
time without writing the document again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from packyard.clock import Clock
from packyard.errors import UpstreamError
from packyard.metadata.catalog import CachedPage, Catalog
from packyard.singleflight import SingleFlight
from packyard.upstream.client import PageFetch, UpstreamHttp
from packyard.upstream.document_budget import Lease
from packyard.upstream.format import FormatUpstream, UpstreamListing

log = logging.getLogger("packyard.upstream")

# Parsed documents kept in memory, counted by the length of their encoded documents: their
# objects take five to eight times that (npm's largest packuments encode to 5-15 MB), so
# this holds about 200 MB of parsed listings: thousands of PyPI projects (PyPI's twelve largest
# pages, botocore's and awscli's among them, encode to about 25 MB), a dozen huge packuments.
_MEMORY_BYTES = 32 * 1024 * 1024
_ABSENT_BYTES = 1024  # what an upstream's "no such package" is counted as


@dataclass(frozen=True)
class _Held:
    """One document in memory: its stored page without the document, the document's digest,
    the parsed listing, and what it counts for in ``_MEMORY_BYTES``."""

    page: CachedPage
    digest: str | None
    listing: UpstreamListing | None
    weight: int


def _held(page: CachedPage, listing: UpstreamListing | None) -> _Held:
    document = page.document
    if document is None:
        return _Held(page, None, listing, _ABSENT_BYTES)
    return _Held(replace(page, document=None), _digest(document), listing,
                 max(len(document), _ABSENT_BYTES))


def _digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class Loaded:
    """A document read from the catalog ahead of ``UpstreamDocuments.get`` (``load_ahead``):
    ``held`` None when the catalog has none."""

    key: tuple[str, str]
    held: _Held | None


@dataclass(frozen=True)
class DocumentResult:
    """A package as the upstream lists it; ``listing`` None when the upstream has no such
    package."""

    listing: UpstreamListing | None
    fetched_at: datetime
    stale: bool = False  # served after a failed revalidation


class UpstreamDocuments:
    """The cache of one format's upstream documents, for every external connection."""

    def __init__(self, catalog: Catalog, http: UpstreamHttp, clock: Clock,
                 ttl_seconds: float, fmt: FormatUpstream, revalidate_wait: float = 5.0) -> None:
        self._catalog = catalog
        self._format = fmt
        self._revalidate_wait = revalidate_wait
        self._http = http
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._memory: OrderedDict[tuple[str, str], _Held] = OrderedDict()
        self._memory_bytes = 0
        self._flights: SingleFlight[tuple[str, str], DocumentResult] = SingleFlight()

    async def get(self, index_url: str, name: str, loaded: Loaded | None = None
                  ) -> DocumentResult:
        """What the upstream at ``index_url`` (an index root URL) lists of package ``name``;
        ``loaded``: the catalog's copy, read ahead by the caller (``load_ahead``)."""
        key = (index_url, name)
        cached = await self._cached(key, loaded)
        stats = self._http.stats
        if cached is not None and self._clock.now() - cached.page.fetched_at < self._ttl:
            stats.hits += 1
            return DocumentResult(cached.listing, cached.page.fetched_at)
        refresh = self._flights.task(key, lambda: self._refresh(key, cached))
        if cached is None:
            return await asyncio.shield(refresh)
        try:
            return await asyncio.wait_for(asyncio.shield(refresh), self._revalidate_wait)
        except TimeoutError:
            stats.stale += 1
            log.warning("upstream slow to revalidate %s; serving the copy fetched at %s",
                        self._format.document_url(*key), cached.page.fetched_at.isoformat())
            return DocumentResult(cached.listing, cached.page.fetched_at, stale=True)

    def revalidate_at(self, result: DocumentResult) -> datetime:
        """When the document ``get`` gave is next revalidated (past: it was served stale)."""
        return result.fetched_at + self._ttl

    def load_ahead(self, index_url: str, name: str) -> Loaded | None:
        """The catalog's copy of a document ``get`` will be asked for, read on the caller's
        worker thread (beside its own reads: ``UpstreamResolver``'s plan of the page, so the
        first read of a page needs no hop of its own for it); None when the document is in
        memory (nothing read)."""
        key = (index_url, name)
        if key in self._memory:
            return None
        return Loaded(key, self._load(key))

    async def _cached(self, key: tuple[str, str], loaded: Loaded | None) -> _Held | None:
        hit = self._memory.get(key)
        if hit is not None:
            self._memory.move_to_end(key)
            return hit
        if loaded is not None and loaded.key == key:
            held = loaded.held
        else:
            held = await run_in_threadpool(self._load, key)
        if held is None:
            return None
        self._remember(key, held)
        return held

    def _load(self, key: tuple[str, str]) -> _Held | None:
        """The document as last kept in the catalog, decoded (worker thread)."""
        stored = self._catalog.get_upstream_page(*key)
        if stored is None:
            return None
        parsed = None
        if stored.found and stored.document is not None:
            parsed = replace(self._format.decode(key[1], stored.document),
                             weight=len(stored.document))
        return _held(stored, parsed)

    def _remember(self, key: tuple[str, str], held: _Held) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_bytes -= old.weight
        self._memory[key] = held
        self._memory_bytes += held.weight
        while self._memory_bytes > _MEMORY_BYTES and len(self._memory) > 1:
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= evicted.weight

    async def _refresh(self, key: tuple[str, str], cached: _Held | None) -> DocumentResult:
        url = self._format.document_url(*key)
        # The body fetched and what is parsed from it count in the budget of documents held
        # at once until the parsed listing is kept (``document_budget``).
        async with self._http.budget.lease(url) as lease:
            return await self._fetch(key, cached, url, lease)

    async def _fetch(self, key: tuple[str, str], cached: _Held | None, url: str,
                     lease: Lease) -> DocumentResult:
        index_url, name = key
        stats = self._http.stats
        stats.fetches += 1
        try:
            fetched = await self._http.fetch_page(
                url, upstream=index_url, accept=self._format.accept,
                etag=cached.page.etag if cached else None,
                last_modified=cached.page.last_modified if cached else None, lease=lease)
            now = self._clock.now()
            if fetched.status == "not_modified" and cached is not None:
                # The stored document stands: only its validators and fetch time move.
                page = replace(cached.page, fetched_at=now, etag=fetched.etag,
                               last_modified=fetched.last_modified)
                await run_in_threadpool(self._catalog.touch_upstream_page, page)
                held = replace(cached, page=page)
            else:
                if fetched.status == "absent":
                    page = CachedPage(index_url, name, False, None, None, None, now)
                    await run_in_threadpool(self._catalog.put_upstream_page, page)
                    held = _held(page, None)
                else:
                    # A big document (an npm packument can be megabytes) is parsed off the
                    # loop, and kept in the same worker-thread hop.
                    held = await run_in_threadpool(self._parse_and_keep, key, cached, fetched,
                                                   now)
        except UpstreamError as exc:
            stats.errors += 1
            if cached is None:
                raise UpstreamError(f"{exc.message}; Packyard has never fetched "
                                    f"{self._format.noun} {name} from there, so it has no copy "
                                    "to serve") from None
            stats.stale += 1
            log.warning("upstream %s failed (%s); serving the copy of %s fetched at %s",
                        url, exc.message, name, cached.page.fetched_at.isoformat())
            return DocumentResult(cached.listing, cached.page.fetched_at, stale=True)
        self._remember(key, held)
        return DocumentResult(held.listing, held.page.fetched_at)

    def _parse_and_keep(self, key: tuple[str, str], cached: _Held | None,
                        fetched: PageFetch, now: datetime) -> _Held:
        """A fetched document parsed, encoded and kept in the catalog (worker thread)."""
        index_url, name = key
        fresh, document = self._parse(fetched.body, fetched.content_type, fetched.url, name)
        if fresh.rejected:
            log.info("upstream %s: left out %d file(s) of %s, e.g. %s", index_url,
                     len(fresh.rejected), name, fresh.rejected[0])
        page = CachedPage(index_url, name, True, document, fetched.etag, fetched.last_modified,
                          now)
        # Refetched unchanged (an upstream without validators): the same listing, so what was
        # merged and rendered from it stays (``UpstreamResolver``).
        unchanged = (cached is not None and cached.page.found
                     and cached.digest == _digest(document))
        self._catalog.put_upstream_page(page)
        return _held(page, cached.listing if unchanged and cached is not None else fresh)

    def _parse(self, body: bytes, content_type: str, url: str,
               name: str) -> tuple[UpstreamListing, str]:
        """A fetched document, parsed and encoded as it is kept (worker thread)."""
        try:
            parsed = self._format.parse_listing(body, content_type, url, name)
            document = self._format.encode(parsed)
        except RecursionError:
            # JSON nested a thousand deep (Python's json recurses per level): an upstream
            # error like any unusable answer, so a cached copy is served, not a 500.
            raise UpstreamError(f"Upstream {url} sent a document nested too deeply to "
                                "read") from None
        return replace(parsed, weight=len(document)), document

