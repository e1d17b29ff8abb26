"""Resolution across a repository, its upstreams and their external connections, for any format.

A request to repository R is answered as CodeArtifact answers it ("Requesting a package version
with upstream repositories", "Requesting packages from external connections"):

- a package's listing holds what R has and, where R's origin controls allow it, what its
  upstream repositories and their external connections offer, searched in priority order
  (``graph.search_steps``) and merged (``merge.merge_listings``);
- a file R does not hold is taken from the first place that offers it and kept: from another
  repository, a copy is recorded in R (the bytes are shared); from an external connection, it is
  downloaded once, verified, stored, and kept both in the repository that owns the connection
  and in R, with its original hashes and the connection as its origin. Repositories in between
  keep nothing, as CodeArtifact documents.

Reading R is all a caller is authorized for; Packyard reads the upstreams on R's behalf. What a
document, a file name or a kept file means is the format's (``FormatUpstream``); one resolver
serves one format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import httpx
from starlette.concurrency import run_in_threadpool

from packyard.clock import Clock
from packyard.errors import NotFound, UpstreamError
from packyard.metadata.catalog import Catalog, DomainGraph, EntryPoint, ListedFile
from packyard.metadata.point_reads import MISSING, Missing, WouldWait
from packyard.model import Asset, Domain, IndexEntry, Package, PackageVersion, Repository
from packyard.package_groups.origin_controls import OriginDecision
from packyard.storage.blobs import BlobStore, Digests, StagedBlob
from packyard.thread_hop import ThreadHop
from packyard.ttl_cache import TtlCache
from packyard.upstream.byte_ranges import (
    WHOLE_FILE,
    ByteRange,
    FileRequest,
    parse_content_range,
    unsatisfied_size,
)
from packyard.upstream.client import UpstreamHttp, host_of
from packyard.upstream.documents import Loaded, UpstreamDocuments
from packyard.upstream.format import FormatUpstream, UpstreamListing
from packyard.upstream.graph import SearchStep, search_steps
from packyard.upstream.group_origins import DomainGroups, allowed_steps
from packyard.upstream.later_digests import LaterDigests
from packyard.upstream.merge import (
    LISTED,
    Listing,
    MergedProject,
    OfferedFile,
    OfferedVersion,
    are_large,
    merge_listings,
)
from packyard.upstream.origin import takes_from_upstream
from packyard.upstream.pullthrough import FileSource, Finish, PullThrough, SpoolReader

log = logging.getLogger("packyard.upstream")
# How long a pull's commit waits for what the upstream serves beside the file (PyPI's PEP 658
# file) before it verifies the file in a hop of its own instead of in the keeping's: a file
# that does not match is refused without waiting for a slow one, and one a moment behind the
# file costs no extra hop (40 small cold pulls, 8 at a time, from a local index: without the
# wait 10 took the extra hop, 40 with --workers 2, its fetch starting at the commit; with it,
# 0 and 1).
_COMPANION_GRACE_SECONDS = 0.05
# How long a verified file waits for that companion before it is kept without it (PyPI: the
# core metadata read from the wheel itself): an upstream slow to send its PEP 658 file must
# not hold the client's download (a small file is kept before it is answered) up to the
# document timeout.
_COMPANION_WAIT_SECONDS = 2.0
# A name no blob has, looked up only to learn whether the blob store answers (as /ready does).
_NO_BLOB = "0" * 64

# As the domain graph's: a group change made by another process shows within this long.
_GROUPS_TTL_SECONDS = 2.0
# A merged listing is kept while the catalog is unchanged (here, or announced by another
# process) and its upstream documents are the same; this is the backstop for a change nobody
# announced, as for pages (``services/reads.py``).
_MERGED_TTL_SECONDS = 300.0
# Merged listings kept (each with what the formats rendered of it), and what the upstream
# documents they hold may weigh together (their encoded length, as ``documents.py`` counts them:
# a merge holds its documents in memory even after the document cache has let them go).
_MERGED_ENTRIES = 2048
_MERGED_WEIGHT = 32 * 1024 * 1024
# The largest range of a file not kept that is read from the upstream for a client; a larger
# one is answered from a pull, as a download is. A forwarded range is read whole before it is
# answered so that a client reading slowly holds no upstream connection and slot (16 of them
# could otherwise stop every pull-through); the client's answer is held in memory, so bounded.
# uv's and poetry's reads of a wheel's zip directory and METADATA are tens of KiB.
MAX_FORWARDED_RANGE = 1024 * 1024
# The revalidation time of a listing merged from no upstream document.
NEVER = datetime.max.replace(tzinfo=UTC)

T = TypeVar("T")


@dataclass(frozen=True)
class Place:
    """A step of the search with what it offered: for an external step, the upstream's
    listing."""

    step: SearchStep
    upstream: UpstreamListing | None = None
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
    """Small verified bytes relayed from upstream (a derived file of one not kept yet)."""

    data: bytes


@dataclass(frozen=True)
class UpstreamFileHead:
    """A file only an upstream has, as its document describes it: a HEAD's answer (nothing is
    fetched or kept for a HEAD)."""

    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class UpstreamRange:
    """Part of a file only an upstream has, read from it for a Range request and kept nowhere:
    ``data`` is ``[start, end)`` of ``size`` bytes (None: the upstream did not say), read whole
    before it is answered (at most ``MAX_FORWARDED_RANGE``), so the upstream's connection and
    its concurrency slot are free again however slowly the client reads it."""

    start: int
    end: int
    size: int | None
    sha256: str | None
    data: bytes


@dataclass(frozen=True)
class RangeNotSatisfiable:
    """A range past the end of a file only an upstream has (a 416 with its ``size``, when
    known)."""

    size: int | None


Located = (StoredFile | StreamingFile | InlineFile | UpstreamFileHead | UpstreamRange
           | RangeNotSatisfiable)


@dataclass(frozen=True)
class _Plan:
    steps: list[SearchStep]
    graph: DomainGraph
    stored: dict[int, Listing[Place]]  # what each repository step holds of the package
    # When it was read (``time.monotonic``): the kept merges' backstop counts from it.
    read_at: float
    # The package's rows in every repository of the domain as the plan read them, by
    # repository id (``Catalog.packages_named``); None for a repository without upstreams.
    packages: dict[int, Package] | None = None


@dataclass
class _Resolution:
    merged: MergedProject[Place]
    errors: list[UpstreamError] = field(default_factory=list)
    exists: bool = False  # some place has the package, even with nothing listed


@dataclass
class _Gathered:
    """What each place of a plan offers, before the merge."""

    listings: list[Listing[Place]]
    # Each external step's document as the document cache holds it (the same object until the
    # document changes), in search order.
    documents: list[UpstreamListing | None]
    errors: list[UpstreamError]
    exists: bool
    revalidate_at: datetime  # when the first of the documents is due for revalidation


@dataclass(frozen=True)
class MergedListing:
    """A package's listing in a repository merged with its upstreams, as ``merged_listing``
    keeps it: the same ``project`` (and ``renders``) for as long as what it was merged from is
    unchanged, so that a format renders it once."""

    project: MergedProject[Place]
    # When the first upstream document it was merged from is due for revalidation
    # (``UpstreamDocuments``; past when one was served stale); ``NEVER`` when there is none.
    # A page rendered from it is good until then, or until the catalog changes.
    revalidate_at: datetime
    # What formats rendered of ``project``, by their own keys (``rendered``).
    renders: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def rendered(self, key: Hashable, render: Callable[[MergedProject[Place]], T]) -> T:
        """``render(project)``, made once per merge for each ``key`` (a page's name and
        media type): two callers at once may both render, either result is the same."""
        found = self.renders.get(key)
        if found is None:
            found = self.renders[key] = render(self.project)
        return found


@dataclass(frozen=True)
class _Kept:
    """A merged listing with what it was merged from: the plan (good while the catalog's
    stamp is, or while the package's rows are: ``_plan_again``) and each external step's
    document, held so that identity compares them."""

    plan: _Plan
    documents: tuple[UpstreamListing | None, ...]
    merged: MergedListing

    def weight(self) -> int:
        return sum(d.weight for d in self.documents if d is not None)


class UpstreamResolver:
    """Answers a format's package listings and file requests of a repository across its
    upstreams."""

    def __init__(self, fmt: FormatUpstream, catalog: Catalog, blobs: BlobStore,
                 documents: UpstreamDocuments, pull: PullThrough, http: UpstreamHttp,
                 connection_urls: Mapping[str, str], clock: Clock,
                 verify_before_send_bytes: int, graphs: TtlCache[int, DomainGraph],
                 later: LaterDigests, kept: Callable[[], None] = lambda: None) -> None:
        self._format = fmt
        self._fmt = fmt.format
        self._catalog = catalog
        self._blobs = blobs
        self._documents = documents
        self._pull = pull
        self._http = http
        self._urls = dict(connection_urls)
        self._clock = clock
        self._verify_before_send = verify_before_send_bytes
        self._graphs = graphs
        self._later = later
        self._kept = kept  # told on the event loop of each pulled file kept
        # Bound to the writes that can change groups (not a pulled file kept).
        self._groups: TtlCache[int, DomainGroups] = TtlCache(
            ttl_seconds=_GROUPS_TTL_SECONDS, max_entries=1024,
            version=catalog.changes.structure_stamp)
        # The first read of each page plans here: a lighter hop than anyio's (thread_hop.py).
        self._threads = ThreadHop()
        # Each package's merged listing per repository, kept while the catalog is unchanged
        # (a write may change what any repository of the chain holds, or the origin controls).
        self._merged: TtlCache[tuple[int, str, str], _Kept] = TtlCache(
            ttl_seconds=_MERGED_TTL_SECONDS, max_entries=_MERGED_ENTRIES,
            version=catalog.changes.stamp, weigh=_Kept.weight, max_weight=_MERGED_WEIGHT)
        # The same merges across writes that only keep pulled files (a cold install keeps one
        # every few milliseconds, and each moved the stamp above): taken again only while the
        # package's own rows are the ones the plan read (``_plan_again``).
        self._settled: TtlCache[tuple[int, str, str], _Kept] = TtlCache(
            ttl_seconds=_MERGED_TTL_SECONDS, max_entries=_MERGED_ENTRIES,
            version=catalog.changes.structure_stamp, weigh=_Kept.weight,
            max_weight=_MERGED_WEIGHT)
        self.rechecks = 0  # merges taken again after checking the package's rows (tests)
        # The repositories owning external connections, where pulled files are kept: rows
        # only a structural write changes (not a pulled file kept).
        self._owners: TtlCache[tuple[int, str], Repository] = TtlCache(
            ttl_seconds=_GROUPS_TTL_SECONDS, max_entries=1024,
            version=catalog.changes.structure_stamp)
        self.merges = 0  # listings merged (tests and logs)

    # -- listings ------------------------------------------------------------------------------

    async def listing(self, domain: Domain, repository: Repository, name: str,
                      namespace: str = "") -> MergedProject[Place]:
        """Package ``name`` (normalized) in ``repository``, merged with its upstreams."""
        return (await self.merged_listing(domain, repository, name, namespace)).project

    async def merged_listing(self, domain: Domain, repository: Repository, name: str,
                             namespace: str = "") -> MergedListing:
        """``listing``, with when it is next due for revalidation; the same merge while the
        catalog is unchanged and each upstream document is the one it was merged from (each
        is still fetched and revalidated on its own schedule, ``UpstreamDocuments``)."""
        self._format.check_name(name)
        key = (repository.id, namespace, name)
        stamp = self._merged.version()
        structure = self._settled.version()
        kept = self._merged.get(key)
        loaded: dict[str, Loaded] = {}  # documents read with the plan
        if kept is not None:
            # The plan reads only the catalog: while its stamp is the same, so is the plan.
            plan = kept.plan
        else:
            settled = self._settled.get(key)
            plan, loaded = await self._threads.run(self._plan_with_documents, domain,
                                                   repository, namespace, name, settled)
            if settled is not None and plan is settled.plan:
                kept = settled
                self.rechecks += 1
                self._merged.put(key, kept, version=stamp, since=plan.read_at)
        gathered = await self._gather(plan, self._format.document_name(namespace, name), loaded)
        documents = tuple(gathered.documents)
        if kept is not None and _same(kept.documents, documents) and not gathered.errors:
            if kept.merged.revalidate_at == gathered.revalidate_at:
                return kept.merged
            # Revalidated, unchanged: the same merge (and renders), due again later.
            merged = replace(kept.merged, revalidate_at=gathered.revalidate_at)
            self._remember(key, _Kept(plan, documents, merged), stamp, structure)
            return merged
        self.merges += 1
        if are_large(gathered.listings):
            project = await self._threads.run(merge_listings, gathered.listings,
                                              self._format.version_sort_key)
        else:
            project = merge_listings(gathered.listings, self._format.version_sort_key)
        if gathered.errors and not project.files:
            raise gathered.errors[0]
        if not gathered.exists:
            shown = self._format.document_name(namespace, name)  # npm: with its @scope
            raise NotFound(f"No {self._format.noun} {shown} in repository {repository.name}"
                           + (" or its upstreams" if len(plan.steps) > 1 else ""))
        merged = MergedListing(project, gathered.revalidate_at)
        if not gathered.errors:
            # An upstream that failed with no copy to serve is asked again next time.
            self._remember(key, _Kept(plan, documents, merged), stamp, structure)
        return merged

    def _remember(self, key: tuple[int, str, str], kept: _Kept, stamp: int | None,
                  structure: int | None) -> None:
        self._merged.put(key, kept, version=stamp, since=kept.plan.read_at)
        if kept.plan.packages is not None:
            self._settled.put(key, kept, version=structure, since=kept.plan.read_at)

    def _plan_with_documents(self, domain: Domain, repository: Repository, namespace: str,
                             name: str, settled: _Kept | None
                             ) -> tuple[_Plan, dict[str, Loaded]]:
        """``_plan_again``, and the upstream documents its steps will ask for that are not in
        memory, read from the catalog (by index URL): one worker-thread hop and one read
        transaction for the first read of a page (worker thread)."""
        with self._catalog.shared_read():
            plan = self._plan_again(domain, repository, namespace, name, settled)
            document = self._format.document_name(namespace, name)
            loaded: dict[str, Loaded] = {}
            for step in plan.steps:
                if step.external_connection is not None:
                    index_url = self._urls[step.external_connection]
                    ahead = self._documents.load_ahead(index_url, document)
                    if ahead is not None:
                        loaded[index_url] = ahead
        return plan, loaded

    def _plan_again(self, domain: Domain, repository: Repository, namespace: str, name: str,
                    settled: _Kept | None) -> _Plan:
        """``settled``'s plan when none of the catalog's writes since can have changed it,
        else ``_plan`` (worker thread). ``settled`` is bound to the structure stamp: no write
        since changed upstreams, groups, origin controls or repositories (only pulled files
        were kept). Its plan stands if the package's rows in the domain are the ones it read
        (one query): every write to a package's versions, files or tags raises its row's
        ``last_serial``, in whichever process it ran, and another package's kept file leaves
        them as they were."""
        if settled is None or settled.plan.packages is None:
            return self._plan(domain, repository, namespace, name)
        with self._catalog.shared_read():
            rows = self._catalog.packages_named(domain.id, self._fmt, namespace, name)
            if rows == settled.plan.packages:
                return settled.plan
            return self._plan(domain, repository, namespace, name, rows)

    async def external_url(self, domain: Domain, repository: Repository,
                           connection: str) -> str | None:
        """Where ``connection`` is, when ``repository`` reaches it (itself, or through its
        upstreams); None when it does not."""
        if connection not in self._urls:
            return None
        graph = await run_in_threadpool(self._graph, domain.id)
        steps = search_steps(repository.id, graph.upstreams, dict(graph.external),
                             lambda _repo: True)
        if any(step.external_connection == connection for step in steps):
            return self._urls[connection]
        return None

    def withheld_from(self, domain: Domain, repository: Repository, connection: str,
                      names: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (namespace, name) pairs a request to ``repository`` would never ask
        ``connection`` about: its search for them does not reach the connection, or origin
        controls (the packages' own, their groups') leave that step out, as ``_plan`` does
        (worker thread). What is sent there on a client's behalf besides a package request
        (npm audit's queries) names only the others: an internal name kept from the public
        registry is not told to it that way either."""
        graph = self._graph(domain.id)
        external = {repo: name for repo, name in graph.external.items() if name == connection}
        withheld: set[tuple[str, str]] = set()
        with self._catalog.shared_read():
            for namespace, name in names:
                packages = self._catalog.packages_named(domain.id, self._fmt, namespace, name)
                steps, _ = self._steps(domain, repository, graph, external, namespace, name,
                                       packages)
                if not any(step.external_connection == connection for step in steps):
                    withheld.add((namespace, name))
        return withheld

    def _graph(self, domain_id: int) -> DomainGraph:
        return self._graphs.get_or_load(domain_id,
                                        lambda: self._catalog.domain_graph(domain_id))

    def _plan(self, domain: Domain, repository: Repository, namespace: str, name: str,
              packages: Mapping[int, Package] | None = None) -> _Plan:
        """Where to look, and what the repositories there hold (one worker-thread hop);
        ``packages``: the package's rows in the domain, just read (``packages_named``)."""
        read_at = time.monotonic()
        graph = self._graph(domain.id)
        if not graph.upstreams.get(repository.id) and repository.id not in graph.external:
            steps = [SearchStep(repository.id)]
            return _Plan(steps, graph, self._repository_listings(steps, namespace, name),
                         read_at)
        # The package in every repository of the domain, with its versions and files: one
        # read for the origin controls and for what each repository step holds.
        indexes = self._catalog.domain_project_indexes(domain.id, self._fmt, namespace, name,
                                                       packages)
        external = {repo: connection for repo, connection in graph.external.items()
                    if connection in self._urls}
        held = {repo: package for repo, (package, _, _) in indexes.items()}
        steps, refused = self._steps(domain, repository, graph, external, namespace, name, held)
        for decision in refused:
            log.info("not searching upstream for %s into %s: %s", name, repository.name,
                     decision.reason)
        return _Plan(steps, graph, self._repository_listings(steps, namespace, name, indexes),
                     read_at, held)

    def _steps(self, domain: Domain, repository: Repository, graph: DomainGraph,
               external: Mapping[int, str], namespace: str, name: str,
               packages: Mapping[int, Package]) -> tuple[list[SearchStep], list[OriginDecision]]:
        """The steps a request for the package in ``repository`` takes, as its origin controls
        (each repository's own copy of the package, ``packages`` by repository id) and its
        package group let it, and the group's decisions that left steps out: one rule for the
        requests themselves (``_plan``) and for what is told an upstream besides
        (``withheld_from``)."""
        steps = search_steps(repository.id, graph.upstreams, external,
                             lambda repo: takes_from_upstream(packages.get(repo)))
        return allowed_steps(steps, repository.id, graph.names,
                             self._domain_groups(domain).deciding(self._fmt, namespace, name))

    def _domain_groups(self, domain: Domain) -> DomainGroups:
        """The domain's package groups: a change made in this process applies to the next
        request (the cache is bound to the catalog's writes), one made elsewhere within
        ``_GROUPS_TTL_SECONDS``."""
        return self._groups.get_or_load(domain.id, lambda: DomainGroups(
            {record.parsed: record.configuration
             for record in self._catalog.list_package_groups(domain)}))

    async def _resolve(self, plan: _Plan, document: str) -> _Resolution:
        gathered = await self._gather(plan, document)
        merged = merge_listings(gathered.listings, self._format.version_sort_key)
        return _Resolution(merged, gathered.errors, gathered.exists)

    async def _gather(self, plan: _Plan, document: str,
                      loaded: Mapping[str, Loaded] | None = None) -> _Gathered:
        """What each step of ``plan`` offers: the repositories' listings as planned, the
        external connections' documents from the document cache (``loaded``: those read
        with the plan, by index URL)."""
        stored = plan.stored
        listings: list[Listing[Place]] = []
        documents: list[UpstreamListing | None] = []
        errors: list[UpstreamError] = []
        exists = False
        revalidate_at = NEVER
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
                result = await self._documents.get(
                    index_url, document, loaded.get(index_url) if loaded is not None else None)
            except UpstreamError as exc:
                errors.append(exc)
                continue
            documents.append(result.listing)
            revalidate_at = min(revalidate_at, self._documents.revalidate_at(result))
            if result.listing is not None:
                exists = True
                upstream = result.listing
                listings.append(Listing(Place(step, upstream, index_url), upstream.versions,
                                        upstream.files, upstream.tags, from_upstream=True))
        for error in errors:
            log.warning("resolving %s: %s", document, error.message)
        return _Gathered(listings, documents, errors, exists, revalidate_at)

    def _repository_listings(self, steps: list[SearchStep], namespace: str, name: str,
                             indexes: Mapping[int, tuple[Package, list[PackageVersion],
                                                         list[IndexEntry]]] | None = None
                             ) -> dict[int, Listing[Place]]:
        """What each repository step holds; from ``indexes`` (``domain_project_indexes``)
        when read already."""
        listings: dict[int, Listing[Place]] = {}
        for step in steps:
            if step.is_external:
                continue
            found = (indexes.get(step.repository_id) if indexes is not None else
                     self._catalog.project_index(step.repository_id, self._fmt, name, namespace))
            if found is None:
                continue
            package, versions, entries = found
            tags: dict[str, str] = {}
            if self._format.has_tags:
                by_key = {v.version_key: v.version for v in versions}
                tags = {tag: by_key[key] for tag, key in
                        self._catalog.package_tags(package.id).items() if key in by_key}
            listings[step.repository_id] = stored_listing(self._format, Place(step), name,
                                                          versions, entries, tags,
                                                          package.last_serial)
        return listings

    def has_upstreams(self, domain: Domain, repository: Repository) -> bool:
        """Whether ``repository`` reads from upstream repositories or an external connection
        (its pages are merged with theirs); may load the domain's graph (worker thread)."""
        return _reads_upstreams(self._graph(domain.id), repository)

    def stands_alone_now(self, domain: Domain, repository: Repository) -> bool:
        """Whether ``repository`` has no upstreams by its domain's graph, as cached or read
        on the caller's thread where that never waits (``_graph_now``); False when it would
        wait (the caller's worker thread loads it). The graph expires 2 s after it was read, so
        the first pages of every install more than that after the last would each have gone to
        a worker."""
        graph = self._graph_now(domain)
        return graph is not None and not _reads_upstreams(graph, repository)

    def merges_upstreams_now(self, domain: Domain, repository: Repository) -> bool:
        """Whether ``repository`` reads from upstreams (its pages are merged with theirs) by
        its domain's graph, as ``stands_alone_now`` finds it without waiting; False when it
        would wait. A merged page's first read then goes straight to ``merged_listing``,
        without a worker-thread hop to learn it."""
        graph = self._graph_now(domain)
        return graph is not None and _reads_upstreams(graph, repository)

    def _graph_now(self, domain: Domain) -> DomainGraph | None:
        """The domain's graph, as cached or read on the caller's thread where that never
        waits (``Catalog.shared_read(now=True)``: the domain's upstream links, a row per
        link); None when it would wait."""
        found = self._graphs.lookup(domain.id)
        if found is not None:
            return found[0]
        try:
            with self._catalog.shared_read(now=True):
                return self._graph(domain.id)
        except WouldWait:
            return None

    # -- files ---------------------------------------------------------------------------------

    async def locate(self, domain: Domain, repository: Repository, name: str, filename: str,
                     namespace: str = "", *, own_checked: bool = False,
                     asked: FileRequest = WHOLE_FILE) -> Located:
        """Find (and pull through, if need be) a file, or a file derived from one, for
        ``repository``; ``own_checked``: the caller has just found that ``repository`` itself
        does not hold it (``find_own``), which is then not asked again. ``asked``: a HEAD of
        a file only an upstream has is answered from its document, and one range of it is
        read from the upstream without keeping anything (``_read_range``)."""
        self._format.check_name(name)
        base = self._format.derived_file(filename)
        wanted = base if base is not None else filename
        kept = self._merged.get((repository.id, namespace, name))
        if kept is not None and own_checked:
            plan = kept.plan  # the page's plan, while the catalog is unchanged
        else:
            # One worker-thread hop for both: the first read of every file pulled through.
            found = await self._threads.run(self._own_or_plan, domain, repository, name,
                                            filename, namespace, own_checked)
            if isinstance(found, StoredFile):
                return found
            plan = found
        noun, shown = self._format.noun, self._format.document_name(namespace, name)
        if len(plan.steps) == 1:
            raise NotFound(f"No file {filename} in {noun} {shown}")
        resolution = await self._resolve(plan, shown)
        hit = resolution.merged.find(wanted)
        if hit is None:
            if resolution.errors:
                raise resolution.errors[0]
            raise NotFound(f"No file {filename} in {noun} {shown} in repository "
                           f"{repository.name} or its upstreams")
        step = hit.source.step
        if not step.is_external:
            # Held by another repository of the domain: keep a reference in this one when the
            # file itself is asked for (a client reading a derived file keeps nothing).
            if base is None:
                asset_name, version_key = self._format.asset_named(name, wanted)
                await run_in_threadpool(self._catalog.retain_from, step.repository_id,
                                        self._fmt, name, asset_name, [repository],
                                        self._clock.now(), namespace, version_key)
                return StoredFile(domain.blob_key, hit.file.digests["sha256"],
                                  hit.file.size or 0)
            if self._format.derived_blob(hit.file.attributes, filename)[1] is None:
                # Its size is asked of the blob store (a HEAD on S3): off the event loop.
                return await run_in_threadpool(self._derived, domain, hit.file.attributes,
                                               filename)
            return self._derived(domain, hit.file.attributes, filename)
        upstream = hit.source.upstream
        assert upstream is not None and hit.source.index_url is not None
        remote = hit.file
        hosts = frozenset({host_of(hit.source.index_url)}) | upstream.file_hosts()
        if base is not None:
            return InlineFile(await self._format.fetch_derived(
                self._http, remote, hosts, filename, hit.source.index_url))
        if asked.head:
            # What a HEAD says needs nothing fetched: uv asks it before its range reads. A
            # length the index does not declare (PEP 503 HTML has none) is asked of the
            # upstream, as a GET's answer would have it: uv reads no range of a file whose
            # HEAD has no Content-Length, and downloads the whole file instead.
            # (Each request within the upstream client's document deadline.)
            size = remote.size
            if size is None:
                assert remote.url is not None
                size = await self._http.content_length(remote.url, hosts,
                                                       upstream=hit.source.index_url)
            return UpstreamFileHead(remote.digests.get("sha256"), size)
        byte_range = asked.range_of(remote.digests.get("sha256"))
        if byte_range is not None:
            peeked = await self._read_range(domain, remote, hosts, hit.source.index_url,
                                            byte_range)
            if peeked is not None:
                return peeked
        owner_name = plan.graph.names[step.repository_id]
        owner = self._owners.get((domain.id, owner_name))
        if owner is None:
            owner = await self._threads.run(self._owner, domain, owner_name)
        return await self._pull_through(domain, owner, repository, namespace, name, remote,
                                        upstream.version(remote.version_key), hosts,
                                        hit.source.index_url, step.external_connection or "")

    async def keep(self, domain: Domain, repository: Repository, name: str, filename: str,
                   namespace: str = "") -> None:
        """Have ``repository`` keep a file it reaches only through its upstreams, as a
        download of it would (pulled, verified, kept where CodeArtifact keeps it), without
        sending it anywhere: before a change the repository makes to that version (npm's
        dist-tag and deprecate). The caller has authorized the read."""
        located = await self.locate(domain, repository, name, filename, namespace)
        if isinstance(located, StreamingFile):
            await located.reader.stored()

    async def _read_range(self, domain: Domain, remote: OfferedFile, hosts: frozenset[str],
                          index_url: str, wanted: ByteRange) -> Located | None:
        """``wanted`` of a file only an upstream has, read from the upstream and kept nowhere;
        None when it is to be pulled and answered from the kept copy as before: a range
        covering the whole file (a download) or more than ``MAX_FORWARDED_RANGE`` of it, a file
        this process is pulling now (or has just kept, or refused: ``PullThrough.knows``), or an
        upstream that ignored the Range.

        The bytes are sent unverified: a digest covers the whole file, never a part. That is
        what the range is for: uv and poetry read a wheel's zip directory this way to learn
        its metadata when the index offers no PEP 658 file, and download (and verify) the
        whole file only to install it. PyPI's own CDN serves such peeks the same way; keeping
        the file for them would pull gigabytes that are never installed."""
        assert remote.url is not None
        size = remote.size
        asked, span = wanted, None
        if size is not None:
            span = wanted.within(size)
            if span is None:
                return RangeNotSatisfiable(size)
            if span == (0, size) or span[1] - span[0] > MAX_FORWARDED_RANGE:
                return None
            asked = ByteRange(span[0], span[1] - 1)
        source = FileSource(remote.url, remote.filename, remote.digests, size, hosts,
                            index_url, self._format.document_noun)
        if self._pull.knows(domain.blob_key, source):
            return None
        async with self._http.stream_range(remote.url, hosts, asked.header,
                                           upstream=index_url) as response:
            if response.status_code == 200:
                return None
            stated = response.headers.get("content-range")
            if response.status_code == 416:
                total = unsatisfied_size(stated)
                if size is not None or (total is not None and wanted.within(total) is not None):
                    raise UpstreamError(f"Upstream {response.url} answered 416 to "
                                        f"{asked.header} of {remote.filename}"
                                        + (f", which its index says has {size} bytes"
                                           if size is not None else ""))
                return RangeNotSatisfiable(total)
            answered = parse_content_range(stated)
            if answered is None or not (
                    wanted.answered_by(*answered) if span is None
                    else answered[:2] == span and answered[2] in (None, size)) or (
                    response.headers.get("content-encoding", "identity") != "identity"):
                raise UpstreamError(f"Upstream {response.url} answered {asked.header} of "
                                    f"{remote.filename} with Content-Range {stated!r}"
                                    + (f" ({size} bytes declared)" if size is not None else "")
                                    + "; not served")
            start, end, total = answered
            if end - start > MAX_FORWARDED_RANGE:  # placed by the upstream: too large
                return None
            length = response.headers.get("content-length")
            if length is not None and length.strip() != str(end - start):
                raise UpstreamError(f"Upstream {response.url} sends {length.strip()} bytes "
                                    f"for {stated}; not served")
            log.debug("reading %s of %s from upstream (not kept)", stated, remote.filename)
            data = await _range_bytes(response, end - start)
            return UpstreamRange(start, end, size if size is not None else total,
                                 remote.digests.get("sha256"), data)

    def _own_or_plan(self, domain: Domain, repository: Repository, name: str, filename: str,
                     namespace: str, own_checked: bool) -> StoredFile | _Plan:
        """The file ``repository`` holds, else where to look for it (worker thread)."""
        own = None if own_checked else self.find_own(domain, repository, name, filename,
                                                     namespace)
        return own if own is not None else self._plan(domain, repository, namespace, name)

    def _owner(self, domain: Domain, name: str) -> Repository:
        """The repository owning an external connection, kept while no write can have changed
        it (worker thread)."""
        return self._owners.get_or_load((domain.id, name),
                                        lambda: self._catalog.get_repository(domain, name))

    def find_own(self, domain: Domain, repository: Repository, name: str, filename: str,
                 namespace: str = "") -> StoredFile | None:
        """A listed file (or a file derived from one) that ``repository`` itself holds
        (worker thread)."""
        base = self._format.derived_file(filename)
        asset_name, version_key = self._format.asset_named(
            name, base if base is not None else filename)
        if version_key is None and not namespace:
            # One keyed lookup: the first read of each file of an install.
            own = self._catalog.find_listed_asset(repository.id, self._fmt, name, asset_name)
        else:
            found = self._catalog.find_asset(repository.id, self._fmt, name, asset_name,
                                             namespace, version_key)
            own = None if found is None else (found[0].status, found[1])
        if own is None:
            return None
        return self._stored(domain, ListedFile.of(*own), filename, base, measure=True)

    def find_own_now(self, domain: Domain, repository: Repository, name: str, filename: str,
                     namespace: str = "") -> StoredFile | Missing | None:
        """``find_own`` on the caller's own thread (the event loop's), where its lookup never
        waits (``Catalog.find_listed_file_now``: the same row ``find_own`` reads, of the
        version a file name names when the format's do: npm's) and nothing else is asked of
        the blob store; ``MISSING`` when the repository holds no such file (``find_own``
        would find none either); None when ``find_own`` must answer (in a worker thread)."""
        base = self._format.derived_file(filename)
        asset_name, version_key = self._format.asset_named(
            name, base if base is not None else filename)
        own = self._catalog.find_listed_file_now(repository.id, self._fmt, name, asset_name,
                                                 namespace, version_key)
        if own is None or own is MISSING:
            return own
        return self._stored(domain, own, filename, base, measure=False)

    def _stored(self, domain: Domain, own: ListedFile, filename: str, base: str | None, *,
                measure: bool) -> StoredFile | None:
        """The file ``filename`` of an asset found (a file derived from it when ``base`` names
        the asset's file) if its version is listed; None if not, and when its size is not
        recorded unless ``measure`` lets the blob store (which may wait) be asked."""
        if own.status not in LISTED:
            return None
        if base is None:
            return StoredFile(domain.blob_key, own.sha256, own.size)
        if measure:
            return self._derived(domain, own.attributes, filename)
        sha256, size = self._format.derived_blob(own.attributes, filename)
        return None if size is None else StoredFile(domain.blob_key, sha256, size)

    def _derived(self, domain: Domain, attributes: Mapping[str, object],
                 filename: str) -> StoredFile:
        sha256, size = self._format.derived_blob(attributes, filename)
        return StoredFile(domain.blob_key, sha256,
                          size if size is not None else self._blobs.size(domain.blob_key, sha256))

    async def _pull_through(self, domain: Domain, owner: Repository, requester: Repository,
                            namespace: str, name: str, remote: OfferedFile,
                            version: OfferedVersion | None, hosts: frozenset[str],
                            index_url: str, connection: str) -> Located:
        assert remote.url is not None
        source = FileSource(remote.url, remote.filename, remote.digests, remote.size, hosts,
                            index_url, self._format.document_noun)
        targets = [owner] if owner.id == requester.id else [owner, requester]
        # What the upstream serves beside the file, fetched while the file downloads (PyPI: its
        # PEP 658 core metadata, so the wheel need not be opened to record it).
        companions: list[asyncio.Task[bytes | None]] = []

        asset_name, version_key = self._format.asset_named(name, remote.filename)

        async def commit(staged: StagedBlob, finish: Finish) -> Digests:
            # Started with the download in one process; with claims shared by processes,
            # fetched only now, by the process that downloaded (a waiter asks for nothing).
            fetching = companions[0] if companions else asyncio.ensure_future(
                self._format.fetch_companion(self._http, remote, hosts, index_url))
            try:
                if not fetching.done():
                    # Most are in within moments of the file (and one the format asks no
                    # upstream for at once): then finishing, verifying and keeping take one hop.
                    await asyncio.wait({fetching}, timeout=_COMPANION_GRACE_SECONDS)
                if not fetching.done():
                    # Still on its way: the bytes are verified first, in a hop of their own, so
                    # a file that does not match is refused now, not once the companion is in
                    # (or its fetch gave up: up to the document timeout).
                    finish = partial(_given, await run_in_threadpool(finish))
            except BaseException:  # refused, or cancelled: the companion is not wanted
                fetching.cancel()
                raise
            companion = None
            if not fetching.done():
                await asyncio.wait({fetching}, timeout=_COMPANION_WAIT_SECONDS)
            if not fetching.done():
                fetching.cancel()
                log.info("kept %s without what its upstream serves beside it, which did not "
                         "come within %g s", remote.filename, _COMPANION_WAIT_SECONDS)
            else:
                try:
                    companion = fetching.result()
                except Exception:  # noqa: BLE001 - a bug there must not lose the file
                    log.exception("fetching what %s's upstream serves beside it",
                                  remote.filename)
            digests = await run_in_threadpool(self._keep, domain, targets, namespace, name,
                                              remote, version, connection, staged, finish,
                                              companion)
            self._kept()
            if digests.left_for_later:
                self._later.nudge()
            return digests

        def adopt(keeper: int) -> bool:
            # Another process pulled it into ``keeper``: the targets keep that copy.
            return self._catalog.retain_from(keeper, self._fmt, name, asset_name,
                                             [t for t in targets if t.id != keeper],
                                             self._clock.now(), namespace, version_key)

        if remote.size is not None and remote.size > self._verify_before_send \
                and not self._pull.knows(domain.blob_key, source):
            # A streamed pull's client has its 200 before the file is kept: with the store
            # down, the commit fails after the whole download and the answer is cut short
            # (retried, downloaded again). One look first (a stat on disk, a HEAD on S3) makes
            # that a 503 with the store's reason, before the upstream is asked anything. Not
            # for a file whose index declares no size (PEP 503 HTML): looking before each such
            # pull cost a cold fetch of 61 small wheels 7 % more time (bench/UPSTREAM.md, round
            # 15); a small one is verified and kept before it is answered anyway (below), so
            # the store's failure is its 503 too.
            await run_in_threadpool(self._blobs.exists, domain.blob_key, _NO_BLOB)
        # Counted right before: another request may start this download while the look above
        # waits, and one that joins it must keep the file in its repository too (below).
        started_before = self._pull.downloads_started
        download = self._pull.start(domain.blob_key, source, commit, keeper=owner.id,
                                    adopt=adopt, digests=self._format.pull_digests)
        if self._pull.downloads_started != started_before:
            if not self._pull.shares_downloads:
                companions.append(asyncio.create_task(
                    self._format.fetch_companion(self._http, remote, hosts, index_url)))
        elif owner.id != requester.id:
            # Joined a download started for another request (maybe another repository):
            # this repository keeps the file too, before its client gets the last byte.

            def retain() -> None:
                self._catalog.retain_from(owner.id, self._fmt, name, asset_name,
                                          [requester], self._clock.now(), namespace,
                                          version_key)

            if not download.add_followup(retain):
                await download.result()
                await run_in_threadpool(retain)
            # The copy may have been made of rows read before the filler filled them in: it
            # looks again.
            self._later.nudge()
        if remote.size is not None and remote.size <= self._verify_before_send:
            digests = await download.result()
            return StoredFile(domain.blob_key, digests.sha256, digests.size)
        await download.decided()
        reader = download.open_reader()
        if reader is None:
            digests = await download.result()
            return StoredFile(domain.blob_key, digests.sha256, digests.size)
        # A size the index did not declare (PEP 503 HTML has none) is taken from the
        # upstream's response: the client's answer then has a Content-Length (and is sent by
        # the kernel, ``services/spool_response.py``) instead of being chunked. An upstream
        # that failed before answering is a 502 now rather than a 200 cut short.
        size = remote.size if remote.size is not None else await download.declared_size()
        if download.error is not None and not download.verified:
            reader.close()
            raise download.error
        if remote.size is None and size is not None and size <= self._verify_before_send:
            # Small by the upstream's own word: verified and kept before it is sent, as one
            # whose index declared the size, so a mismatch is a 502 that says so, not a 200
            # cut short (pip then reported the empty file's hash, not why). Sent from the
            # download's spool, all of it released by then (by the kernel, as the verified
            # plaintext): not read back from the store (decrypted) as a file kept earlier is.
            try:
                await download.result()
            except BaseException:
                reader.close()
                raise
        return StreamingFile(reader, size)

    # -- keeping a pulled file (worker thread) -------------------------------------------------

    def _keep(self, domain: Domain, targets: list[Repository], namespace: str, name: str,
              remote: OfferedFile, version: OfferedVersion | None, connection: str,
              staged: StagedBlob, finish: Finish, companion: bytes | None) -> Digests:
        # Finished and verified in this hop too (nothing is kept when that fails).
        digests = finish()
        # Read in place before the commit moves it; the download's own staged write is
        # committed as it is (no copy), with the blobs the format keeps beside it (PyPI: the
        # core metadata file) in one batch: one decision of their data keys, shared flushes.
        extra: list[StagedBlob] = []

        def put_blob(data: bytes) -> Digests:
            blob = self._blobs.stage(batched=True)
            extra.append(blob)
            blob.write(data)
            return blob.digests()

        try:
            kept = self._format.keep(staged.local_path, digests, name, remote, version,
                                     put_blob, companion)
            self._blobs.commit_many([*extra, staged], domain.blob_key)
        except BaseException:
            for blob in extra:
                self._blobs.discard(blob)
            raise
        blob_sizes = {digests.sha256: digests.size, **kept.extra_blobs}
        # The upstream's times, not the pull's: what an index shows of a file (PyPI's
        # upload-time, npm's time) must not change because Packyard kept it (uv.lock records
        # upload times; --exclude-newer, npm's --before and release-age rules read them).
        # Never later than now: an upstream's clock or a hostile page cannot date it ahead.
        now = self._clock.now()
        version_time = (version.published if version is not None else None) or remote.upload_time
        file_time = remote.upload_time or version_time
        held = self._catalog.retain(targets, self._fmt, namespace, name, kept.display_name,
                                    replace(kept.version, published_at=_until(version_time, now)),
                                    replace(kept.asset, created_at=_until(file_time, now)),
                                    EntryPoint("EXTERNAL", None, connection), blob_sizes, now)
        log.info("kept %s in %s", remote.filename, ", ".join(r.name for r in held) or "nothing")
        return digests


def _given(digests: Digests) -> Digests:
    """A ``Finish`` that has already run: the digests it gave."""
    return digests


def _reads_upstreams(graph: DomainGraph, repository: Repository) -> bool:
    """Whether ``repository`` reads from upstream repositories or an external connection."""
    return bool(graph.upstreams.get(repository.id)) or repository.id in graph.external


def _until(moment: datetime | None, now: datetime) -> datetime | None:
    return None if moment is None else min(moment, now)


async def _range_bytes(response: httpx.Response, length: int) -> bytes:
    """The ``length`` bytes of an upstream's 206, all of them; UpstreamError when it sends more
    or fewer, before the client is answered (a 502, not a 206 cut short)."""
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > length:
                raise UpstreamError(f"Upstream {response.url} sent more than the {length} "
                                    "bytes of its range")
            chunks.append(chunk)
    except httpx.TransportError as exc:
        raise UpstreamError(f"Upstream {response.url} failed while sending: "
                            f"{type(exc).__name__} {exc}".rstrip()) from None
    if received != length:
        raise UpstreamError(f"Upstream {response.url} sent {received} of the {length} bytes "
                            "of its range")
    return b"".join(chunks)


def _same(kept: tuple[UpstreamListing | None, ...],
          now: tuple[UpstreamListing | None, ...]) -> bool:
    """Whether the documents are the very ones a listing was merged from."""
    return len(kept) == len(now) and all(a is b for a, b in zip(kept, now, strict=True))


def stored_listing(fmt: FormatUpstream, place: Place, name: str,
                   versions: Sequence[PackageVersion], entries: Sequence[IndexEntry],
                   tags: Mapping[str, str], last_serial: int = 0) -> Listing[Place]:
    """What a repository itself holds of a package, as a listing to merge (and as its own
    page shows it when it has no upstreams)."""
    keys = {v.version: v.version_key for v in versions}
    # A Deleted version is gone: an upstream may supply it again.
    offered = [OfferedVersion(v.version, v.version_key, v.status, v.attributes,
                              published=v.published_at, revision=v.revision)
               for v in versions if v.status != "Deleted"]
    files = [_stored_file(fmt.file_name(name, e.version, e.asset.name), keys[e.version],
                          e.asset) for e in entries]
    # The serial is the time of the package's last change in microseconds (``serials.py``).
    changed = datetime.fromtimestamp(last_serial / 1_000_000, UTC) if last_serial > 0 else None
    return Listing(place, offered, files, dict(tags), changed_at=changed)


def _stored_file(filename: str, version_key: str, asset: Asset) -> OfferedFile:
    return OfferedFile(filename, version_key, asset.hashes_by_algorithm(), asset.size, False,
                       asset.created_at, asset.attributes)
