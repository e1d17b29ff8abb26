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

from packyard.errors import NotFound, PackyardError
from packyard.formats.pypi.errors import to_response
from packyard.formats.pypi.form import read_upload_form
from packyard.formats.pypi.names import normalize_name
from packyard.formats.pypi.negotiation import accepts_gzip, negotiate
from packyard.formats.pypi.publish import FORMAT, PypiPublisher
from packyard.formats.pypi.simple import (
    IndexFile,
    ProjectPage,
    relative_file_url,
    render_index,
    render_project,
)
from packyard.services.access import RepositoryAccess, RepositoryGate

log = logging.getLogger("packyard.pypi")

# Versions whose files the index lists. Unlisted maps to PEP 592 "yanked": installable when
# pinned, never picked otherwise — the same promise CodeArtifact's Unlisted status makes.
_LISTED = ("Published", "Unlisted")
_GZIP_MIN = 1024


@dataclass(frozen=True)
class PypiServices:
    gate: RepositoryGate
    publisher: PypiPublisher


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
            page = await run_in_threadpool(self._project_page, access, normalized)
        except PackyardError as exc:
            return to_response(exc)
        return page_response(request, render_project(page, media_type), media_type)

    def _project_page(self, access: RepositoryAccess, name: str) -> ProjectPage:
        found = self._gate.registry.catalog.project_index(access.repository.id, FORMAT, name)
        if found is None:
            raise NotFound(f"No project {name} in repository {access.repository.name}")
        _, versions, entries = found
        files = [
            IndexFile(filename=e.asset.name, url=relative_file_url(e.asset.name),
                      sha256=e.asset.sha256, size=e.asset.size,
                      upload_time=e.asset.created_at, requires_python=e.asset.requires_python,
                      yanked="Unlisted" if e.status == "Unlisted" else False,
                      metadata_sha256=e.asset.metadata_sha256)
            for e in entries if e.status in _LISTED]
        listed = [v for v in versions if v.status in _LISTED]
        plugin_sort = self._gate.registry.formats.get(FORMAT).version_sort_key
        return ProjectPage(name=name, files=files,
                           versions=[v.version for v in sorted(listed,
                                                               key=lambda v: plugin_sort(v.version))])

    @_guarded
    async def file(self, request: Request) -> Response:
        project = request.path_params["project"]
        filename = request.path_params["filename"]
        try:
            access = await self._open_read(request)
            blob_sha, size, name = await run_in_threadpool(
                self._locate_file, access, normalize_name(project), filename)
        except PackyardError as exc:
            return to_response(exc)
        blobs = self._gate.registry.blobs
        key = access.domain.blob_key
        headers = {"ETag": f'"{blob_sha}"',
                   # Files never change once published.
                   "Cache-Control": "private, max-age=31536000, immutable"}
        media_type = "text/plain" if name.endswith(".metadata") else "application/octet-stream"
        path = blobs.local_path(key, blob_sha)
        if path is not None:
            return FileResponse(path, media_type=media_type, headers=headers,
                                filename=None, stat_result=None)
        headers["Content-Length"] = str(size)
        return StreamingResponse(blobs.read(key, blob_sha), media_type=media_type,
                                 headers=headers)

    def _locate_file(self, access: RepositoryAccess, project: str, filename: str
                     ) -> tuple[str, int, str]:
        catalog = self._gate.registry.catalog
        found = catalog.find_asset(access.repository.id, FORMAT, project, filename)
        if found is not None:
            version, asset = found
            if version.status in _LISTED:
                return asset.sha256, asset.size, filename
        elif filename.endswith(".metadata"):
            found = catalog.find_asset(access.repository.id, FORMAT, project,
                                       filename.removesuffix(".metadata"))
            if found is not None:
                version, asset = found
                if version.status in _LISTED and asset.metadata_sha256:
                    return asset.metadata_sha256, asset.metadata_size or 0, filename
        raise NotFound(f"No file {filename} in project {project}")


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
