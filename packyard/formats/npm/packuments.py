"""Packuments as a repository serves them: merged across its upstreams, rendered once per
change, kept as bytes.

A packument is rendered from the repository's merged listing
(``UpstreamResolver.merged_listing``: its own versions, its upstream repositories', the external
connection's packument), in a worker thread: typescript's 3,500 versions take about half a
second. The result, plain and gzip, is then kept twice: in ``PackageReads``' page cache (what
the hot path answers from, dropped on any write and when an upstream document it shows is due
for revalidation) and here, keyed by what it was rendered from, so that when the page cache
lets go the next request finds the merged listing unchanged (the very merge the resolver kept,
or one with the same versions at the same revisions, the same upstream document, the same
tags) and reuses the bytes instead of rendering again. Only a change to the package renders
anew."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from starlette.concurrency import run_in_threadpool

from packyard.errors import NotFound
from packyard.formats.npm import attributes
from packyard.formats.npm.dist_tags import LATEST, effective_dist_tags
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import (
    LISTED_STATUSES,
    StoredPackage,
    StoredVersion,
    render_abbreviated,
    render_full,
)
from packyard.formats.npm.plugin import FORMAT
from packyard.formats.npm.upstream import parse_time
from packyard.metadata.catalog import Catalog
from packyard.model import Domain, Repository
from packyard.services.answers import RenderedPage
from packyard.upstream.merge import MergedProject, OfferedVersion
from packyard.upstream.origin import takes_from_upstream
from packyard.upstream.resolver import Place, UpstreamResolver

Kind = Literal["full", "abbreviated"]
T = TypeVar("T")

_EPOCH = datetime.fromtimestamp(0, UTC)
# Rendered documents kept beyond the page cache, by total size (a typescript-sized package is
# ~10 MB full and ~6 MB abbreviated, plus their gzip): with the parsed documents, merges and
# pages (``upstream/documents.py``, ``upstream/resolver.py``, ``services/reads.py``) what a
# server holds of upstream packages stays within a few hundred megabytes.
_MEMO_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class _Memo:
    fingerprint: Hashable
    # The merge it was rendered from, not held: a merge holds its upstream documents (tens of
    # megabytes of manifests for a large packument), which the document cache bounds.
    merged: weakref.ref[MergedProject[Place]]
    page: RenderedPage

    @property
    def size(self) -> int:
        return len(self.page.body) + len(self.page.gzip_body or b"")


class Packuments:
    """Renders and remembers one repository's packuments."""

    def __init__(self, catalog: Catalog, resolver: UpstreamResolver) -> None:
        self._catalog = catalog
        self._resolver = resolver
        self._memo: OrderedDict[Hashable, _Memo] = OrderedDict()
        self._memo_bytes = 0
        self._lock = threading.Lock()
        self.renders = 0  # documents rendered (tests and logs)

    async def merged(self, domain: Domain, repository: Repository,
                     name: PackageName) -> MergedProject[Place]:
        return await self._resolver.listing(domain, repository, name.bare, name.namespace)

    async def package(self, domain: Domain, repository: Repository,
                      name: PackageName) -> StoredPackage:
        """What ``name``'s packument in ``repository`` shows (``stored_package`` of its merge),
        for the documents and answers made from it besides the packument itself."""
        return await self._stored_in(repository, name,
                                     await self.merged(domain, repository, name))

    async def page(self, domain: Domain, repository: Repository, name: PackageName,
                   kind: Kind, base_url: str) -> RenderedPage:
        """The packument of ``name`` in ``repository``, its tarball URLs under ``base_url``."""
        listing = await self._resolver.merged_listing(domain, repository, name.bare,
                                                      name.namespace)
        merged = listing.project
        key = (repository.id, name.full, kind, base_url)
        with self._lock:
            memo = self._memo.get(key)
            if memo is not None:
                self._memo.move_to_end(key)
        if memo is not None and memo.merged() is merged:
            # The same merge (nothing changed since): no fingerprint to compute.
            page = memo.page
        else:
            fingerprint = await _off_the_loop_if_large(merged, _fingerprint, merged)
            if memo is not None and memo.fingerprint == fingerprint:
                page = memo.page
            else:
                package = await self._stored_in(repository, name, merged)
                page = await run_in_threadpool(_render, package, kind, base_url)
                self.renders += 1
            # Held with this merge: its next read needs no fingerprint either.
            self._remember(key, _Memo(fingerprint, weakref.ref(merged), page))
        # Kept by the page cache until an upstream document it shows is due again.
        return replace(page, revalidate_at=listing.revalidate_at)

    async def _stored_in(self, repository: Repository, name: PackageName,
                         merged: MergedProject[Place]) -> StoredPackage:
        """``stored_package``, whose "no versions" says so when the repository's own origin
        configuration of the package is what keeps its upstreams' versions out."""
        try:
            return await self.stored_package(name, merged)
        except NotFound:
            package = await run_in_threadpool(self._catalog.find_package, repository.id, FORMAT,
                                              name.namespace, name.bare)
            if package is None or takes_from_upstream(package):
                raise
            raise NotFound(
                f"{name.full} has no versions in repository {repository.name}, and its origin "
                "configuration there blocks versions from upstream repositories and external "
                "connections (upstream: BLOCK; put-package-origin-configuration with "
                "upstream=ALLOW lets them in)") from None

    async def stored_package(self, name: PackageName,
                             merged: MergedProject[Place]) -> StoredPackage:
        """What a packument shows of a merged listing, with the readme of its ``latest``."""
        versions, latest, modified = await _off_the_loop_if_large(merged, _stored_versions,
                                                                  merged)
        if not versions:
            raise NotFound(f"{name.full} has no versions")
        if latest is not None:
            key = next(k for k, v in versions.items() if v.version == latest)
            offered, place = merged.claims[key]
            readme = await self._readme(name, place, key)
            if readme is not None:
                stored = versions[key]
                versions[key] = StoredVersion(
                    stored.version, stored.manifest, stored.status, stored.published,
                    stored.deprecated, readme, stored.readme_filename or _upstream_readme_name(
                        place))
        return StoredPackage(name, list(versions.values()), merged.tags, modified)

    async def _readme(self, name: PackageName, place: Place, version_key: str) -> str | None:
        if place.upstream is not None:
            payload = place.upstream.payload
            readme = payload.get("readme") if isinstance(payload, Mapping) else None
            return readme if isinstance(readme, str) else None
        return await run_in_threadpool(self._stored_readme, place.step.repository_id, name,
                                       version_key)

    def _stored_readme(self, repository_id: int, name: PackageName,
                       version_key: str) -> str | None:
        package = self._catalog.find_package(repository_id, FORMAT, name.namespace, name.bare)
        if package is None:
            return None
        version = self._catalog.get_version(package.id, version_key)
        return version.readme if version is not None else None

    def _remember(self, key: Hashable, memo: _Memo) -> None:
        with self._lock:
            old = self._memo.pop(key, None)
            if old is not None:
                self._memo_bytes -= old.size
            self._memo[key] = memo
            self._memo_bytes += memo.size
            while self._memo_bytes > _MEMO_BYTES and len(self._memo) > 1:
                _, evicted = self._memo.popitem(last=False)
                self._memo_bytes -= evicted.size


