"""The PyPI package endpoint: the Simple API (PEP 503/691 and friends), files, and the upload API.

Handlers are thin: open the repository (token + authorization), call one service, render.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from packyard.auth.environment import current_environment
from packyard.errors import PackyardError
from packyard.formats.pypi.answers import (
    FILE_CACHING,
    CachedFile,
    RenderedPage,
    file_media_type,
    page_answer,
)
from packyard.formats.pypi.errors import to_response
from packyard.formats.pypi.form import read_upload_form
from packyard.formats.pypi.hot_reads import HotReads
from packyard.formats.pypi.names import normalize_name, require_project_name
from packyard.formats.pypi.negotiation import negotiate
from packyard.formats.pypi.publish import FORMAT, PypiPublisher
from packyard.formats.pypi.simple import (
    render_index,
    render_project,
)
from packyard.formats.registry import MountedFormat
from packyard.http.request import declared_length
from packyard.services.access import RepositoryAccess, RepositoryGate
from packyard.services.response_cache import ResponseCache
from packyard.services.upload_capacity import UploadCapacity
from packyard.singleflight import SingleFlight
from packyard.upstream.resolver import InlineFile, Located, StoredFile, UpstreamResolver

log = logging.getLogger("packyard.pypi")

@dataclass(frozen=True)
class PypiServices:
    gate: RepositoryGate
    publisher: PypiPublisher
    # Project pages and files across the repository's upstreams and external connections.
    resolver: UpstreamResolver
    # How many uploads this process stores at once, and the disk reserve they must leave.
    capacity: UploadCapacity


class _LargeChunkFileResponse(FileResponse):
    # Starlette's 64 KiB default costs a thread hop per chunk; 1 MiB keeps big downloads
    # near disk speed while memory stays bounded.
    chunk_size = 1024 * 1024


# Files up to this size are kept in memory once read: small wheels and metadata files are
# the bulk of an install's requests.
_INLINE_MAX = 64 * 1024


def _not_acceptable() -> Response:
    return Response("None of the media types in Accept is served here; use "
                    "application/vnd.pypi.simple.v1+json or text/html\n", status_code=406,
                    media_type="text/plain", headers={"Vary": "Accept"})


def _guarded(handler: Callable[[Any, Request], Awaitable[Response]]
             ) -> Callable[[Any, Request], Awaitable[Response]]:
    """Unexpected failures become a plain 500 with a pointer to the log, never a reset."""

    @functools.wraps(handler)
    async def run(self: Any, request: Request) -> Response:
        try:
            return await handler(self, request)
        except PackyardError as exc:
            return to_response(exc)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return PlainTextResponse("Packyard hit an internal error; see the server log\n",
                                     status_code=500)

    return run


class PypiEndpoint:
    """Request handlers bound to the services they call."""

    def __init__(self, services: PypiServices) -> None:
        self._gate = services.gate
        self._publisher = services.publisher
        self._resolver = services.resolver
        self._capacity = services.capacity
        changes = services.gate.registry.catalog.changes
        # Any metadata write drops these; other workers' writes show within the TTL.
        self._pages: ResponseCache[RenderedPage] = ResponseCache(changes, ttl_seconds=2.0)
        self._files: ResponseCache[CachedFile] = ResponseCache(changes, ttl_seconds=2.0,
                                                                max_entries=2048)
        # When a grant or a page expires under load, every waiting request misses at once;
        # one of them does the work and the others wait for it (no herd on the thread pool).
        self._grants: SingleFlight[tuple[object, ...], RepositoryAccess] = SingleFlight()
        self._renders: SingleFlight[tuple[object, ...], RenderedPage] = SingleFlight()
        self._lookups: SingleFlight[tuple[object, ...], CachedFile | None] = SingleFlight()

    def hot_reads(self) -> HotReads:
        """Answers repeats of what these handlers cached, before Starlette runs."""
        return HotReads(self._gate, self._pages, self._files)

    async def _open_read(self, request: Request) -> RepositoryAccess:
        label, repo = request.path_params["label"], request.path_params["repo"]
        authorization = request.headers.get("authorization")
        env = current_environment()
        access = self._gate.recent_reader(label, repo, authorization, env)
        if access is None:
            access = await self._grants.run(
                (label, repo, authorization, env),
                lambda: run_in_threadpool(self._gate.open_for_read, label, repo, authorization))
        return access

    async def _open(self, request: Request) -> RepositoryAccess:
        access = await run_in_threadpool(
            self._gate.open, request.path_params["label"], request.path_params["repo"],
            request.headers.get("authorization"))
        return access

    @_guarded
    async def upload(self, request: Request) -> Response:
        # Nothing of the body is read until the caller is known, a place is free and the disk
        # has room; nothing is stored until the form's name says the caller may publish it.
        try:
            access = await self._open(request)
            blobs = self._gate.registry.blobs

            def authorize_name(name: str) -> None:
                self._publisher.authorize_upload(access.principal, access.domain,
                                                 access.repository, name)

            with self._capacity.admit(declared_length(request)):
                form = await read_upload_form(request.headers.get("content-type"),
                                              request.stream(), blobs.stage, blobs.discard,
                                              self._publisher.max_upload_bytes, authorize_name)
                outcome = await run_in_threadpool(self._publisher.publish, access.principal,
                                                  access.domain, access.repository, form)
        except PackyardError as exc:
            return to_response(exc)
        message = "OK" if outcome.created else "OK (identical file already present)"
        return Response(message + "\n", media_type="text/plain")

    @_guarded
    async def index(self, request: Request) -> Response:
        media_type = negotiate(request.headers.get("accept"), request.query_params.get("format"))
        if media_type is None:
            return _not_acceptable()
        try:
            access = await self._open_read(request)
            page = self._pages.get(access.repository.id, ("/", media_type))
            if page is None:
                page = await self._renders.run((access.repository.id, "/", media_type),
                                               lambda: self._render_index(access, media_type))
        except PackyardError as exc:
            return to_response(exc)
        return _page_response(request, page)

    @_guarded
    async def project(self, request: Request) -> Response:
        project = request.path_params["project"]
        normalized = normalize_name(project)
        if normalized != project or not request.url.path.endswith("/"):
            # PEP 503: redirect to the normalized URL (after auth, so no names leak).
            try:
                access = await self._open_read(request)
                require_project_name(project)
            except PackyardError as exc:
                return to_response(exc)
            base = request.url.path.rstrip("/").rsplit("/", 1)[0]
            target = f"{base}/{quote(normalized)}/"
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(target, status_code=301)
        media_type = negotiate(request.headers.get("accept"), request.query_params.get("format"))
        if media_type is None:
            return _not_acceptable()
        try:
            access = await self._open_read(request)
            rendered = self._pages.get(access.repository.id, (normalized, media_type))
            if rendered is None:
                rendered = await self._renders.run(
                    (access.repository.id, normalized, media_type),
                    lambda: self._render_project(access, normalized, media_type))
        except PackyardError as exc:
            return to_response(exc)
        return _page_response(request, rendered)

    async def _render_index(self, access: RepositoryAccess, media_type: str) -> RenderedPage:
        stamp = self._pages.stamp()
        names = await run_in_threadpool(self._gate.registry.catalog.list_project_names,
                                        access.repository.id, FORMAT)
        page = RenderedPage.of(render_index(names, media_type), media_type)
        self._pages.put(access.repository.id, ("/", media_type), stamp, page)
        return page

    async def _render_project(self, access: RepositoryAccess, project: str,
                              media_type: str) -> RenderedPage:
        stamp = self._pages.stamp()
        # The page merges the repository with its upstreams (docs/upstreams.md).
        merged = await self._resolver.project_page(access.domain, access.repository, project)
        page = RenderedPage.of(render_project(merged, media_type), media_type)
        self._pages.put(access.repository.id, (project, media_type), stamp, page)
        return page

    @_guarded
    async def file(self, request: Request) -> Response:
        project = request.path_params["project"]
        filename = request.path_params["filename"]
        try:
            access = await self._open_read(request)
            key = (normalize_name(project), filename)
            cached = self._files.get(access.repository.id, key)
            if cached is None:
                # Files the repository holds are looked up once for all who ask at once.
                cached = await self._lookups.run((access.repository.id, *key),
                                                 lambda: self._own_file(access, key))
            if cached is not None:
                located: Located = cached.located
            else:
                # Pulled through from an upstream when the repository does not hold it yet.
                located = await self._resolver.locate(access.domain, access.repository,
                                                      key[0], filename)
        except PackyardError as exc:
            return to_response(exc)
        media_type = file_media_type(filename)
        if (cached is not None and cached.data is not None
                and "range" not in request.headers):
            return cached.answer(filename, request.headers.get("if-none-match")).as_response()
        headers = {"Cache-Control": FILE_CACHING}
        if isinstance(located, InlineFile):
            return Response(located.data, media_type=media_type, headers=headers)
        if isinstance(located, StoredFile):
            return self._stored_file(located, media_type, headers)
        if located.size is not None:
            headers["Content-Length"] = str(located.size)
        if request.method == "HEAD":
            # uv asks HEAD first (range support); the download started goes on for its GET.
            located.reader.close()
            return Response(None, media_type=media_type, headers=headers)
        return StreamingResponse(located.reader.stream(), media_type=media_type,
                                 headers=headers)

    async def _own_file(self, access: RepositoryAccess,
                        key: tuple[str, str]) -> CachedFile | None:
        stamp = self._files.stamp()
        located = await run_in_threadpool(self._resolver.find_own, access.domain,
                                          access.repository, *key)
        if located is None:
            return None
        cached = CachedFile(located, await self._small_bytes(located))
        self._files.put(access.repository.id, key, stamp, cached)
        return cached

    async def _small_bytes(self, located: StoredFile) -> bytes | None:
        if located.size > _INLINE_MAX:
            return None
        blobs = self._gate.registry.blobs
        path = blobs.local_path(located.blob_key, located.sha256)
        if path is None:  # a backend without files: small blobs are still answered from memory
            return b"".join([chunk async for chunk in blobs.read(located.blob_key,
                                                                  located.sha256)])
        return await run_in_threadpool(path.read_bytes)

    def _stored_file(self, located: StoredFile, media_type: str,
                     headers: dict[str, str]) -> Response:
        blobs = self._gate.registry.blobs
        headers["ETag"] = f'"{located.sha256}"'
        path = blobs.local_path(located.blob_key, located.sha256)
        if path is not None:
            return _LargeChunkFileResponse(path, media_type=media_type, headers=headers,
                                filename=None, stat_result=None)
        headers["Content-Length"] = str(located.size)
        return StreamingResponse(blobs.read(located.blob_key, located.sha256),
                                 media_type=media_type, headers=headers)


def _page_response(request: Request, page: RenderedPage) -> Response:
    return page_answer(page, request.headers.get("accept-encoding"),
                       request.headers.get("if-none-match")).as_response()


def pypi_routes(services: Any) -> MountedFormat:
    endpoint = PypiEndpoint(services)
    prefix = "/{label}/pypi/{repo}"
    return MountedFormat(endpoint.hot_reads(), [
        Route(prefix, endpoint.upload, methods=["POST"]),
        Route(prefix + "/", endpoint.upload, methods=["POST"]),
        Route(prefix + "/legacy/", endpoint.upload, methods=["POST"]),
        Route(prefix + "/simple/", endpoint.index, methods=["GET", "HEAD"]),
        Route(prefix + "/simple/{project}/", endpoint.project, methods=["GET", "HEAD"]),
        Route(prefix + "/simple/{project}", endpoint.project, methods=["GET", "HEAD"]),
        Route(prefix + "/simple/{project}/{filename}", endpoint.file, methods=["GET", "HEAD"]),
    ])
