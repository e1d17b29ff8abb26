"""The PyPI package endpoint: the Simple API (PEP 503/691 and friends), files, and the upload API.

Handlers are thin: open the repository (token + authorization), call one service, render.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from threading import Lock
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
from starlette.routing import BaseRoute, Route

from packyard.errors import PackyardError
from packyard.formats.pypi.errors import to_response
from packyard.formats.pypi.form import read_upload_form
from packyard.formats.pypi.names import normalize_name
from packyard.formats.pypi.negotiation import accepts_gzip, negotiate
from packyard.formats.pypi.publish import FORMAT, PypiPublisher
from packyard.formats.pypi.simple import (
    render_index,
    render_project,
)
from packyard.services.access import RepositoryAccess, RepositoryGate
from packyard.upstream.resolver import InlineFile, StoredFile, UpstreamResolver

log = logging.getLogger("packyard.pypi")

_GZIP_MIN = 1024


@dataclass(frozen=True)
class PypiServices:
    gate: RepositoryGate
    publisher: PypiPublisher
    # Project pages and files across the repository's upstreams and external connections.
    resolver: UpstreamResolver


class _GzipCache:
    """Compressed page bodies by ETag; pages are re-requested far more often than they change."""

    def __init__(self, size: int = 512) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get(self, etag: str, body: bytes) -> bytes:
        with self._lock:
            hit = self._items.get(etag)
            if hit is not None:
                self._items.move_to_end(etag)
                return hit
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        with self._lock:
            self._items[etag] = packed
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return packed


_gzip_cache = _GzipCache()


def _etag_matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return "*" in candidates or etag in candidates


def page_response(request: Request, body: bytes, media_type: str) -> Response:
    """A page with a strong ETag, 304 revalidation and gzip when the client takes it."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    use_gzip = len(body) >= _GZIP_MIN and accepts_gzip(request.headers.get("accept-encoding"))
    etag = f'"{digest}-gz"' if use_gzip else f'"{digest}"'
    headers = {"ETag": etag, "Vary": "Accept, Accept-Encoding, Authorization",
               # Private: pages depend on who asks; pip revalidates with max-age=0 anyway.
               "Cache-Control": "private, max-age=0, must-revalidate"}
    if _etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        body = _gzip_cache.get(etag, body)
    return Response(body, media_type=media_type, headers=headers)


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

    async def _open_read(self, request: Request) -> RepositoryAccess:
        label, repo = request.path_params["label"], request.path_params["repo"]
        authorization = request.headers.get("authorization")
        access = self._gate.recent_reader(label, repo, authorization)
        if access is None:
            access = await run_in_threadpool(self._gate.open_for_read, label, repo,
                                             authorization)
        return access

    async def _open(self, request: Request) -> RepositoryAccess:
        access = await run_in_threadpool(
            self._gate.open, request.path_params["label"], request.path_params["repo"],
            request.headers.get("authorization"))
        return access

    @_guarded
    async def upload(self, request: Request) -> Response:
        try:
            access = await self._open(request)
            blobs = self._gate.registry.blobs
            form = await read_upload_form(request.headers.get("content-type"),
                                          request.stream(), blobs.stage, blobs.discard,
                                          self._publisher.max_upload_bytes)
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
            names = await run_in_threadpool(self._gate.registry.catalog.list_project_names,
                                            access.repository.id, FORMAT)
        except PackyardError as exc:
            return to_response(exc)
        return page_response(request, render_index(names, media_type), media_type)

    @_guarded
    async def project(self, request: Request) -> Response:
        project = request.path_params["project"]
        normalized = normalize_name(project)
        if normalized != project or not request.url.path.endswith("/"):
            # PEP 503: redirect to the normalized URL (after auth, so no names leak).
            try:
                access = await self._open_read(request)
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
            # The page merges the repository with its upstreams (docs/upstreams.md).
            page = await self._resolver.project_page(access.domain, access.repository,
                                                     normalized)
        except PackyardError as exc:
            return to_response(exc)
        return page_response(request, render_project(page, media_type), media_type)

    @_guarded
    async def file(self, request: Request) -> Response:
        project = request.path_params["project"]
        filename = request.path_params["filename"]
        try:
            access = await self._open_read(request)
            # Pulled through from an upstream when the repository does not hold it yet.
            located = await self._resolver.locate(access.domain, access.repository,
                                                  normalize_name(project), filename)
        except PackyardError as exc:
            return to_response(exc)
        media_type = "text/plain" if filename.endswith(".metadata") \
            else "application/octet-stream"
        # Files never change once published.
        headers = {"Cache-Control": "private, max-age=31536000, immutable"}
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

    def _stored_file(self, located: StoredFile, media_type: str,
                     headers: dict[str, str]) -> Response:
        blobs = self._gate.registry.blobs
        headers["ETag"] = f'"{located.sha256}"'
        path = blobs.local_path(located.blob_key, located.sha256)
        if path is not None:
            return FileResponse(path, media_type=media_type, headers=headers,
                                filename=None, stat_result=None)
        headers["Content-Length"] = str(located.size)
        return StreamingResponse(blobs.read(located.blob_key, located.sha256),
                                 media_type=media_type, headers=headers)


def pypi_routes(services: Any) -> Sequence[BaseRoute]:
    endpoint = PypiEndpoint(services)
    prefix = "/{label}/pypi/{repo}"
    return [
        Route(prefix, endpoint.upload, methods=["POST"]),
        Route(prefix + "/", endpoint.upload, methods=["POST"]),
        Route(prefix + "/legacy/", endpoint.upload, methods=["POST"]),
        Route(prefix + "/simple/", endpoint.index, methods=["GET", "HEAD"]),
        Route(prefix + "/simple/{project}/", endpoint.project, methods=["GET", "HEAD"]),
        Route(prefix + "/simple/{project}", endpoint.project, methods=["GET", "HEAD"]),
        Route(prefix + "/simple/{project}/{filename}", endpoint.file, methods=["GET", "HEAD"]),
    ]
