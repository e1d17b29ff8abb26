"""Domains: created, read with their statistics, listed, and deleted once empty."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from packyard.errors import Conflict, NotFound
from packyard.metadata.package_groups import delete_domain_groups, insert_root_group
from packyard.metadata.resource_tags import DOMAIN, delete_tags, insert_tags
from packyard.metadata.rows import ASSET_JOIN, domain_record, new_id
from packyard.metadata.schema import (
    assets,
    blobs,
    data_keys,
    domains,
    packages,
    repositories,
    tokens,
)
from packyard.metadata.transactions import CatalogBase
from packyard.model import Domain


class DomainStore(CatalogBase):
    """Domains."""

    def create_domain(self, name: str, owner: str, encryption_key: str, now: datetime,
                      tags: Mapping[str, str] | None = None) -> Domain:
        """A new domain, with its root package group ``/*`` and its tags."""
        with self._write(changes_access=True) as conn:
            exists = conn.execute(select(domains.c.id).where(
                domains.c.owner == owner, domains.c.name == name)).first()
            if exists:
                raise Conflict(f"Domain {name} already exists", resource_id=name,
                               resource_type="domain")
            domain_id = new_id(conn, insert(domains).values(
                name=name, owner=owner, encryption_key=encryption_key, status="Active",
                created_at=now))
            insert_root_group(conn, domain_id, now)
            insert_tags(conn, DOMAIN, domain_id, tags or {})
        return self.get_domain(owner, name)

    def _domain_stats(self, conn: Connection, domain_id: int) -> tuple[int, int]:
        repo_count = conn.execute(select(func.count()).select_from(repositories).where(
            repositories.c.domain_id == domain_id)).scalar_one()
        # Assets only (each stored object once): derived files such as PEP 658 metadata are
        # blobs too, but CodeArtifact counts what list-package-version-assets lists.
        asset_shas = (select(assets.c.sha256).select_from(ASSET_JOIN)
                      .join(repositories, packages.c.repository_id == repositories.c.id)
                      .where(repositories.c.domain_id == domain_id))
        size = conn.execute(select(func.coalesce(func.sum(blobs.c.size), 0)).where(
            blobs.c.domain_id == domain_id, blobs.c.sha256.in_(asset_shas))).scalar_one()
        return int(repo_count), int(size)

    def get_domain(self, owner: str, name: str, *, with_stats: bool = True) -> Domain:
        """A domain; ``with_stats`` adds repository count and asset size (two more queries)."""
        with self._read() as conn:
            row = conn.execute(select(domains).where(
                domains.c.owner == owner, domains.c.name == name)).first()
            if row is None:
                raise NotFound(f"Domain {name} not found", resource_id=name,
                               resource_type="domain")
            if not with_stats:
                return domain_record(row)
            return domain_record(row, *self._domain_stats(conn, row.id))

    def list_domains(self) -> list[Domain]:
        with self._read() as conn:
            rows = conn.execute(select(domains).order_by(domains.c.name)).all()
            return [domain_record(r, *self._domain_stats(conn, r.id)) for r in rows]

    def delete_domain(self, domain: Domain) -> None:
        with self._write(changes_access=True) as conn:
            count = conn.execute(select(func.count()).select_from(repositories).where(
                repositories.c.domain_id == domain.id)).scalar_one()
            if count:
                raise Conflict(
                    f"Domain {domain.name} contains repositories; delete them first",
                    resource_id=domain.name, resource_type="domain")
            conn.execute(delete(tokens).where(tokens.c.domain_id == domain.id))
            delete_domain_groups(conn, domain.id)
            delete_tags(conn, DOMAIN, domain.id)
            conn.execute(delete(blobs).where(blobs.c.domain_id == domain.id))
            # The blobs themselves go next (Registry.delete_domain); a crash in between leaves
            # ciphertext no key opens, which an upload of the same bytes replaces.
            conn.execute(delete(data_keys).where(data_keys.c.domain_id == domain.id))
            conn.execute(delete(domains).where(domains.c.id == domain.id))

    def domain_by_id(self, domain_id: int) -> Domain | None:
        with self._read() as conn:
            row = conn.execute(select(domains).where(domains.c.id == domain_id)).first()
        return domain_record(row) if row else None
