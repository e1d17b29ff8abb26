"""Resolution across a repository, its upstreams and their external connections (PyPI format).

A request to repository R is answered as CodeArtifact answers it ("Requesting a package version
with upstream repositories", "Requesting packages from external connections"):

- the project page lists what R holds and, where R's origin controls allow it, what its upstream
  repositories and their external connections offer, searched in priority order
  (``graph.search_steps``) and merged (``merge.merge_listings``);
- a file R does not hold is taken from the first place that offers it and kept: from another
  repository, a copy is recorded in R (the bytes are shared); from an external connection, it is
  downloaded once, verified, stored, and kept both in the repository that owns the connection
  and in R, with its original hashes and the connection as its origin. Repositories in between
  keep nothing, as CodeArtifact documents.

Reading R is all a caller is authorized for; Packyard reads the upstreams on R's behalf.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from packyard.clock import Clock
from packyard.errors import Invalid, NotFound, UpstreamError
from packyard.formats.pypi.archive import DistInspection, inspect_distribution
from packyard.formats.pypi.dependencies import package_dependencies
from packyard.formats.pypi.filenames import parse_distribution_filename
from packyard.formats.pypi.names import require_project_name
from packyard.formats.pypi.simple import IndexFile, ProjectPage, relative_file_url
from packyard.formats.registry import FormatPlugin
from packyard.metadata.catalog import Catalog, DomainGraph, EntryPoint, NewAsset, NewVersion
from packyard.model import Domain, Repository
from packyard.storage.blobs import BlobStore, Digests
from packyard.upstream.client import UpstreamHttp, host_of
from packyard.upstream.graph import SearchStep, search_steps
from packyard.upstream.index_page import UpstreamFile, UpstreamProject
from packyard.upstream.merge import (
    LISTED,
    Listing,
    MergedFile,
    MergedProject,
    OfferedFile,
    OfferedVersion,
    merge_listings,
)
from packyard.upstream.origin import takes_from_upstream
from packyard.upstream.pages import UpstreamPages
from packyard.upstream.pullthrough import FileSource, PullThrough, SpoolReader

log = logging.getLogger("packyard.upstream")

FORMAT = "pypi"
_MAX_METADATA_BYTES = 10 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024
# A domain's upstream links are read on every page and file request but change rarely; a
# change shows within this many seconds (the repository gate caches lookups as long).
_GRAPH_TTL_SECONDS = 2.0


@dataclass(frozen=True)
class Place:
    """A step of the search with what it offered: for an external step, the upstream's page."""

    step: SearchStep
    upstream: UpstreamProject | None = None
    index_url: str | None = None


@dataclass(frozen=True)
class StoredFile:
    """A file Packyard holds: serve it from the blob store."""

    blob_key: str
    sha256: str
    size: int


@dataclass(frozen=True)
class StreamingFile:
    """A file on its way from upstream: stream it from the download's spool."""

    reader: SpoolReader
    size: int | None


@dataclass(frozen=True)
class InlineFile:
    """Small verified bytes relayed from upstream (core metadata of a file not kept yet)."""

    data: bytes


Located = StoredFile | StreamingFile | InlineFile


@dataclass
class _Resolution:
    merged: MergedProject[Place]
    errors: list[UpstreamError] = field(default_factory=list)
    exists: bool = False  # some place has the project, even with nothing listed


@dataclass(frozen=True)
class _Plan:
    steps: list[SearchStep]
    graph: DomainGraph
    stored: dict[int, Listing[Place]]  # what each repository step holds of the project


