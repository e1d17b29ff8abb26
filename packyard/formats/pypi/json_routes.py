"""PyPI's JSON API under a repository endpoint: ``<endpoint>pypi/NAME/json`` and
``<endpoint>pypi/NAME/VERSION/json`` (the paths PyPI serves under its root), for tools such as
Renovate and dependency bots.

Authorized as the Simple API is (ReadFromRepository with the repository's token), a name that
is not normalized answers 301 to the normalized one (after authorization, so no names leak),
and a project or release the repository does not list answers 404. The documents describe the
repository's own versions (``json_api.py`` decides which: Published, and Unlisted as yanked);
versions only an upstream holds are not in them. They are rendered from one catalog read and
cached through ``PackageReads`` like the Simple pages, so a publish, status change, disposal or
deletion shows in the next answer, in every worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from packyard.errors import NotFound
from packyard.formats.pypi import attributes
from packyard.formats.pypi.json_api import (
    LAST_SERIAL_HEADER,
    JsonFile,
    JsonProject,
    JsonRelease,
    ReleaseMetadata,
    render_project_json,
    render_release_json,
)
from packyard.formats.pypi.names import normalize_name, require_project_name
from packyard.formats.pypi.publish import FORMAT
from packyard.http.request import base_url
from packyard.metadata.catalog import Catalog
from packyard.model import IndexEntry, PackageVersion, Repository
from packyard.services.answers import RenderedPage
from packyard.services.reads import PackageReads
from packyard.upstream.later_digests import LaterDigests

MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class JsonPage(RenderedPage):
    """A rendered document with the project's serial, for ``X-PyPI-Last-Serial``."""

    last_serial: int = 0


class JsonApi:
    """The two JSON API routes, on the reads service and the catalog."""

    def __init__(self, reads: PackageReads, catalog: Catalog, public_url: str | None,
                 later: LaterDigests) -> None:
        self._reads = reads
        self._catalog = catalog
        self._public_url = public_url
        self._later = later

    async def project(self, request: Request) -> Response:
        return await self._answer(request, None)

    async def release(self, request: Request) -> Response:
        return await self._answer(request, request.path_params["version"])

    async def _answer(self, request: Request, version: str | None) -> Response:
        project = request.path_params["project"]
        access = await self._reads.open_read(request)
        normalized = normalize_name(project)
        if normalized != project:
            require_project_name(project)
            tail = "json" if version is None else f"{quote(version, safe='')}/json"
            base = request.url.path.rsplit("/pypi/", 1)[0]
            return RedirectResponse(f"{base}/pypi/{quote(normalized)}/{tail}", status_code=301)
        label, repo = request.path_params["label"], request.path_params["repo"]
        endpoint = f"{self._public_url or base_url(request)}/{label}/pypi/{repo}/"
        page = await self._reads.page(
            access, ("json", endpoint, normalized, version),
            lambda: self._render(access.repository, endpoint, normalized, version))
        response = self._reads.page_response(request, page)
        if isinstance(page, JsonPage):
            response.headers[LAST_SERIAL_HEADER] = str(page.last_serial)
        return response

    async def _render(self, repository: Repository, endpoint: str, name: str,
                      version: str | None) -> RenderedPage:
        found = await run_in_threadpool(self._catalog.project_index, repository.id, FORMAT,
                                        name)
        if found is None:
            raise NotFound(f"No project {name} in this repository")
        package, versions, entries = found
        missing = {(repository.domain_id, e.asset.sha256) for e in entries
                   if not e.asset.digests_complete}
        if missing and await self._later.fill_now(missing):
            # A pulled file's MD5 and BLAKE2b, not filled in yet: filled in now, and read
            # again.
            found = await run_in_threadpool(self._catalog.project_index, repository.id,
                                            FORMAT, name)
            if found is None:
                raise NotFound(f"No project {name} in this repository")
            package, versions, entries = found
        document = JsonProject(
            name=package.display_name,
            releases=_releases(versions, entries, f"{endpoint}simple/{quote(name)}/"),
            last_serial=package.last_serial,
            project_url=f"{endpoint}simple/{quote(name)}/")
        body = (render_project_json(document) if version is None
                else render_release_json(document, version))
        if body is None:
            raise NotFound(f"No release {version} of {name} in this repository"
                           if version is not None else
                           f"No listed release of {name} in this repository")
        page = RenderedPage.of(body, MEDIA_TYPE)
        return JsonPage(page.body, page.media_type, page.digest, last_serial=package.last_serial)


def _releases(versions: Sequence[PackageVersion], entries: Sequence[IndexEntry],
              files_url: str) -> list[JsonRelease]:
    files: dict[str, list[IndexEntry]] = {}
    for entry in entries:
        files.setdefault(entry.version, []).append(entry)
    return [JsonRelease(version=v.version, status=v.status,
                        files=[_file(e, files_url) for e in files.get(v.version, [])],
                        metadata=_metadata(v, files.get(v.version, [])))
            for v in versions]


def _file(entry: IndexEntry, files_url: str) -> JsonFile:
    asset = entry.asset
    return JsonFile(filename=asset.name, url=files_url + quote(asset.name),
                    size=asset.size, upload_time=asset.created_at, sha256=asset.sha256,
                    md5=asset.md5, blake2b_256=attributes.blake2_256(asset.attributes) or None,
                    requires_python=attributes.requires_python(asset.attributes),
                    metadata_sha256=attributes.metadata_sha256(asset.attributes))


def _metadata(version: PackageVersion, entries: Sequence[IndexEntry]) -> ReleaseMetadata:
    """What the catalog keeps of a release's core metadata (the Requires-Dist entries without
    their markers and extras, which it does not keep)."""
    requires_python = next((attributes.requires_python(e.asset.attributes) for e in entries
                            if attributes.requires_python(e.asset.attributes)), None)
    licenses = [item["name"] for item in version.licenses if item.get("name")]
    return ReleaseMetadata(
        summary=version.summary, description=version.readme,
        description_content_type=version.readme_content_type,
        license=", ".join(licenses) or None, home_page=version.home_page,
        project_urls=({"Source": version.source_code_repository}
                      if version.source_code_repository else {}),
        requires_dist=[f"{d['package']}{d.get('versionRequirement', '')}"
                       for d in version.dependencies if d.get("package")],
        requires_python=requires_python)
