"""Repositories: created, read, listed, updated, and deleted with everything they hold."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from packyard.errors import Conflict, NotFound
from packyard.metadata.blob_sweeps import queue_unused_blobs
from packyard.metadata.resource_tags import REPOSITORY, delete_tags, insert_tags
from packyard.metadata.rows import ASSET_JOIN, REPO_COLUMNS, new_id, repository_record
from packyard.metadata.schema import (
    asset_blobs,
    assets,
    blobs,
    domains,
    package_group_repositories,
    package_tags,
    package_versions,
    packages,
    repositories,
    repository_external_connections,
    repository_upstreams,
)
from packyard.metadata.transactions import CatalogBase
from packyard.model import Domain, Repository


class RepositoryStore(CatalogBase):
    """Repositories."""

    def create_repository(self, domain: Domain, name: str, description: str,
                          administrator_account: str, now: datetime,
                          tags: Mapping[str, str] | None = None) -> Repository:
        with self._write(changes_access=True) as conn:
            try:
                repository_id = new_id(conn, insert(repositories).values(
                    domain_id=domain.id, name=name, description=description,
                    administrator_account=administrator_account, created_at=now))
            except IntegrityError:
                raise Conflict(f"Repository {name} already exists in domain {domain.name}",
                               resource_id=name, resource_type="repository") from None
            insert_tags(conn, REPOSITORY, repository_id, tags or {})
        return self.get_repository(domain, name)

    def get_repository(self, domain: Domain, name: str) -> Repository:
        with self._read() as conn:
            row = conn.execute(select(*REPO_COLUMNS).join(domains).where(
                repositories.c.domain_id == domain.id, repositories.c.name == name)).first()
        if row is None:
            raise NotFound(f"Repository {name} not found in domain {domain.name}",
                           resource_id=name, resource_type="repository")
        return repository_record(row)

    def list_repositories(self, domain: Domain | None = None) -> list[Repository]:
        query = select(*REPO_COLUMNS).join(domains)
        if domain is not None:
            query = query.where(repositories.c.domain_id == domain.id)
        with self._read() as conn:
            rows = conn.execute(query.order_by(repositories.c.name, domains.c.name)).all()
        return [repository_record(r) for r in rows]

    def update_repository(self, repository: Repository, description: str) -> Repository:
        with self._write(changes_access=True) as conn:
            conn.execute(update(repositories).where(repositories.c.id == repository.id)
                         .values(description=description))
            row = conn.execute(select(*REPO_COLUMNS).join(domains).where(
                repositories.c.id == repository.id)).one()
        return repository_record(row)

    def delete_repository(self, repository: Repository,
                          now: datetime | None = None) -> list[str]:
        """Delete the repository and its contents; returns the sha256s no longer used in the
        domain, queued for the blob sweep (``blob_sweeps``)."""
        now = now or datetime.now(UTC)
        with self._write(changes_access=True) as conn:
            pkg_ids = select(packages.c.id).where(packages.c.repository_id == repository.id)
            ver_ids = select(package_versions.c.id).where(package_versions.c.package_id.in_(pkg_ids))
            asset_ids = select(assets.c.id).where(assets.c.package_version_id.in_(ver_ids))
            touched = {r.sha256 for r in conn.execute(
                select(assets.c.sha256).where(assets.c.package_version_id.in_(ver_ids)))}
            touched |= {r.sha256 for r in conn.execute(
                select(asset_blobs.c.sha256).where(asset_blobs.c.asset_id.in_(asset_ids)))}
            conn.execute(delete(asset_blobs).where(asset_blobs.c.asset_id.in_(asset_ids)))
            conn.execute(delete(assets).where(assets.c.package_version_id.in_(ver_ids)))
            conn.execute(delete(package_versions).where(package_versions.c.package_id.in_(pkg_ids)))
            conn.execute(delete(package_tags).where(package_tags.c.package_id.in_(pkg_ids)))
            conn.execute(delete(packages).where(packages.c.repository_id == repository.id))
            # Downstream repositories lose this upstream; what they kept from it stays theirs
            # (CodeArtifact: retained versions survive the upstream's deletion).
            conn.execute(delete(repository_upstreams).where(
                (repository_upstreams.c.repository_id == repository.id)
                | (repository_upstreams.c.upstream_id == repository.id)))
            conn.execute(delete(repository_external_connections).where(
                repository_external_connections.c.repository_id == repository.id))
            # Off every package group's allowed lists: a new repository of the same name is
            # not allowed by what was said of this one.
            conn.execute(delete(package_group_repositories).where(
                package_group_repositories.c.repository_id == repository.id))
            delete_tags(conn, REPOSITORY, repository.id)
            conn.execute(delete(repositories).where(repositories.c.id == repository.id))
            return queue_unused_blobs(conn, repository.domain_id, touched, now)


def drop_unused_blobs(conn: Connection, domain_id: int, shas: set[str]) -> list[str]:
    """Forget the blob rows of ``shas`` that no asset of the domain uses any more; returns
    them, for the caller to delete from the blob store once the transaction commits."""
    dropped = []
    domain_assets = (select(assets.c.id).select_from(ASSET_JOIN)
                     .join(repositories, packages.c.repository_id == repositories.c.id)
                     .where(repositories.c.domain_id == domain_id))
    for sha in sorted(shas):
        in_use = conn.execute(select(func.count()).select_from(assets).where(
            assets.c.id.in_(domain_assets),
            (assets.c.sha256 == sha) | assets.c.id.in_(
                select(asset_blobs.c.asset_id).where(asset_blobs.c.sha256 == sha)))
        ).scalar_one()
        if not in_use:
            conn.execute(delete(blobs).where(blobs.c.domain_id == domain_id,
                                             blobs.c.sha256 == sha))
            dropped.append(sha)
    return dropped
