"""``Core``: everything neutral a format plug-in is built on, wired once by ``bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packyard.clock import Clock
from packyard.metadata.catalog import Catalog
from packyard.services.access import RepositoryGate
from packyard.services.reads import PackageReads
from packyard.services.registry import Registry
from packyard.services.upload_capacity import UploadCapacity
from packyard.settings import Settings
from packyard.storage.blobs import BlobStore
from packyard.ttl_cache import TtlCache
from packyard.upstream.core import UpstreamCore


@dataclass(frozen=True)
class Core:
    """The services a format's package endpoint calls; none of them names a format."""

    settings: Settings
    # Domains, repositories and package reads, with the authorizer, ARNs, catalog and clock.
    registry: Registry
    # The entry check of every package-endpoint request: token, domain, authorization.
    gate: RepositoryGate
    # Upstream repositories and external connections: HTTP, cached documents, pull-through.
    upstreams: UpstreamCore
    # Admission of uploads before their body is read (concurrency, disk reserve).
    uploads: UploadCapacity
    # The package reads made for the formats (their caches are reported by /metrics).
    reads: list[PackageReads] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        return self.registry.catalog

    @property
    def blobs(self) -> BlobStore:
        return self.registry.blobs

    @property
    def clock(self) -> Clock:
        return self.registry.clock

    def package_reads(self) -> PackageReads:
        """Grants, caches and answers for one format's read handlers (each format has its own
        caches; the grants are the gate's, shared)."""
        reads = PackageReads(self.gate, self.blobs, self.catalog.changes,
                             audit_downloads=self.settings.audit_downloads,
                             stands_alone=self.upstreams.stands_alone, clock=self.clock)
        self.upstreams.kept.listen(reads.warmer.nudge)
        self.reads.append(reads)
        return reads

    def caches(self) -> dict[str, TtlCache[Any, Any]]:
        """Every short-lived cache of the services, by name (for ``/metrics``)."""
        found: dict[str, TtlCache[Any, Any]] = {"upstream_graphs": self.upstreams.graphs,
                                                **self.gate.caches()}
        for reads in self.reads:
            found.update(reads.caches())
        return found
