"""PyPI's JSON API under a repository endpoint: ``<endpoint>pypi/NAME/json`` and
``<endpoint>pypi/NAME/VERSION/json`` (the paths PyPI serves under its root), for tools such as
Renovate and dependency bots.

Authorized as the Simple API is (ReadFromRepository with the repository's token), a name that
is not normalized answers 301 to the normalized one (after authorization, so no names leak),
and a project or release the repository does not list answers 404. The documents list what
the Simple page lists (``json_api.py`` decides which: Published, and Unlisted as yanked): in a
repository with upstreams, the page's own merge (``merged_project``), so a project only an
upstream offers has its documents, and a kept file the upstream has yanked shows yanked. They
are rendered from one catalog read (and the merge) and cached through ``PackageReads`` like the
Simple pages, so a publish, status change, disposal or
deletion shows in the next answer, in every worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from packyard.errors import NotFound
from packyard.formats.pypi import attributes
from packyard.formats.pypi.dependencies import requirement_texts
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
from packyard.formats.pypi.release_info import kept_info, project_urls, text, texts
from packyard.http.request import base_url
from packyard.metadata.catalog import Catalog
from packyard.model import IndexEntry, Package, PackageVersion, Repository
from packyard.services.access import RepositoryAccess
from packyard.services.answers import RenderedPage
from packyard.services.reads import PackageReads
from packyard.upstream.later_digests import LaterDigests
from packyard.upstream.merge import LISTED, MergedFile, MergedProject
from packyard.upstream.resolver import Place, UpstreamResolver

MEDIA_TYPE = "application/json"

# A project as one repository holds it (``Catalog.project_index``).
Found = tuple[Package, list[PackageVersion], list[IndexEntry]]


@dataclass(frozen=True)
class JsonPage(RenderedPage):
    """A rendered document with the project's serial, for ``X-PyPI-Last-Serial``."""

    last_serial: int = 0


class JsonApi:
    """The two JSON API routes, on the reads service and the catalog."""

    def __init__(self, reads: PackageReads, catalog: Catalog, public_url: str | None,
                 later: LaterDigests, resolver: UpstreamResolver) -> None:
        self._reads = reads
        self._resolver = resolver
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
            lambda: self._render(access, endpoint, normalized, version))
        response = self._reads.page_response(request, page)
        if isinstance(page, JsonPage):
            response.headers[LAST_SERIAL_HEADER] = str(page.last_serial)
        return response

    async def _render(self, access: RepositoryAccess, endpoint: str, name: str,
                      version: str | None) -> RenderedPage:
        repository = access.repository
        merges, found = await run_in_threadpool(self._read, access, name)
        if found is not None:
            missing = {(repository.domain_id, e.asset.sha256) for e in found[2]
                       if not e.asset.digests_complete}
            if missing and await self._later.fill_now(missing):
                # A pulled file's MD5 and BLAKE2b, not filled in yet: filled in now, and read
                # again.
                found = await run_in_threadpool(self._catalog.project_index, repository.id,
                                                FORMAT, name)
        files_url = f"{endpoint}simple/{quote(name)}/"
        # ``<endpoint>NAME/VERSION/`` is the release's page (``routes.release_page``: the
        # console's), as PyPI's release_url is its release page; under ``files_url`` a
        # version is no file (404).
        release_pages = f"{endpoint}{quote(name)}/"
        revalidate_at = None
        if merges:
            # What the Simple page lists (the same merge, the same authorization: this
            # request's), so that a project only an upstream offers has its documents too.
            merged = await self._resolver.merged_listing(access.domain, repository, name)
            held = await run_in_threadpool(self._held, merged.project, repository, name,
                                          found)
            document = (await run_in_threadpool(merged_project, name, merged.project, held,
                                                files_url)
                        if merged.project.is_large else
                        merged_project(name, merged.project, held, files_url))
            document = replace(document, release_pages=release_pages)
            revalidate_at = merged.revalidate_at
        elif found is None:
            raise NotFound(f"No project {name} in this repository")
        else:
            package, versions, entries = found
            document = JsonProject(name=package.display_name,
                                   releases=_releases(versions, entries, files_url),
                                   last_serial=package.last_serial, project_url=files_url,
                                   release_pages=release_pages)
        body = (render_project_json(document) if version is None
                else render_release_json(document, version))
        if body is None:
            raise NotFound(f"No release {version} of {name} in this repository"
                           if version is not None else
                           f"No listed release of {name} in this repository")
        page = RenderedPage.of(body, MEDIA_TYPE)
        return JsonPage(page.body, page.media_type, page.digest, revalidate_at=revalidate_at,
                        last_serial=document.last_serial)

    def _read(self, access: RepositoryAccess, name: str) -> tuple[bool, Found | None]:
        """Whether the repository's pages merge upstreams, and what it holds of ``name``
        (worker thread)."""
        return (self._resolver.has_upstreams(access.domain, access.repository),
                self._catalog.project_index(access.repository.id, FORMAT, name))

    def _held(self, merged: MergedProject[Place], repository: Repository, name: str,
              own: Found | None) -> dict[int, Found]:
        """What each repository deciding a listed version holds of the project, by id: their
        versions' metadata and files (worker thread)."""
        held: dict[int, Found] = {} if own is None else {repository.id: own}
        for offered, place in merged.claims.values():
            step = place.step
            if step.is_external or step.repository_id in held or offered.status not in LISTED:
                continue
            found = self._catalog.project_index(step.repository_id, FORMAT, name)
            if found is not None:
                held[step.repository_id] = found
        return held


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
    """What the catalog keeps of a release's core metadata (the Requires-Dist entries whole
    when the version keeps them, ``dependencies.py``; a version stored before has them
    without their markers and extras; the other fields ``info`` shows as ``release_info.py``
    keeps them, and for a version stored before those were kept, only its license and source
    URL)."""
    requires_python = next((attributes.requires_python(e.asset.attributes) for e in entries
                            if attributes.requires_python(e.asset.attributes)), None)
    licenses = [item["name"] for item in version.licenses if item.get("name")]
    base = ReleaseMetadata(
        summary=version.summary, description=version.readme,
        description_content_type=version.readme_content_type,
        license=", ".join(licenses) or None, home_page=version.home_page,
        project_urls=({"Source": version.source_code_repository}
                      if version.source_code_repository else {}),
        requires_dist=list(requirement_texts(version.attributes, len(version.dependencies))
                           or [f"{d['package']}{d.get('versionRequirement', '')}"
                               for d in version.dependencies if d.get("package")]),
        requires_python=requires_python)
    info = kept_info(version.attributes)
    if info is None:
        return base
    return replace(
        base, author=text(info, "author"), author_email=text(info, "author_email"),
        maintainer=text(info, "maintainer"), maintainer_email=text(info, "maintainer_email"),
        keywords=text(info, "keywords"), license=text(info, "license"),
        license_expression=text(info, "license_expression"),
        license_files=texts(info, "license_files"), classifiers=texts(info, "classifiers"),
        platform=text(info, "platform"), download_url=text(info, "download_url"),
        project_urls=project_urls(info, text(info, "home_page")),
        provides_extra=texts(info, "provides_extra"), dynamic=texts(info, "dynamic"))


