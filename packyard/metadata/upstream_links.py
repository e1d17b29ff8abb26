"""A repository's upstream repositories and external connection, and the domain's graph of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from packyard.errors import Conflict, NotFound, QuotaExceeded
from packyard.metadata.schema import (
    repositories,
    repository_external_connections,
    repository_upstreams,
)
from packyard.metadata.transactions import CatalogBase
from packyard.model import Repository


@dataclass(frozen=True)
class ExternalConnectionRecord:
    """A repository's external connection (CodeArtifact's RepositoryExternalConnectionInfo)."""

    repository_id: int
    name: str
    package_format: str
    created_at: datetime


@dataclass(frozen=True)
class RepositoryLinks:
    """What a repository description shows besides the repository row."""

    upstreams: list[str]  # repository names, in priority order
    external_connections: list[ExternalConnectionRecord]


@dataclass(frozen=True)
class DomainGraph:
    """Every upstream link and external connection of one domain, for searches and checks."""

    upstreams: dict[int, list[int]]  # repository id -> upstream ids in priority order
    external: dict[int, str]  # repository id -> external connection name
    names: dict[int, str]  # repository id -> name


class UpstreamLinkStore(CatalogBase):
    """Upstream lists and external connections."""

    def _graph(self, conn: Connection, domain_id: int) -> DomainGraph:
        names = {r.id: r.name for r in conn.execute(select(
            repositories.c.id, repositories.c.name).where(
                repositories.c.domain_id == domain_id))}
        links: dict[int, list[int]] = {}
        for row in conn.execute(select(repository_upstreams).where(
                repository_upstreams.c.repository_id.in_(list(names)))
                .order_by(repository_upstreams.c.repository_id,
                          repository_upstreams.c.position)):
            links.setdefault(row.repository_id, []).append(row.upstream_id)
        external = {row.repository_id: row.name for row in conn.execute(
            select(repository_external_connections).where(
                repository_external_connections.c.repository_id.in_(list(names))))}
        return DomainGraph(links, external, names)

    def domain_graph(self, domain_id: int) -> DomainGraph:
        with self._read() as conn:
            return self._graph(conn, domain_id)

    def replace_upstreams(self, repository: Repository, upstream_ids: Sequence[int],
                          check: Callable[[DomainGraph], None]) -> None:
        """Set a repository's upstream list; ``check`` sees the current graph in the same
        transaction (so two concurrent updates cannot build a cycle between them)."""
        with self._write() as conn:
            check(self._graph(conn, repository.domain_id))
            conn.execute(delete(repository_upstreams).where(
                repository_upstreams.c.repository_id == repository.id))
            for position, upstream_id in enumerate(upstream_ids):
                conn.execute(insert(repository_upstreams).values(
                    repository_id=repository.id, position=position, upstream_id=upstream_id))

    def repository_links(self, repository_id: int) -> RepositoryLinks:
        with self._read() as conn:
            upstream_names = [r.name for r in conn.execute(
                select(repositories.c.name).select_from(repository_upstreams.join(
                    repositories, repository_upstreams.c.upstream_id == repositories.c.id))
                .where(repository_upstreams.c.repository_id == repository_id)
                .order_by(repository_upstreams.c.position))]
            connections = [ExternalConnectionRecord(r.repository_id, r.name, r.package_format,
                                                    r.created_at)
                           for r in conn.execute(select(repository_external_connections).where(
                               repository_external_connections.c.repository_id
                               == repository_id))]
        return RepositoryLinks(upstream_names, connections)

    def add_external_connection(self, repository: Repository, name: str, package_format: str,
                                now: datetime) -> None:
        with self._write() as conn:
            current = conn.execute(select(repository_external_connections).where(
                repository_external_connections.c.repository_id == repository.id)).first()
            if current is not None and current.name == name:
                raise Conflict(f"Repository {repository.name} already has the external "
                               f"connection {name}", resource_id=repository.name,
                               resource_type="repository")
            if current is not None:
                raise QuotaExceeded(
                    f"Repository {repository.name} already has the external connection "
                    f"{current.name}; a repository can have only one. Use a repository of its "
                    "own for each public repository and add them as upstreams",
                    resource_id=repository.name, resource_type="repository")
            conn.execute(insert(repository_external_connections).values(
                repository_id=repository.id, name=name, package_format=package_format,
                created_at=now))

    def remove_external_connection(self, repository: Repository, name: str) -> None:
        with self._write() as conn:
            result = conn.execute(delete(repository_external_connections).where(
                repository_external_connections.c.repository_id == repository.id,
                repository_external_connections.c.name == name))
            if not result.rowcount:
                # Named as the repository, as the Conflict above is: CodeArtifact's
                # ResourceType enum has no value for an external connection.
                raise NotFound(f"Repository {repository.name} has no external connection "
                               f"{name}", resource_id=repository.name,
                               resource_type="repository")
