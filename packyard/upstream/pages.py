"""Upstream project pages, cached: fresh for a while, then revalidated, and served stale on error.

A page fetched from an upstream index is kept (parsed) in the metadata store, so it survives
restarts, with an in-memory copy in front. Within ``ttl`` it is used as is. After that the next
request revalidates it with a conditional GET (``If-None-Match`` / ``If-Modified-Since``, RFC
9110 section 13): a 304 costs the upstream almost nothing. When the upstream is down, times out
or answers 5xx, the page last fetched is served anyway (stale-if-error, RFC 5861) and only a
project never fetched gets an error. Concurrent requests for one page share one fetch. A slow
revalidation is not waited for long: after ``revalidate_wait`` seconds the cached copy is served
and the fetch finishes in the background (clients such as pip time out after 15 seconds).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool

from packyard.clock import Clock
from packyard.errors import UpstreamError
from packyard.metadata.catalog import CachedPage, Catalog
from packyard.singleflight import SingleFlight
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.index_page import UpstreamFile, UpstreamProject, parse_project_page

log = logging.getLogger("packyard.upstream")

# Parsed pages kept in memory, counted in files (a big project lists thousands of files).
_MEMORY_FILES = 100_000


@dataclass(frozen=True)
class PageResult:
    """A project as the upstream lists it; ``project`` None when the upstream has no such project."""

    project: UpstreamProject | None
    fetched_at: datetime
    stale: bool = False  # served after a failed revalidation


def page_url(index_url: str, project: str) -> str:
    # Quoted whatever it holds: a project name is one path segment of the upstream's URL.
    return f"{index_url}{quote(project, safe='')}/"


def encode_files(project: UpstreamProject) -> str:
    rows = []
    for f in project.files:
        row = asdict(f)
        row["upload_time"] = f.upload_time.isoformat() if f.upload_time else None
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def decode_files(name: str, document: str) -> UpstreamProject:
    files = []
    for row in json.loads(document):
        moment = row.get("upload_time")
        files.append(UpstreamFile(**{**row, "upload_time": datetime.fromisoformat(moment)
                                     if moment else None}))
    return UpstreamProject(name, tuple(files))


class UpstreamPages:
    """The cache of upstream project pages for every external connection."""

    def __init__(self, catalog: Catalog, http: UpstreamHttp, clock: Clock,
                 ttl_seconds: float, revalidate_wait: float = 5.0) -> None:
        self._catalog = catalog
        self._revalidate_wait = revalidate_wait
        self._http = http
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._memory: OrderedDict[tuple[str, str], tuple[CachedPage, UpstreamProject | None]] \
            = OrderedDict()
        self._memory_files = 0
        self._flights: SingleFlight[tuple[str, str], PageResult] = SingleFlight()

    async def project(self, index_url: str, project: str) -> PageResult:
        """The project's files on the upstream at ``index_url`` (a simple index root URL)."""
        key = (index_url, project)
        cached = await self._cached(key)
        if cached is not None and self._clock.now() - cached[0].fetched_at < self._ttl:
            return PageResult(cached[1], cached[0].fetched_at)
        refresh = self._flights.task(key, lambda: self._refresh(key, cached))
        if cached is None:
            return await asyncio.shield(refresh)
        try:
            return await asyncio.wait_for(asyncio.shield(refresh), self._revalidate_wait)
        except TimeoutError:
            log.warning("upstream slow to revalidate %s; serving the copy fetched at %s",
                        page_url(*key), cached[0].fetched_at.isoformat())
            return PageResult(cached[1], cached[0].fetched_at, stale=True)

    async def _cached(self, key: tuple[str, str]
                      ) -> tuple[CachedPage, UpstreamProject | None] | None:
        hit = self._memory.get(key)
        if hit is not None:
            self._memory.move_to_end(key)
            return hit
        stored = await run_in_threadpool(self._catalog.get_upstream_page, *key)
        if stored is None:
            return None
        parsed = decode_files(key[1], stored.document) \
            if stored.found and stored.document is not None else None
        self._remember(key, stored, parsed)
        return stored, parsed

    def _remember(self, key: tuple[str, str], page: CachedPage,
                  parsed: UpstreamProject | None) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_files -= _size(old[1])
        self._memory[key] = (page, parsed)
        self._memory_files += _size(parsed)
        while self._memory_files > _MEMORY_FILES and len(self._memory) > 1:
            _, (_, evicted) = self._memory.popitem(last=False)
            self._memory_files -= _size(evicted)

    async def _refresh(self, key: tuple[str, str],
                       cached: tuple[CachedPage, UpstreamProject | None] | None) -> PageResult:
        index_url, name = key
        url = page_url(index_url, name)
        try:
            fetched = await self._http.fetch_page(
                url, etag=cached[0].etag if cached else None,
                last_modified=cached[0].last_modified if cached else None)
            now = self._clock.now()
            if fetched.status == "not_modified" and cached is not None:
                page = replace(cached[0], fetched_at=now, etag=fetched.etag,
                               last_modified=fetched.last_modified)
                parsed = cached[1]
            elif fetched.status == "absent":
                page = CachedPage(index_url, name, False, None, None, None, now)
                parsed = None
            else:
                parsed = parse_project_page(fetched.body, fetched.content_type, fetched.url,
                                            name)
                if parsed.rejected:
                    log.info("upstream %s: left out %d file(s) of %s, e.g. %s", index_url,
                             len(parsed.rejected), name, parsed.rejected[0])
                page = CachedPage(index_url, name, True, encode_files(parsed), fetched.etag,
                                  fetched.last_modified, now)
        except UpstreamError as exc:
            if cached is None:
                raise UpstreamError(f"{exc.message}; Packyard has never fetched project {name} "
                                    "from there, so it has no copy to serve") from None
            log.warning("upstream %s failed (%s); serving the copy of %s fetched at %s",
                        url, exc.message, name, cached[0].fetched_at.isoformat())
            return PageResult(cached[1], cached[0].fetched_at, stale=True)
        await run_in_threadpool(self._catalog.put_upstream_page, page)
        self._remember(key, page, parsed)
        return PageResult(parsed, page.fetched_at)


def _size(project: UpstreamProject | None) -> int:
    return 1 + (len(project.files) if project is not None else 0)
