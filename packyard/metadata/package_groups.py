"""Package groups: a domain's groups with their origin control settings, and the group check
publishing and keeping upstream copies make inside their own transactions.

The rules (patterns, the hierarchy, INHERIT, the decision) are ``packyard.package_groups``'s;
this part stores what a group is and reads a domain's groups back as the rules take them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import Row

from packyard.errors import Conflict, Denied, NotFound
from packyard.metadata.resource_tags import insert_tags
from packyard.metadata.rows import new_id
from packyard.metadata.schema import (
    package_group_repositories,
    package_groups,
    packages,
    repositories,
    resource_tags,
)
from packyard.metadata.transactions import CatalogBase
from packyard.model import Domain
from packyard.package_groups.hierarchy import associated_group
from packyard.package_groups.origin_controls import (
    ROOT_DEFAULT,
    OriginConfiguration,
    RestrictionMode,
    RestrictionType,
    effective_restrictions,
    group_decision,
)
from packyard.package_groups.patterns import ROOT, PackageGroupPattern, parse_pattern

# The resourceType of a package group's NotFound and Conflict. CodeArtifact's ResourceType enum
# (botocore's model) has no value for package groups and none of its values is one, so this is
# the ARN's resource type; SDKs with typed enums keep it as an unknown value.
GROUP_RESOURCE: Final = "package-group"

_MODE_COLUMNS: Final = {
    RestrictionType.PUBLISH: "publish_mode",
    RestrictionType.EXTERNAL_UPSTREAM: "external_upstream_mode",
    RestrictionType.INTERNAL_UPSTREAM: "internal_upstream_mode",
}


@dataclass(frozen=True)
class PackageGroupRecord:
    """A stored package group: its pattern (as written, also its identifier), what describes
    it, and its own origin configuration (allowed repositories by name)."""

    id: int
    domain_id: int
    pattern: str
    description: str | None
    contact_info: str | None
    created_at: datetime
    configuration: OriginConfiguration

    @property
    def parsed(self) -> PackageGroupPattern:
        return parse_pattern(self.pattern)


def _modes(values: Mapping[RestrictionType, RestrictionMode]) -> dict[str, str]:
    return {_MODE_COLUMNS[t]: values.get(t, RestrictionMode.INHERIT).value
            for t in RestrictionType}


def _records(conn: Connection, rows: Sequence[Row[Any]]) -> list[PackageGroupRecord]:
    if not rows:
        return []
    allowed: dict[int, dict[RestrictionType, set[str]]] = {}
    for a in conn.execute(
            select(package_group_repositories.c.package_group_id,
                   package_group_repositories.c.restriction,
                   repositories.c.name)
            .join(repositories,
                  package_group_repositories.c.repository_id == repositories.c.id)
            .where(package_group_repositories.c.package_group_id.in_(
                [r.id for r in rows]))):
        lists = allowed.setdefault(a.package_group_id, {})
        lists.setdefault(RestrictionType(a.restriction), set()).add(a.name)
    return [PackageGroupRecord(
        id=r.id, domain_id=r.domain_id, pattern=r.pattern, description=r.description,
        contact_info=r.contact_info, created_at=r.created_at,
        configuration=OriginConfiguration(
            modes={t: RestrictionMode(getattr(r, column)) for t, column in _MODE_COLUMNS.items()},
            allowed_repositories={t: frozenset(names)
                                  for t, names in allowed.get(r.id, {}).items()}))
        for r in rows]


def domain_groups(conn: Connection, domain_id: int) -> list[PackageGroupRecord]:
    """Every group of a domain, by pattern (in the caller's transaction)."""
    rows = conn.execute(select(package_groups).where(package_groups.c.domain_id == domain_id)
                        .order_by(package_groups.c.pattern)).all()
    return _records(conn, rows)


def insert_root_group(conn: Connection, domain_id: int, now: datetime) -> None:
    """The root group ``/*`` a new domain starts with: every origin allowed."""
    conn.execute(insert(package_groups).values(
        domain_id=domain_id, pattern=ROOT, description=None, contact_info=None, created_at=now,
        **_modes(ROOT_DEFAULT.modes)))


def delete_domain_groups(conn: Connection, domain_id: int) -> None:
    """A deleted domain's groups, their allowed lists and tags."""
    ids = select(package_groups.c.id).where(package_groups.c.domain_id == domain_id)
    conn.execute(delete(resource_tags).where(resource_tags.c.resource_type == GROUP_RESOURCE,
                                             resource_tags.c.resource_id.in_(ids)))
    conn.execute(delete(package_group_repositories).where(
        package_group_repositories.c.package_group_id.in_(ids)))
    conn.execute(delete(package_groups).where(package_groups.c.domain_id == domain_id))


def group_configurations(conn: Connection, domain_id: int
                         ) -> dict[PackageGroupPattern, OriginConfiguration]:
    """Every group of a domain with its own origin configuration, for ``group_refusal``."""
    return {g.parsed: g.configuration for g in domain_groups(conn, domain_id)}


def group_refusal(conn: Connection, domain_id: int, repository: str,
                  restriction: RestrictionType, fmt: str, namespace: str, name: str,
                  display_name: str,
                  groups: Mapping[PackageGroupPattern, OriginConfiguration] | None = None
                  ) -> Denied | None:
    """Why the package's group keeps a version of it out of ``repository`` that way (None: it
    does not). Judged in the caller's transaction, where concurrent writers meet; a batch
    passes ``groups`` (``group_configurations``, read once in that transaction)."""
    if groups is None:
        groups = group_configurations(conn, domain_id)
    associated = associated_group(groups, fmt, namespace or None, name)
    effective = effective_restrictions(associated.pattern, groups)
    decision = group_decision(restriction, repository, associated, effective)
    if decision.allowed:
        return None
    what = ("Publishing" if restriction is RestrictionType.PUBLISH else "Keeping")
    return Denied(f"{what} {display_name} to repository {repository} is blocked: "
                  f"{decision.reason}", resource_id=name, resource_type="package")


class PackageGroupStore(CatalogBase):
    """Package groups."""

    def create_package_group(self, domain: Domain, pattern: str, description: str | None,
                             contact_info: str | None, now: datetime,
                             tags: Mapping[str, str] | None = None) -> PackageGroupRecord:
        # A group's tags are resource tags (decisions on its ARN see them): an access write.
        with self._write(changes_access=True) as conn:
            if self._group_row(conn, domain.id, pattern) is not None:
                raise Conflict(f"Package group {pattern} already exists in domain "
                               f"{domain.name}", resource_id=pattern,
                               resource_type=GROUP_RESOURCE)
            group_id = new_id(conn, insert(package_groups).values(
                domain_id=domain.id, pattern=pattern, description=description,
                contact_info=contact_info, created_at=now,
                **_modes({t: RestrictionMode.INHERIT for t in RestrictionType})))
            insert_tags(conn, GROUP_RESOURCE, group_id, tags or {})
            return self._one(conn, domain, pattern)

    def get_package_group(self, domain: Domain, pattern: str) -> PackageGroupRecord:
        """``NotFound`` when the domain has no such group."""
        with self._read() as conn:
            return self._one(conn, domain, pattern)

    def list_package_groups(self, domain: Domain) -> list[PackageGroupRecord]:
        """Every group of the domain (the root included), by pattern."""
        with self._read() as conn:
            return domain_groups(conn, domain.id)

    def update_package_group(self, domain: Domain, pattern: str, description: str | None,
                             contact_info: str | None) -> PackageGroupRecord:
        """Set the description and/or contact info (None leaves one as it is)."""
        values = {key: value for key, value in (("description", description),
                                                ("contact_info", contact_info))
                  if value is not None}
        with self._write() as conn:
            group = self._one(conn, domain, pattern)
            if values:
                conn.execute(update(package_groups).where(package_groups.c.id == group.id)
                             .values(**values))
            return self._one(conn, domain, pattern)

    def update_package_group_origin(
            self, domain: Domain, pattern: str,
            change: Callable[[OriginConfiguration], OriginConfiguration]
    ) -> tuple[PackageGroupRecord, PackageGroupRecord]:
        """Apply ``change`` to the group's own origin configuration in one transaction.

        ``change`` sees the stored configuration and returns the new one, or raises (nothing
        changes then). ``NotFound`` for a repository on an allowed list that the domain does
        not have. Returns the group before and after.
        """
        with self._write() as conn:
            before = self._one(conn, domain, pattern)
            after = change(before.configuration)
            names = sorted({n for t in RestrictionType for n in after.allowed(t)})
            ids = {r.name: r.id for r in conn.execute(
                select(repositories.c.id, repositories.c.name).where(
                    repositories.c.domain_id == domain.id, repositories.c.name.in_(names)))}
            for name in names:
                if name not in ids:
                    raise NotFound(f"Repository {name} not found in domain {domain.name}",
                                   resource_id=name, resource_type="repository")
            conn.execute(update(package_groups).where(package_groups.c.id == before.id)
                         .values(**_modes(after.modes)))
            conn.execute(delete(package_group_repositories).where(
                package_group_repositories.c.package_group_id == before.id))
            rows = [{"package_group_id": before.id, "restriction": t.value,
                     "repository_id": ids[n]}
                    for t in RestrictionType for n in sorted(after.allowed(t))]
            if rows:
                conn.execute(insert(package_group_repositories), rows)
            return before, self._one(conn, domain, pattern)

    def delete_package_group(self, domain: Domain, pattern: str) -> PackageGroupRecord:
        """Delete a group with its allowed lists and tags; returns it as it was. Its children
        become children of its parent: the hierarchy is computed from the patterns left."""
        with self._write(changes_access=True) as conn:  # its tags go: an access write
            group = self._one(conn, domain, pattern)
            conn.execute(delete(resource_tags).where(
                resource_tags.c.resource_type == GROUP_RESOURCE,
                resource_tags.c.resource_id == group.id))
            conn.execute(delete(package_group_repositories).where(
                package_group_repositories.c.package_group_id == group.id))
            conn.execute(delete(package_groups).where(package_groups.c.id == group.id))
            return group

    def group_refusal(self, domain_id: int, repository: str, restriction: RestrictionType,
                      fmt: str, namespace: str, name: str,
                      display_name: str | None = None) -> str | None:
        """Why the package's group keeps versions out of ``repository`` that way (a reason
        naming the group), or None: the check publishing makes, asked before bytes are
        stored."""
        with self._read() as conn:
            refusal = group_refusal(conn, domain_id, repository, restriction, fmt, namespace,
                                    name, display_name or name)
        return refusal.message if refusal is not None else None

    def domain_packages(self, domain_id: int) -> list[tuple[str, str, str]]:
        """Every package of the domain once, whatever repositories hold it: (format,
        namespace, name), sorted."""
        with self._read() as conn:
            rows = conn.execute(
                select(packages.c.format, packages.c.namespace, packages.c.name).distinct()
                .join(repositories, packages.c.repository_id == repositories.c.id)
                .where(repositories.c.domain_id == domain_id)
                .order_by(packages.c.format, packages.c.namespace, packages.c.name)).all()
        return [(r.format, r.namespace, r.name) for r in rows]

    @staticmethod
    def _group_row(conn: Connection, domain_id: int, pattern: str) -> Row[Any] | None:
        return conn.execute(select(package_groups).where(
            package_groups.c.domain_id == domain_id,
            package_groups.c.pattern == pattern)).first()

    def _one(self, conn: Connection, domain: Domain, pattern: str) -> PackageGroupRecord:
        row = self._group_row(conn, domain.id, pattern)
        if row is None:
            raise NotFound(f"Package group {pattern} not found in domain {domain.name}",
                           resource_id=pattern, resource_type=GROUP_RESOURCE)
        return _records(conn, [row])[0]