async def _off_the_loop_if_large(merged: MergedProject[Place], work: Callable[..., T],
                                 *args: Any) -> T:
    """``work(*args)``, in a worker thread when ``merged`` has many versions (the event loop
    would wait out ~0.1 s of it for a typescript-sized package), else here."""
    if merged.is_large:
        return await run_in_threadpool(work, *args)
    return work(*args)


def _stored_versions(merged: MergedProject[Place]
                     ) -> tuple[dict[str, StoredVersion], str | None, datetime | None]:
    """A packument's versions by key, its ``latest`` and its upstream's ``modified``."""
    versions = {key: _stored_version(offered, merged.further.get(key))
                for key, (offered, _) in merged.claims.items()}
    listed = [v.version for v in versions.values() if v.status in LISTED_STATUSES]
    # Modified when any place last changed the package (a dist-tag or a deprecation too), so
    # Last-Modified moves with the ETag.
    modified = max((t for t in (_upstream_modified(merged), merged.changed_at) if t is not None),
                   default=None)
    return versions, effective_dist_tags(merged.tags, listed).get(LATEST), modified


def _stored_version(offered: OfferedVersion,
                    further: tuple[OfferedVersion, Place] | None = None) -> StoredVersion:
    payload = offered.payload
    deprecated = attributes.deprecated(payload)
    published = offered.published or _EPOCH
    if further is not None and _same_tarball(payload, further[0].payload):
        # A copy the repository kept, as the upstream has it now: deprecated since (often a
        # security notice), and published when it says if earlier (a copy kept before kept
        # versions took the upstream's time shows the pull's). A deprecation set here stands.
        upstream = further[0]
        deprecated = deprecated or attributes.deprecated(upstream.payload)
        if upstream.published is not None and upstream.published < published:
            published = upstream.published
    return StoredVersion(
        version=offered.version, manifest=attributes.manifest(payload), status=offered.status,
        published=published, deprecated=deprecated,
        readme_filename=attributes.readme_filename(payload))


def _same_tarball(payload: Any, other: Any) -> bool:
    """Whether two versions' manifests declare the same tarball (``dist.integrity``)."""
    mine = attributes.manifest(payload).get("dist")
    theirs = attributes.manifest(other).get("dist")
    if not isinstance(mine, Mapping) or not isinstance(theirs, Mapping):
        return False
    integrity = mine.get("integrity")
    return isinstance(integrity, str) and bool(integrity) and integrity == theirs.get("integrity")


def _upstream_modified(merged: MergedProject[Place]) -> datetime | None:
    times = []
    for _, place in merged.claims.values():
        if place.upstream is not None and isinstance(place.upstream.payload, Mapping):
            moment = parse_time(place.upstream.payload.get("modified"))
            if moment is not None:
                times.append(moment)
    return max(times) if times else None


def _upstream_readme_name(place: Place) -> str | None:
    if place.upstream is not None and isinstance(place.upstream.payload, Mapping):
        found = place.upstream.payload.get("readmeFilename")
        return found if isinstance(found, str) else None
    return None


def _fingerprint(merged: MergedProject[Place]) -> Hashable:
    """What a packument is rendered from, cheaply: each version's status and revision (a
    repository's) or the serial of the upstream document it comes from (the same listing
    until the document changes), the serial of the one offering it further on (what a kept
    copy shows of it), and the tags."""
    versions = tuple(sorted(
        (key, offered.status, offered.revision or "", _serial(place),
         _serial(merged.further[key][1]) if key in merged.further else 0)
        for key, (offered, place) in merged.claims.items()))
    return versions, tuple(sorted(merged.tags.items()))


def _serial(place: Place) -> int:
    return place.upstream.serial if place.upstream is not None else 0


def _render(package: StoredPackage, kind: Kind, base_url: str) -> RenderedPage:
    document = (render_full(package, base_url) if kind == "full"
                else render_abbreviated(package, base_url))
    return RenderedPage(document.body, document.media_type, document.digest,
                        last_modified=document.last_modified, gzip_body=document.gzip_body)
