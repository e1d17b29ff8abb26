"""Package origin controls, and where each version entered the domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from packyard.metadata.rows import DOMAIN_PACKAGES, package_record
from packyard.metadata.schema import package_versions, packages, repositories
from packyard.metadata.transactions import CatalogBase
from packyard.model import Package, Repository


@dataclass(frozen=True)
class VersionOrigin:
    """Where a version entered the domain (CodeArtifact's PackageVersionOrigin)."""

    origin_type: str  # INTERNAL | EXTERNAL | UNKNOWN
    repository_name: str | None
    external_connection: str | None


class OriginStore(CatalogBase):
    """Origin configurations and version origins."""

    def packages_named(self, domain_id: int, fmt: str, namespace: str,
                       name: str) -> dict[int, Package]:
        """The package called ``name`` in every repository of a domain that has it, by
        repository id (one query; each row's ``last_serial`` moves with every write to its
        versions, files or tags)."""
        with self._read() as conn:
            rows = conn.execute(DOMAIN_PACKAGES, {"domain_id": domain_id, "format": fmt,
                                                  "namespace": namespace, "name": name}).all()
        return {r.repository_id: package_record(r) for r in rows}

    def put_origin_configuration(self, repository: Repository, fmt: str, namespace: str,
                                 name: str, display_name: str, publish: str, upstream: str,
                                 now: datetime) -> Package:
        """Set a package's restrictions, creating the package (with no versions) if needed."""
        where = (packages.c.repository_id == repository.id, packages.c.format == fmt,
                 packages.c.namespace == namespace, packages.c.name == name)
        with self._write() as conn:
            if conn.execute(select(packages.c.id).where(*where)).first() is None:
                conn.execute(insert(packages).values(
                    repository_id=repository.id, format=fmt, namespace=namespace, name=name,
                    display_name=display_name, origin_publish=publish,
                    origin_upstream=upstream, created_at=now))
            else:
                conn.execute(update(packages).where(*where).values(
                    origin_publish=publish, origin_upstream=upstream))
            return package_record(conn.execute(select(packages).where(*where)).one())

    def version_origins(self, version_ids: Sequence[int]) -> dict[int, VersionOrigin]:
        """Each version's entry point, with the entry repository's name."""
        if not version_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                select(package_versions.c.id, package_versions.c.origin_type,
                       package_versions.c.origin_external_connection,
                       repositories.c.name.label("repository_name"))
                .select_from(package_versions.outerjoin(
                    repositories,
                    package_versions.c.origin_repository_id == repositories.c.id))
                .where(package_versions.c.id.in_(list(version_ids)))).all()
        origins = {}
        for r in rows:
            kind = r.origin_type
            if r.origin_external_connection is None and r.repository_name is None:
                kind = "UNKNOWN"  # the entry repository has been deleted since
            origins[r.id] = VersionOrigin(kind, r.repository_name, r.origin_external_connection)
        return origins