class UpstreamResolver:
    """Answers project pages and file requests of a repository across its upstreams."""

    def __init__(self, catalog: Catalog, blobs: BlobStore, plugin: FormatPlugin,
                 pages: UpstreamPages, pull: PullThrough, http: UpstreamHttp,
                 connection_urls: Mapping[str, str], clock: Clock,
                 verify_before_send_bytes: int) -> None:
        self._catalog = catalog
        self._blobs = blobs
        self._plugin = plugin
        self._pages = pages
        self._pull = pull
        self._http = http
        self._urls = dict(connection_urls)
        self._clock = clock
        self._verify_before_send = verify_before_send_bytes
        self._graphs: dict[int, tuple[float, DomainGraph]] = {}
        self._graphs_lock = threading.Lock()

    # -- project pages -------------------------------------------------------------------------

    async def project_page(self, domain: Domain, repository: Repository,
                           project: str) -> ProjectPage:
        """The merged project page of ``project`` (PEP 503-normalized) in ``repository``."""
        require_project_name(project)
        plan = await run_in_threadpool(self._plan, domain, repository, project)
        resolution = await self._resolve(plan, project)
        if resolution.errors and not resolution.merged.files:
            raise resolution.errors[0]
        if not resolution.exists:
            raise NotFound(f"No project {project} in repository {repository.name}"
                           + (" or its upstreams" if len(plan.steps) > 1 else ""))
        files = [self._index_file(m) for m in resolution.merged.files]
        return ProjectPage(name=project, files=files, versions=resolution.merged.versions)

    @staticmethod
    def _index_file(merged: MergedFile[Place]) -> IndexFile:
        f = merged.file
        return IndexFile(filename=f.filename, url=relative_file_url(f.filename), sha256=f.sha256,
                         # An HTML-only upstream gives no size; 0 stands for "not known".
                         size=f.size or 0, upload_time=f.upload_time,
                         requires_python=f.requires_python, yanked=merged.yanked,
                         metadata_sha256=f.metadata_sha256)

    def _graph(self, domain_id: int) -> DomainGraph:
        now = time.monotonic()
        with self._graphs_lock:
            hit = self._graphs.get(domain_id)
        if hit is not None and now - hit[0] < _GRAPH_TTL_SECONDS:
            return hit[1]
        graph = self._catalog.domain_graph(domain_id)
        with self._graphs_lock:
            if len(self._graphs) > 1024:
                self._graphs.clear()
            self._graphs[domain_id] = (now, graph)
        return graph

    def _plan(self, domain: Domain, repository: Repository, project: str) -> _Plan:
        """Where to look, and what the repositories there hold (one worker-thread hop)."""
        graph = self._graph(domain.id)
        if not graph.upstreams.get(repository.id) and repository.id not in graph.external:
            steps = [SearchStep(repository.id)]
        else:
            held = self._catalog.packages_named(domain.id, FORMAT, "", project)
            external = {repo: name for repo, name in graph.external.items()
                        if name in self._urls}
            steps = search_steps(repository.id, graph.upstreams, external,
                                 lambda repo: takes_from_upstream(held.get(repo)))
        return _Plan(steps, graph, self._repository_listings(steps, project))

    async def _resolve(self, plan: _Plan, project: str) -> _Resolution:
        stored = plan.stored
        listings: list[Listing[Place]] = []
        errors: list[UpstreamError] = []
        exists = False
        for step in plan.steps:
            if not step.is_external:
                listing = stored.get(step.repository_id)
                if listing is not None:
                    exists = True
                    listings.append(listing)
                continue
            assert step.external_connection is not None
            index_url = self._urls[step.external_connection]
            try:
                result = await self._pages.project(index_url, project)
            except UpstreamError as exc:
                errors.append(exc)
                continue
            if result.project is not None:
                exists = True
                listings.append(_external_listing(Place(step, result.project, index_url)))
        merged = merge_listings(listings, self._plugin.version_sort_key)
        for error in errors:
            log.warning("resolving %s: %s", project, error.message)
        return _Resolution(merged, errors, exists)

    def _repository_listings(self, steps: list[SearchStep],
                             project: str) -> dict[int, Listing[Place]]:
        listings: dict[int, Listing[Place]] = {}
        for step in steps:
            if step.is_external:
                continue
            found = self._catalog.project_index(step.repository_id, FORMAT, project)
            if found is None:
                continue
            _, versions, entries = found
            keys = {v.version: v.version_key for v in versions}
            # A Deleted version is gone: an upstream may supply it again.
            offered = [OfferedVersion(v.version, v.version_key, v.status)
                       for v in versions if v.status != "Deleted"]
            files = [OfferedFile(e.asset.name, keys[e.version], e.asset.sha256, e.asset.size,
                                 e.asset.requires_python, False, e.asset.created_at,
                                 e.asset.metadata_sha256) for e in entries]
            listings[step.repository_id] = Listing(Place(step), offered, files)
        return listings

    # -- files ---------------------------------------------------------------------------------

    async def locate(self, domain: Domain, repository: Repository, project: str,
                     filename: str) -> Located:
        """Find (and pull through, if need be) a file or its ``.metadata`` for ``repository``."""
        require_project_name(project)
        own = await run_in_threadpool(self.find_own, domain, repository, project, filename)
        if own is not None:
            return own
        wants_metadata = filename.endswith(".metadata")
        dist_name = filename.removesuffix(".metadata") if wants_metadata else filename
        plan = await run_in_threadpool(self._plan, domain, repository, project)
        if len(plan.steps) == 1:
            raise NotFound(f"No file {filename} in project {project}")
        resolution = await self._resolve(plan, project)
        hit = resolution.merged.find(dist_name)
        if hit is None:
            if resolution.errors:
                raise resolution.errors[0]
            raise NotFound(f"No file {filename} in project {project} in repository "
                           f"{repository.name} or its upstreams")
        step = hit.source.step
        if not step.is_external:
            # Held by another repository of the domain: keep a reference in this one when the
            # file itself is asked for (a resolver reading metadata keeps nothing).
            if not wants_metadata:
                await run_in_threadpool(self._catalog.retain_from, step.repository_id, FORMAT,
                                        project, dist_name, [repository], self._clock.now())
            return self._stored(domain, hit.file.sha256, hit.file.size or 0,
                                hit.file.metadata_sha256, None, wants_metadata, filename)
        upstream = hit.source.upstream
        assert upstream is not None and hit.source.index_url is not None
        remote = next(f for f in upstream.files if f.filename == dist_name)
        hosts = frozenset({host_of(hit.source.index_url)}) | upstream.file_hosts()
        if wants_metadata:
            return InlineFile(await self._upstream_metadata(remote, hosts, filename))
        owner = await run_in_threadpool(self._catalog.get_repository, domain,
                                        plan.graph.names[step.repository_id])
        return await self._pull_through(domain, owner, repository, project, remote, hosts,
                                        step.external_connection or "")

    def find_own(self, domain: Domain, repository: Repository, project: str,
                 filename: str) -> StoredFile | None:
        """A listed file (or its ``.metadata``) that ``repository`` itself holds (worker thread)."""
        wants_metadata = filename.endswith(".metadata")
        dist_name = filename.removesuffix(".metadata") if wants_metadata else filename
        own = self._catalog.find_asset(repository.id, FORMAT, project, dist_name)
        if own is None or own[0].status not in LISTED:
            return None
        return self._stored(domain, own[1].sha256, own[1].size, own[1].metadata_sha256,
                            own[1].metadata_size, wants_metadata, filename)

    def _stored(self, domain: Domain, sha256: str, size: int, metadata_sha256: str | None,
                metadata_size: int | None, wants_metadata: bool, filename: str) -> StoredFile:
        if not wants_metadata:
            return StoredFile(domain.blob_key, sha256, size)
        if metadata_sha256 is None:
            raise NotFound(f"No core metadata file {filename}")
        return StoredFile(domain.blob_key, metadata_sha256,
                          metadata_size if metadata_size is not None
                          else self._blobs.size(domain.blob_key, metadata_sha256))

    async def _upstream_metadata(self, remote: UpstreamFile, hosts: frozenset[str],
                                 filename: str) -> bytes:
        if remote.metadata_sha256 is None:
            raise NotFound(f"No core metadata file {filename}")
        data = await self._http.fetch_bytes(remote.url + ".metadata", hosts, _MAX_METADATA_BYTES)
        if hashlib.sha256(data).hexdigest() != remote.metadata_sha256:
            raise UpstreamError(f"Upstream core metadata {filename} failed verification: its "
                                f"index page declares sha256 {remote.metadata_sha256}")
        return data

    async def _pull_through(self, domain: Domain, owner: Repository, requester: Repository,
                            project: str, remote: UpstreamFile, hosts: frozenset[str],
                            connection: str) -> Located:
        source = FileSource(remote.url, remote.filename, remote.sha256, remote.size, hosts)
        targets = [owner] if owner.id == requester.id else [owner, requester]
        started_before = self._pull.downloads_started

        def commit(spool: Path, digests: Digests) -> None:
            self._keep(domain, targets, project, remote, connection, spool, digests)

        download = self._pull.start(domain.blob_key, source, commit)
        if self._pull.downloads_started == started_before and owner.id != requester.id:
            # Joined a download started for another request (maybe another repository):
            # this repository keeps the file too, before its client gets the last byte.
            def retain() -> None:
                self._catalog.retain_from(owner.id, FORMAT, project, remote.filename,
                                          [requester], self._clock.now())

            if not download.add_followup(retain):
                await download.result()
                await run_in_threadpool(retain)
        if remote.size is not None and remote.size <= self._verify_before_send:
            await download.result()
            return StoredFile(domain.blob_key, remote.sha256, remote.size)
        reader = download.open_reader()
        if reader is None:
            digests = await download.result()
            return StoredFile(domain.blob_key, digests.sha256, digests.size)
        return StreamingFile(reader, remote.size)

    # -- keeping a pulled file (worker thread) -------------------------------------------------

    def _keep(self, domain: Domain, targets: list[Repository], project: str,
              remote: UpstreamFile, connection: str, spool: Path, digests: Digests) -> None:
        staged = self._blobs.stage()
        try:
            with spool.open("rb") as source:
                while chunk := source.read(_COPY_CHUNK):
                    staged.write(chunk)
            self._blobs.commit(staged, domain.blob_key)
        except BaseException:
            self._blobs.discard(staged)
            raise
        dist = parse_distribution_filename(remote.filename)
        inspection: DistInspection | None = None
        try:
            inspection = inspect_distribution(spool, dist)
        except Invalid as exc:
            log.warning("kept %s without its metadata: %s", remote.filename, exc.message)
        blob_sizes = {digests.sha256: digests.size}
        metadata_sha256 = metadata_size = None
        # PEP 658 metadata is served for wheels only: an sdist's PKG-INFO may be dynamic.
        if inspection is not None and dist.kind == "bdist_wheel":
            meta = self._blobs.put_bytes(inspection.metadata_bytes, domain.blob_key)
            metadata_sha256, metadata_size = meta.sha256, meta.size
            blob_sizes[meta.sha256] = meta.size
        display = inspection.name if inspection is not None and inspection.name else dist.project
        version = _new_version(remote, inspection)
        asset = NewAsset(name=remote.filename, size=digests.size, sha256=digests.sha256,
                         sha512=digests.sha512, sha1=digests.sha1, md5=digests.md5,
                         blake2_256=digests.blake2_256,
                         requires_python=remote.requires_python
                         or (inspection.requires_python if inspection else None),
                         metadata_sha256=metadata_sha256, metadata_size=metadata_size)
        kept = self._catalog.retain(targets, FORMAT, "", project, display, version, asset,
                                    EntryPoint("EXTERNAL", None, connection), blob_sizes,
                                    self._clock.now())
        log.info("kept %s in %s", remote.filename, ", ".join(r.name for r in kept) or "nothing")