def merged_project(name: str, merged: MergedProject[Place], held: Mapping[int, Found],
                   files_url: str) -> JsonProject:
    """The project as the Simple page merges it (``upstream/merge.py``): its listed versions,
    each from the place that decides it, with the files the page lists and their yanks.

    A version a repository of the domain holds has the metadata it keeps (``held``, by
    repository id); one only an upstream offers has what the page knows of it (its files'
    Requires-Python), nothing more. A file the requesting repository holds has all its
    digests; one only an upstream offers has the digests its page declares."""
    own_files = {e.asset.name: e for _, _, entries in held.values() for e in entries}
    kept = {(repository_id, v.version_key): v for repository_id, (_, versions, _)
            in held.items() for v in versions}
    by_version: dict[str, list[MergedFile[Place]]] = {}
    for merged_file in merged.files:
        by_version.setdefault(merged_file.file.version_key, []).append(merged_file)
    releases = []
    for key, (offered, place) in merged.claims.items():
        if offered.status not in LISTED:
            continue
        files = [_merged_file(m, own_files.get(m.file.filename), files_url)
                 for m in by_version.get(key, [])]
        version = (None if place.step.is_external
                   else kept.get((place.step.repository_id, key)))
        if version is not None:
            entries = [own_files[f.filename] for f in files if f.filename in own_files]
            metadata = _metadata(version, entries)
        else:
            metadata = ReleaseMetadata(requires_python=next(
                (f.requires_python for f in files if f.requires_python), None))
        # A release is yanked when every file of it is (PEP 592 yanks files; PyPI releases).
        yank = files[0].yanked if files and all(f.yanked for f in files) else False
        releases.append(JsonRelease(version=offered.version, status=offered.status,
                                    files=files, metadata=metadata, yanked=yank))
    packages = [package for package, _, _ in held.values()]
    # The serial moves with any kept copy's change and with an upstream's newer upload.
    uploads = [m.file.upload_time for m in merged.files if m.file.upload_time is not None]
    serials = [p.last_serial for p in packages] + [
        int(moment.timestamp() * 1_000_000) for moment in uploads]
    return JsonProject(name=packages[0].display_name if packages else name,
                       releases=releases, last_serial=max(serials, default=0),
                       project_url=files_url)


def _merged_file(merged: MergedFile[Place], own: IndexEntry | None,
                 files_url: str) -> JsonFile:
    offered = merged.file
    if own is not None and own.asset.sha256 == offered.sha256:
        # A kept copy: its own digests, with the page's upload time and yank.
        kept = _file(own, files_url)
        return replace(kept, upload_time=offered.upload_time or kept.upload_time,
                       yanked=merged.yanked)
    assert offered.sha256 is not None  # an upstream's file is listed with its sha256
    return JsonFile(filename=offered.filename, url=files_url + quote(offered.filename),
                    # An HTML-only upstream gives no size; 0 stands for "not known", as on
                    # the Simple page.
                    size=offered.size or 0, upload_time=offered.upload_time,
                    sha256=offered.sha256, md5=offered.digests.get("md5"),
                    blake2b_256=attributes.blake2_256(offered.attributes) or None,
                    requires_python=attributes.requires_python(offered.attributes),
                    metadata_sha256=attributes.metadata_sha256(offered.attributes),
                    yanked=merged.yanked)
