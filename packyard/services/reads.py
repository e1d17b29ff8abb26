"""``PackageReads``: what every format's read handlers share, so that none re-implements it.

- the read grant: a caller granted a read of a repository a moment ago is let in again from
  memory (``RepositoryGate.recent_reader``); otherwise the grant is made in a worker thread,
  once for all who ask at the same moment (``SingleFlight``);
- rendered pages, kept until the next catalog write (``ResponseCache``), each rendered once for
  all who ask at the same moment;
- file lookups, kept the same way, with the bytes of small files (≤ 64 KiB) in memory;
- the answers: pages with a strong ETag, 304 and gzip (``services/answers.py``), stored files
  with their sha256 as ETag, immutable caching and Range on every blob store
  (``services/blob_response.py``);
- the hot path in front of the handlers (``services/hot_reads.py``), reading the same caches,
  and the first-read path (``services/first_reads.py``), filling them without the handlers.

A format's handler parses the request, calls these with its own keys and its own render or
lookup function, and returns what they give.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from packyard.auth.environment import RequestEnvironment, connection_of, current_environment
from packyard.clock import Clock
from packyard.http.request_note import RequestNote, note_of
from packyard.metadata.changes import ChangeLog
from packyard.metadata.point_reads import MISSING, Missing
from packyard.model import Repository
from packyard.services.access import RepositoryAccess, RepositoryGate, WriteCaller, reader_key
from packyard.services.answers import (
    FILE_CACHING,
    CachedFile,
    RenderedPage,
    etag_matches,
    page_answer,
)
from packyard.services.blob_response import BlobResponse, LargeChunkFileResponse
from packyard.services.first_reads import Fill, FillNow, FirstReads, Refused
from packyard.services.hot_reads import HotReads, HotRoute
from packyard.services.page_warmer import PageWarmer
from packyard.services.response_cache import ResponseCache
from packyard.services.spool_response import SpoolResponse
from packyard.services.upstream_file_answers import (
    head_answer,
    not_satisfiable,
    range_answer,
)
from packyard.singleflight import SingleFlight
from packyard.storage.blobs import BlobStore
from packyard.thread_hop import ThreadHop
from packyard.ttl_cache import TtlCache
from packyard.upstream.byte_ranges import ByteRange, FileRequest
from packyard.upstream.resolver import (
    InlineFile,
    Located,
    RangeNotSatisfiable,
    StoredFile,
    UpstreamFileHead,
    UpstreamRange,
)

CODEARTIFACT_EVENTS = "codeartifact.amazonaws.com"

# Files up to this size are kept in memory once read: small wheels and metadata files are the
# bulk of an install's requests.
INLINE_MAX = 64 * 1024
# Pages and file lookups are good until the catalog changes, here or announced by another
# process (``services/response_cache.py``); this is the backstop for a change never announced.
CHANGE_BACKSTOP_SECONDS = 300.0
# How long a file found missing from a repository is taken as missing while the catalog is
# unchanged: long enough for the first-read path's miss to serve its route's ask.
ABSENT_SECONDS = 1.0
# What the rendered pages kept in memory may hold together, bodies and gzip encodings.
PAGES_MAX_BYTES = 64 * 1024 * 1024
# A page that merges upstreams is also only as fresh as their documents, which are revalidated
# on their own schedule (``PACKYARD_UPSTREAM_PAGE_TTL_SECONDS``) and announce nothing when they
# change: such a page is kept until the first of them is due (``RenderedPage.revalidate_at``),
# then asked of its format again, which finds the same merge unless a document changed
# (``UpstreamResolver.merged_listing``). It is kept at least this long (a document served
# stale, an upstream down: asked again at this pace, as before), and this long when its
# format does not say.
MERGED_PAGE_SECONDS = 2.0


class PackageReads:
    """Grants, caches and answers for one format's package endpoint."""

    def __init__(self, gate: RepositoryGate, blobs: BlobStore, changes: ChangeLog,
                 audit_downloads: bool = False,
                 stands_alone: Callable[[Repository], bool] = lambda _repository: False,
                 clock: Clock | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._gate = gate
        self._clock = clock if clock is not None else Clock()
        self._segment = ""
        # Every download is recorded in the audit trail by the handlers, so the hot path
        # leaves files to them.
        self._audit_downloads = audit_downloads
        self._blobs = blobs
        # Any metadata write drops these, here or announced by another process.
        # Bounded by what they hold too: every write makes them stale at once, but a stale
        # entry holds its memory until it is read or pushed out (a cold npm install keeps a
        # tarball, and so makes every cached packument stale, every few milliseconds).
        self._pages: ResponseCache[RenderedPage] = ResponseCache(
            changes, ttl_seconds=CHANGE_BACKSTOP_SECONDS, monotonic=monotonic,
            weigh=lambda page: page.size, max_weight=PAGES_MAX_BYTES)
        self._files: ResponseCache[CachedFile] = ResponseCache(
            changes, ttl_seconds=CHANGE_BACKSTOP_SECONDS, max_entries=2048)
        # Files the repository was just found not to hold, while the catalog is unchanged and
        # for a second at most: the first read of a file only an upstream has finds it missing,
        # then its route asks again before pulling it through (one lookup and hop less).
        self._absent: ResponseCache[bool] = ResponseCache(
            changes, ttl_seconds=ABSENT_SECONDS, max_entries=1024)
        # Whether a repository has no upstreams (its pages then change only with the catalog).
        self._stands_alone = stands_alone
        # When a grant or a page expires under load, every waiting request misses at once;
        # one of them does the work and the others wait for it (no herd on the thread pool).
        self._grants: SingleFlight[tuple[object, ...], RepositoryAccess] = SingleFlight()
        self._renders: SingleFlight[tuple[object, ...], RenderedPage] = SingleFlight()
        self._lookups: SingleFlight[tuple[object, ...], CachedFile | None] = SingleFlight()
        # Grants and file lookups: the blocking part of the first read of each file or page.
        self._threads = ThreadHop()
        # Merged pages made again after a pulled file is kept, before the next read.
        self.warmer = PageWarmer()

    def caches(self) -> dict[str, TtlCache[Any, Any]]:
        """Rendered pages and file lookups, by name (for ``/metrics``)."""
        prefix = f"{self._segment}_" if self._segment else ""
        return {prefix + "pages": self._pages.cache, prefix + "files": self._files.cache}

    def hot_path(self, segment: str, route: HotRoute, *, raw_path: bool = False) -> HotReads:
        """Answers repeats of what these caches hold, before Starlette runs, for requests under
        ``/{domain}-{owner}/{segment}/{repo}/`` that ``route`` maps to a cache entry (given the
        path still percent-encoded when ``raw_path``)."""
        self._segment = segment
        return HotReads(self._gate, self._pages, self._files, segment, route,
                        raw_path=raw_path, answer_files=not self._audit_downloads)

    # -- who may read ----------------------------------------------------------------------------

    @staticmethod
    def note(request: Request, action: str) -> RequestNote:
        """The request's note for the audit trail (``http/request_note.py``): the action it
        needs, as CloudTrail names a package manager's request, and the repository the path
        names. A format adds the package and file it knows."""
        note = note_of(request.scope)
        if not note.name:
            note.source, note.name = CODEARTIFACT_EVENTS, action
        label = str(request.path_params.get("label", ""))
        name, _, owner = label.rpartition("-")
        parameters = {"domainName": name or label, "domainOwner": owner or None,
                      "repositoryName": request.path_params.get("repo")}
        note.request_parameters = {**parameters, **(note.request_parameters or {})}
        return note

    async def open_read(self, request: Request) -> RepositoryAccess:
        """The caller's read access to the repository the path names (``label``, ``repo``):
        token, domain, ReadFromRepository and the repository, reused for a second."""
        note = self.note(request, "ReadFromRepository")
        note.read_only = True
        # Reads are recorded when refused; successful ones only as downloads, if asked for.
        note.record_success = False
        access = await self.grant(request.path_params["label"], request.path_params["repo"],
                                  request.headers.get("authorization"), current_environment(),
                                  connection_of(request.scope))
        note.caller = access.principal
        return access

    async def grant(self, label: str, repo: str, authorization: str | None,
                    env: RequestEnvironment | None, connection: int | None = None
                    ) -> RepositoryAccess:
        """``open_read`` for a request not (yet) parsed by Starlette; ``env`` must be the
        current environment (the grant is remembered for requests from there, on
        ``connection`` when the server names it)."""
        access = self._gate.recent_reader(label, repo, authorization, env, connection)
        if access is None:
            # Keyed as the grant is kept: uv and npm open dozens of connections at once, and
            # each would otherwise evaluate the same caller's policies in a thread of its own.
            access = await self._grants.run(
                reader_key(label, repo, authorization, env, connection),
                lambda: self._threads.run(self._gate.open_for_read, label, repo, authorization,
                                          connection))
        return access

    def first_reads(self, segment: str, route: HotRoute, fill: Fill, refused: Refused,
                    operations: Mapping[str, str], fill_now: FillNow | None = None, *,
                    raw_path: bool = False) -> FirstReads:
        """Answers first reads of what ``hot_path`` serves, into the same caches, without the
        routes; ``fill`` is the format's render or lookup, ``refused`` its answer to an error
        and ``operations`` the names its routes give a page's and a file's reads, for the
        metrics and the access log; ``fill_now`` its lookup of a page that never waits, for
        callers granted on their connection already (``services/first_reads.py``); with
        ``raw_path``, ``route`` is given the path still percent-encoded, as ``hot_path``'s."""
        return FirstReads(self.grant, segment, route, fill, refused, operations,
                          CODEARTIFACT_EVENTS, recent=self._gate.recent_reader,
                          grant_now=self._gate.open_for_read_now, fill_now=fill_now,
                          raw_path=raw_path)

    async def open(self, request: Request, action: str = "PublishPackageVersion"
                   ) -> WriteCaller:
        """The caller of a write, authenticated, and the repository the path names, not yet
        looked up: the write is authorized (the service's, per action) on the names first, then
        ``repository_for`` finds the repository."""
        note = self.note(request, action)
        caller = await run_in_threadpool(self._gate.open_for_write,
                                         request.path_params["label"],
                                         request.path_params["repo"],
                                         request.headers.get("authorization"))
        note.caller = caller.principal
        return caller

    def repository_for(self, caller: WriteCaller) -> RepositoryAccess:
        """The repository of a write the caller was authorized for (NotFound when there is
        none); the lookup is cached, as the reads' are."""
        return self._gate.repository_for(caller)

    # -- pages -----------------------------------------------------------------------------------

    async def page(self, access: RepositoryAccess, key: Hashable,
                   render: Callable[[], Awaitable[RenderedPage]],
                   stored: Callable[[], RenderedPage | None] | None = None) -> RenderedPage:
        """The page ``key`` of the repository: when not cached, what ``stored`` finds on this
        thread without waiting (a page kept by the write that changed it), else what
        ``render`` makes, once for all who ask at once."""
        repository = access.repository
        page = self._pages.get(repository.id, key)
        if page is None and stored is not None:
            page = self.stored_page(access, key, stored)
        if page is None:
            page = await self._render_once(repository, key, render)
        return page

    def stored_page(self, access: RepositoryAccess, key: Hashable,
                    stored: Callable[[], RenderedPage | None]) -> RenderedPage | None:
        """The page ``key`` of the repository, cached or found by ``stored`` on this thread
        (which must not wait: ``metadata/point_reads.py``) and cached; None when neither."""
        repository = access.repository
        page = self._pages.get(repository.id, key)
        if page is None:
            stamp = self._pages.stamp()
            page = stored()
            if page is not None:
                self._keep_page(repository, key, stamp, page)
        return page

    def _render_once(self, repository: Repository, key: Hashable,
                     render: Callable[[], Awaitable[RenderedPage]]) -> Awaitable[RenderedPage]:
        """``render`` run and its page kept, once for all who ask for the page at once."""
        return self._renders.run((repository.id, key),
                                 lambda: self._render(repository, key, render))

    async def _render(self, repository: Repository, key: Hashable,
                      render: Callable[[], Awaitable[RenderedPage]]) -> RenderedPage:
        stamp = self._pages.stamp()
        page = await render()
        self._keep_page(repository, key, stamp, page)
        revalidate_at = page.revalidate_at
        if revalidate_at is not None and not self._stands_alone(repository):
            # A merged page: made again after the next pulled file is kept (page_warmer.py),
            # while the upstream documents it was merged from are fresh.
            self.warmer.remember(
                (repository.id, key),
                lambda: self._render_once(repository, key, render),
                lambda: self._pages.holds(repository.id, key),
                lambda: self._clock.now() < revalidate_at)
        return page

    def _keep_page(self, repository: Repository, key: Hashable, stamp: int,
                   page: RenderedPage) -> None:
        self._pages.put(repository.id, key, stamp, page,
                        ttl_seconds=self._lifetime(repository, page))

    def _lifetime(self, repository: Repository, page: RenderedPage) -> float | None:
        """How long ``page`` is kept if the catalog stays as it is (None: the backstop)."""
        # Asked after the render, which has just read the repository's upstream graph.
        if self._stands_alone(repository):
            return None
        if page.revalidate_at is None:
            return MERGED_PAGE_SECONDS
        due = (page.revalidate_at - self._clock.now()).total_seconds()
        return min(CHANGE_BACKSTOP_SECONDS, max(MERGED_PAGE_SECONDS, due))

    @staticmethod
    def page_response(request: Request, page: RenderedPage) -> Response:
        """A page with a strong ETag, 304 revalidation and gzip when the client takes it."""
        return page_answer(page, request.headers.get("accept-encoding"),
                           request.headers.get("if-none-match"),
                           request.headers.get("if-modified-since")).as_response()

    # -- files -----------------------------------------------------------------------------------

    def _downloaded(self, request: Request) -> None:
        """A file is being sent: recorded in the audit trail when downloads are."""
        if self._audit_downloads:
            note_of(request.scope).record_success = True

    async def stored_file(self, access: RepositoryAccess, key: Hashable,
                          lookup: Callable[[], StoredFile | None],
                          media_type: str) -> CachedFile | None:
        """The file ``key`` the repository itself holds, found by ``lookup`` (run in a worker
        thread) when not cached; None when it holds no such file."""
        repository_id = access.repository.id
        cached = self._files.get(repository_id, key)
        if cached is None:
            if self._absent.get(repository_id, key):
                return None
            # Files the repository holds are looked up once for all who ask at once.
            cached = await self._lookups.run(
                (repository_id, key), lambda: self._own_file(repository_id, key, lookup,
                                                              media_type))
        return cached

    async def _own_file(self, repository_id: int, key: Hashable,
                        lookup: Callable[[], StoredFile | None],
                        media_type: str) -> CachedFile | None:
        stamp = self._files.stamp()
        found = await self._threads.run(self._find_with_bytes, lookup)
        if found is None:
            self._absent.put(repository_id, key, stamp, True)
            return None
        located, data = found
        if data is None and located.size <= INLINE_MAX:
            # A backend without files: small blobs are still answered from memory.
            data = b"".join([chunk async for chunk in self._blobs.read(located.blob_key,
                                                                        located.sha256)])
        cached = CachedFile(located, data, media_type)
        self._files.put(repository_id, key, stamp, cached)
        return cached

    def _find_with_bytes(self, lookup: Callable[[], StoredFile | None]
                         ) -> tuple[StoredFile, bytes | None] | None:
        """The lookup and, for a small file in a plain file, its bytes: one thread hop for
        both (the first read of each wheel and ``.metadata`` file of an install)."""
        located = lookup()
        if located is None or located.size > INLINE_MAX:
            return None if located is None else (located, None)
        path = self._blobs.local_path(located.blob_key, located.sha256)
        return located, (path.read_bytes() if path is not None else None)

    def stored_file_now(self, access: RepositoryAccess, key: Hashable,
                        lookup: Callable[[], StoredFile | Missing | None],
                        media_type: str) -> CachedFile | None:
        """The file ``key`` the repository holds, cached or found by ``lookup`` on this thread
        (which must not wait: ``metadata/point_reads.py``) and cached as ``stored_file``
        caches it: a small file with its bytes, read here where the blob store can without
        waiting (``BlobStore.read_small_now``: at most ``INLINE_MAX`` from a local file, which
        the page cache answers in microseconds), a big one without. None when
        ``stored_file`` must answer: nothing found now, or a small file's bytes not readable
        now (remote, missing, a data key still to unwrap: the store's ``read`` says which).
        A file ``lookup`` finds ``MISSING`` is remembered as ``stored_file``'s own lookup
        remembers one, so neither it nor the route asks again in a worker thread (the first
        read of each file pulled through)."""
        repository_id = access.repository.id
        cached = self._files.get(repository_id, key)
        if cached is not None:
            return cached
        stamp = self._files.stamp()
        located = lookup()
        if located is MISSING:
            self._absent.put(repository_id, key, stamp, True)
            return None
        if located is None:
            return None
        data = None
        if located.size <= INLINE_MAX:
            data = self._blobs.read_small_now(located.blob_key, located.sha256, INLINE_MAX)
            if data is None:
                return None
        cached = CachedFile(located, data, media_type)
        self._files.put(repository_id, key, stamp, cached)
        return cached

    def cached_file_response(self, request: Request, cached: CachedFile) -> Response:
        """A file the repository holds: a small one from memory (unless a range is asked
        for), a bigger one from the blob store."""
        self._downloaded(request)
        if cached.data is not None and "range" not in request.headers:
            return cached.answer(request.headers.get("if-none-match")).as_response()
        return self.file_response(request, cached.located, cached.media_type)

    def file_response(self, request: Request, located: Located, media_type: str) -> Response:
        """Wherever a file is (stored, inline, or still arriving from upstream), with
        immutable caching: files never change once published."""
        self._downloaded(request)
        headers = {"Cache-Control": FILE_CACHING}
        if isinstance(located, InlineFile):
            return Response(located.data, media_type=media_type, headers=headers)
        if isinstance(located, StoredFile):
            headers["ETag"] = f'"{located.sha256}"'
            if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
                # Evaluated before Range (RFC 9110 section 13.2.2), as for small files.
                return Response(status_code=304, headers=headers)
            path = self._blobs.local_path(located.blob_key, located.sha256)
            if path is not None:
                return LargeChunkFileResponse(path, media_type=media_type, headers=headers,
                                              filename=None, stat_result=None)
            return BlobResponse(self._blobs, located.blob_key, located.sha256, located.size,
                                media_type, headers)
        if isinstance(located, UpstreamFileHead):
            return head_answer(located, media_type, headers)
        if isinstance(located, UpstreamRange):
            return range_answer(located, media_type, headers)
        if isinstance(located, RangeNotSatisfiable):
            return not_satisfiable(located)
        span = None
        if located.size is not None:
            headers["Content-Length"] = str(located.size)
            headers["Accept-Ranges"] = "bytes"
            # One range of a file being pulled follows the download (several: the whole file).
            wanted = self.file_request(request).range_of(None)
            if wanted is not None:
                found = wanted.within(located.size)
                if found is None:
                    located.reader.close()
                    return not_satisfiable(RangeNotSatisfiable(located.size))
                span = (*found, located.size)
        if request.method == "HEAD":
            # A HEAD of a file being pulled (a HEAD alone pulls nothing: ``FileRequest``).
            located.reader.close()
            return Response(None, media_type=media_type, headers=headers)
        return SpoolResponse(located.reader, media_type, headers, span)

    @staticmethod
    def file_request(request: Request) -> FileRequest:
        """What ``request`` asks of a file besides its name (``UpstreamResolver.locate``)."""
        headers = request.headers
        return FileRequest(head=request.method == "HEAD",
                           byte_range=ByteRange.parse(headers.get("range")),
                           if_range=headers.get("if-range"))