def _external_listing(place: Place) -> Listing[Place]:
    assert place.upstream is not None
    versions: dict[str, OfferedVersion] = {}
    files = []
    for f in place.upstream.files:
        versions.setdefault(f.version_key, OfferedVersion(f.version, f.version_key, "Published"))
        files.append(OfferedFile(f.filename, f.version_key, f.sha256, f.size, f.requires_python,
                                 f.yanked, f.upload_time, f.metadata_sha256))
    return Listing(place, list(versions.values()), files)


def _new_version(remote: UpstreamFile, inspection: DistInspection | None) -> NewVersion:
    summary = home_page = readme = readme_type = None
    licenses: list[dict[str, str]] = []
    dependencies: list[dict[str, str]] = []
    if inspection is not None:
        summary, home_page = inspection.summary, inspection.home_page
        readme, readme_type = inspection.description, inspection.description_content_type
        license_text = (inspection.license or "").strip()
        if license_text and "\n" not in license_text and len(license_text) <= 200:
            licenses = [{"name": license_text}]
        dependencies = package_dependencies(inspection.requires_dist)
    return NewVersion(version=remote.version, version_key=remote.version_key, summary=summary,
                      home_page=home_page, source_code_repository=None, licenses=licenses,
                      readme=readme, readme_content_type=readme_type,
                      dependencies=dependencies, origin_type="EXTERNAL")

