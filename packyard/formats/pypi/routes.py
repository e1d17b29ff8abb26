"""The PyPI package endpoint: the Simple API (PEP 503/691 and friends), files, and the upload API.

Handlers are thin: parse, call one service, render. The read grants, caches and answers are the
core's (``PackageReads``); pages and files across upstreams are the resolver's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from packyard.errors import NotFound
from packyard.formats.plugin import MountedFormat
from packyard.formats.pypi.errors import ERRORS, to_response
from packyard.formats.pypi.form import read_upload_form
from packyard.formats.pypi.hot_reads import pypi_hot_route
from packyard.formats.pypi.json_routes import JsonApi
from packyard.formats.pypi.names import is_valid_version, normalize_name, require_project_name
from packyard.formats.pypi.negotiation import negotiate
from packyard.formats.pypi.publish import FORMAT, PypiPublisher
from packyard.formats.pypi.simple import render_index, render_project
from packyard.formats.pypi.stored_pages import StoredPages
from packyard.formats.pypi.upstream import PypiUpstream, project_page
from packyard.http import console_paths
from packyard.http.answer import Answer
from packyard.http.request import declared_length
from packyard.http.request_note import RequestNote, note_of
from packyard.metadata.catalog import Catalog
from packyard.services.access import RepositoryAccess, split_domain_label
from packyard.services.answers import CachedFile, RenderedPage
from packyard.services.core import Core
from packyard.services.hot_reads import HotKey
from packyard.services.reads import PackageReads
from packyard.services.upload_capacity import UploadCapacity
from packyard.storage.blobs import BlobStore, ExpectedBlob, StagedBlob
from packyard.upstream.merge import MergedProject
from packyard.upstream.resolver import Place, UpstreamResolver


def file_media_type(filename: str) -> str:
    """PEP 658 core metadata is text; distributions are bytes."""
    return "text/plain" if filename.endswith(".metadata") else "application/octet-stream"


class PypiEndpoint:
    """Request handlers bound to the services they call."""

    def __init__(self, reads: PackageReads, publisher: PypiPublisher,
                 resolver: UpstreamResolver, capacity: UploadCapacity,
                 blobs: BlobStore, catalog: Catalog) -> None:
        self._reads = reads
        # Project pages rendered when the project changed (repositories without upstreams).
        self.stored_pages = StoredPages(catalog, resolver)
        self._publisher = publisher
        # Project pages and files across the repository's upstreams and external connections.
        self._resolver = resolver
        # How many uploads this process stores at once, and the disk reserve they must leave.
        self._capacity = capacity
        self._blobs = blobs
        self._catalog = catalog

    async def upload(self, request: Request) -> Response:
        # Nothing of the body is read until the caller is known, a place is free and the disk
        # has room; nothing is stored until the form's name says the caller may publish it.
        note = _noted(request, "upload")
        caller = await self._reads.open(request)
        blobs = self._blobs
        # The repository, once the form's name says the caller may publish there.
        opened: list[RepositoryAccess] = []

        def authorize_name(name: str) -> None:
            _add_parameters(note, packageName=name)
            opened.append(self._publisher.authorize_upload(caller, name,
                                                           self._reads.repository_for))

        def stage(declared_sha256: str | None) -> StagedBlob:
            # twine sends the file's sha256 before the file: an encrypted store encrypts it as
            # it arrives, and keeps that ciphertext when the bytes are the declared ones.
            return blobs.stage(expected=None if declared_sha256 is None
                               else ExpectedBlob(caller.domain.blob_key, declared_sha256))

        with self._capacity.admit(declared_length(request)):
            form = await read_upload_form(request.headers.get("content-type"),
                                          request.stream(), stage, blobs.discard,
                                          self._publisher.max_upload_bytes, authorize_name)
            if not opened:
                self._publisher.refuse_unnamed(form)
            access = opened[0]
            outcome = await run_in_threadpool(self._publisher.publish, access.principal,
                                              access.domain, access.repository, form)
        _add_parameters(note, assetName=outcome.filename)
        note.upload_outcome = "created" if outcome.created else "identical"
        note.response_elements = {"assetName": outcome.filename, "created": outcome.created}
        message = "OK" if outcome.created else "OK (identical file already present)"
        return Response(message + "\n", media_type="text/plain")

    async def index(self, request: Request) -> Response:
        _noted(request, "simple_index")
        media_type = negotiate(request.headers.get("accept"), request.query_params.get("format"))
        access = await self._reads.open_read(request)
        page = await self._reads.page(access, ("/", media_type),
                                      lambda: self._render_index(access, media_type))
        return self._reads.page_response(request, page)

    async def project(self, request: Request) -> Response:
        project = request.path_params["project"]
        _add_parameters(_noted(request, "project_page"), packageName=project)
        normalized = normalize_name(project)
        if normalized != project or not request.url.path.endswith("/"):
            # PEP 503: redirect to the normalized URL (after auth, so no names leak).
            await self._reads.open_read(request)
            require_project_name(project)
            base = request.url.path.rstrip("/").rsplit("/", 1)[0]
            target = f"{base}/{quote(normalized)}/"
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(target, status_code=301)
        media_type = negotiate(request.headers.get("accept"), request.query_params.get("format"))
        access = await self._reads.open_read(request)
        page = await self._reads.page(
            access, (normalized, media_type),
            lambda: self._render_project(access, normalized, media_type),
            lambda: self.stored_pages.page_now(access, normalized, media_type))
        return self._reads.page_response(request, page)

    async def _render_index(self, access: RepositoryAccess, media_type: str) -> RenderedPage:
        names = await run_in_threadpool(self._catalog.list_project_names, access.repository.id,
                                        FORMAT)
        return RenderedPage.of(render_index(names, media_type), media_type)

    async def _render_project(self, access: RepositoryAccess, project: str,
                              media_type: str) -> RenderedPage:
        stored = await self.stored_pages.page(access, project, media_type)
        if stored is not None:
            return stored
        # The page merges the repository with its upstreams (docs/upstreams.md), rendered
        # once per merge, which stays the same until the catalog or an upstream document
        # changes; it is kept until the documents are due again.
        merged = await self._resolver.merged_listing(access.domain, access.repository, project)

        def render(listing: MergedProject[Place]) -> RenderedPage:
            return RenderedPage.of(render_project(project_page(project, listing), media_type),
                                   media_type)

        key = ("simple", media_type)
        # A large project's page (botocore's thousands of files: a render, a digest and a
        # gzip of a megabyte) is made in a worker thread, not on the event loop.
        page = (await run_in_threadpool(merged.rendered, key, render)
                if merged.project.is_large else merged.rendered(key, render))
        return replace(page, revalidate_at=merged.revalidate_at)

    async def file(self, request: Request) -> Response:
        project = request.path_params["project"]
        filename = request.path_params["filename"]
        _add_parameters(_noted(request, "file"), packageName=project, assetName=filename)
        media_type = file_media_type(filename)
        access = await self._reads.open_read(request)
        name = normalize_name(project)
        cached = await self._reads.stored_file(
            access, (name, filename),
            lambda: self._resolver.find_own(access.domain, access.repository, name, filename),
            media_type)
        if cached is not None:
            return self._reads.cached_file_response(request, cached)
        # Pulled through from an upstream when the repository does not hold it yet.
        located = await self._resolver.locate(access.domain, access.repository, name, filename,
                                              own_checked=True,
                                              asked=self._reads.file_request(request))
        return self._reads.file_response(request, located, media_type)

    async def first_read(self, access: RepositoryAccess, key: HotKey
                         ) -> RenderedPage | CachedFile | None:
        """The page or file ``key`` (``pypi_hot_route``'s) as ``project`` and ``file`` make
        it, for the first-read path; None where those would answer otherwise (a name that is
        not normalized gets their redirect, a file only an upstream has their pull-through)."""
        kind, entry = key
        project, detail = cast(tuple[str, str], entry)  # pypi_hot_route's keys
        if normalize_name(project) != project:
            return None
        if kind == "page":
            return await self._reads.page(
                access, (project, detail),
                lambda: self._render_project(access, project, detail),
                lambda: self.stored_pages.page_now(access, project, detail))
        return await self._reads.stored_file(
            access, (project, detail),
            lambda: self._resolver.find_own(access.domain, access.repository, project, detail),
            file_media_type(detail))

    def first_read_now(self, access: RepositoryAccess, key: HotKey
                       ) -> RenderedPage | CachedFile | None:
        """The page or file ``key`` names as ``first_read`` finds it, when that takes no
        waiting (a page kept by the write that changed it, a file's record, looked up on this
        thread; a small file's bytes read there where the blob store can: ``stored_file_now``);
        None otherwise."""
        kind, entry = key
        project, detail = cast(tuple[str, str], entry)  # pypi_hot_route's keys
        if normalize_name(project) != project:
            return None
        if kind == "page":
            return self._reads.stored_page(
                access, (project, detail),
                lambda: self.stored_pages.page_now(access, project, detail))
        return self._reads.stored_file_now(
            access, (project, detail),
            lambda: self._resolver.find_own_now(access.domain, access.repository, project,
                                                detail),
            file_media_type(detail))


def _noted(request: Request, route: str) -> RequestNote:
    """The request's note (``http/request_note.py``), as a PyPI request of ``route``'s class."""
    note = note_of(request.scope)
    note.surface, note.route = FORMAT, route
    _add_parameters(note, packageFormat=FORMAT)
    return note


def _add_parameters(note: RequestNote, **values: str) -> None:
    note.request_parameters = {**(note.request_parameters or {}), **values}


async def release_page(request: Request) -> Response:
    """``<endpoint>NAME/VERSION/``, the page hatch prints after a publish (PyPI's
    ``/project/NAME/VERSION/`` under the upload URL): the version's page in the console, which
    asks the reader to sign in. Nothing is looked up, so the redirect tells nobody anything."""
    domain, _owner = split_domain_label(request.path_params["label"])
    project = request.path_params["project"]
    require_project_name(project)
    version = request.path_params["version"]
    if not is_valid_version(version):
        # Not a page hatch printed (it prints a release's own version): above all
        # ``pypi/NAME/``, PyPI's legacy project page, which was sent on to the page of version
        # NAME of a package called "pypi". pypi.org answers 404 there too.
        why = (_LEGACY_PAGES if normalize_name(project) == "pypi"
               else f"{version!r} is not a version of {project!r}")
        raise NotFound(_no_such_page(request, why), resource_id=project,
                       resource_type="package")
    return RedirectResponse(console_paths.version_path(
        domain, request.path_params["repo"], FORMAT, None, normalize_name(project),
        request.path_params["version"]), status_code=303)


async def package_page(request: Request) -> Response:
    """``<endpoint>/NAME``, the page flit prints after a publish (``Package is at
    {repository}/{name}``: with the URL ``aws codeartifact login --tool twine`` writes into
    .pypirc, ``<endpoint>/NAME`` with two slashes): the package's page in the console.
    Nothing is looked up, as for ``release_page``. Without the second slash, ``simple`` and
    ``legacy`` are sent on to their URL with the slash (what the router does for a path no
    route takes), and ``pypi``, PyPI's legacy page, is not found."""
    project = request.path_params["project"]
    require_project_name(project)
    name = normalize_name(project)
    if request.url.path.endswith(f"/{request.path_params['repo']}/{project}"):
        if name in ("simple", "legacy"):
            return RedirectResponse(request.url.replace(path=request.url.path + "/"),
                                    status_code=307)
        if name == "pypi":
            raise NotFound(_no_such_page(request, _LEGACY_PAGES), resource_id=project,
                           resource_type="package")
    domain, _owner = split_domain_label(request.path_params["label"])
    return RedirectResponse(console_paths.package_path(
        domain, request.path_params["repo"], FORMAT, None, name), status_code=303)


async def legacy_release_page(request: Request) -> Response:
    """``<endpoint>pypi/NAME/VERSION/``, PyPI's legacy release page: 404 (as on pypi.org), saying
    where the release is described."""
    project = request.path_params["project"]
    require_project_name(project)
    raise NotFound(_no_such_page(request, _LEGACY_PAGES),
                   resource_id=project, resource_type="package")


_LEGACY_PAGES = "PyPI's legacy pages (pypi/NAME/) are not served"
_NOT_AN_INDEX = ("the repository's endpoint is where twine uploads; pip's and uv's index URL is "
                 "the endpoint followed by simple/")


async def not_an_index(request: Request) -> Response:
    """``<endpoint>`` and ``<endpoint>NAME/`` read as an index (the endpoint given to pip or uv
    as its index URL, without ``simple/``): a 404 saying where the index is."""
    raise NotFound(_no_such_page(request, _NOT_AN_INDEX))


def _no_such_page(request: Request, why: str) -> str:
    endpoint = request.url.path.split("/pypi/", 1)[0] + "/pypi/" + request.path_params["repo"]
    return (f"No page {request.url.path}: {why}. This repository's projects are listed at "
            f"{endpoint}/simple/ and described by PyPI's JSON API at "
            f"{endpoint}/pypi/NAME/json")


def mount_pypi(core: Core) -> MountedFormat:
    """The PyPI package endpoint on the core's services."""
    reads = core.package_reads()
    resolver = core.upstreams.resolver_for(PypiUpstream())
    endpoint = PypiEndpoint(reads, PypiPublisher(core.registry, core.settings.max_upload_bytes),
                            resolver, core.uploads, core.blobs, core.catalog)
    json_api = JsonApi(reads, core.catalog, core.settings.public_url,
                       core.registry.later_digests, resolver)
    prefix = "/{label}/pypi/{repo}"
    return MountedFormat(hot_path=reads.hot_path(FORMAT, pypi_hot_route),
                         first_read=reads.first_reads(
                             FORMAT, pypi_hot_route, endpoint.first_read,
                             lambda error, scope: Answer.of(to_response(error, scope)),
                             {"page": "project_page", "file": "file"},
                             endpoint.first_read_now), routes=[
        # twine may post to the endpoint without its trailing slash, which no Mount matches.
        Route(prefix, endpoint.upload, methods=["POST"], middleware=[ERRORS]),
        # Errors become pip's and twine's answers in one place (errors.py), for every route.
        Mount(prefix, middleware=[ERRORS], routes=[
            Route("/", endpoint.upload, methods=["POST"]),
            Route("/legacy/", endpoint.upload, methods=["POST"]),
            Route("/simple/", endpoint.index, methods=["GET", "HEAD"]),
            Route("/simple/{project}/", endpoint.project, methods=["GET", "HEAD"]),
            Route("/simple/{project}", endpoint.project, methods=["GET", "HEAD"]),
            Route("/simple/{project}/{filename}", endpoint.file, methods=["GET", "HEAD"]),
            Route("/{project}/{version}/", release_page, methods=["GET", "HEAD"]),
            Route("/", not_an_index, methods=["GET", "HEAD"]),
            Route("/{project}/", not_an_index, methods=["GET", "HEAD"]),
            Route("/{project}", package_page, methods=["GET", "HEAD"]),
            Route("//{project}", package_page, methods=["GET", "HEAD"]),
            Route("/pypi/{project}/{version}/", legacy_release_page, methods=["GET", "HEAD"]),
            # PyPI's JSON API (json_routes.py).
            Route("/pypi/{project}/json", json_api.project, methods=["GET", "HEAD"]),
            Route("/pypi/{project}/{version}/json", json_api.release, methods=["GET", "HEAD"]),
        ]),
    ])
