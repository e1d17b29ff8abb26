"""Tags on domains, repositories and package groups (TagResource, ``--tags`` on create).

The limits and what TagResource and UntagResource do are ``packyard.tagging``'s rules; this part
stores a resource's tags and finds a resource by the names its ARN gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from sqlalchemy import Connection, delete, insert, select

from packyard.errors import NotFound
from packyard.metadata.schema import domains, package_groups, repositories, resource_tags
from packyard.metadata.transactions import CatalogBase

DOMAIN: Final = "domain"
REPOSITORY: Final = "repository"
PACKAGE_GROUP: Final = "package-group"
RESOURCE_TYPES: Final = (DOMAIN, REPOSITORY, PACKAGE_GROUP)


def insert_tags(conn: Connection, resource_type: str, resource_id: int,
                tags: Mapping[str, str]) -> None:
    if tags:
        conn.execute(insert(resource_tags), [
            {"resource_type": resource_type, "resource_id": resource_id, "tag_key": key,
             "tag_value": value} for key, value in tags.items()])


def delete_tags(conn: Connection, resource_type: str, resource_id: int) -> None:
    conn.execute(delete(resource_tags).where(resource_tags.c.resource_type == resource_type,
                                             resource_tags.c.resource_id == resource_id))


def _tags(conn: Connection, resource_type: str, resource_id: int) -> dict[str, str]:
    rows = conn.execute(select(resource_tags.c.tag_key, resource_tags.c.tag_value).where(
        resource_tags.c.resource_type == resource_type,
        resource_tags.c.resource_id == resource_id).order_by(resource_tags.c.tag_key))
    return {r.tag_key: r.tag_value for r in rows}


def _resource_id(conn: Connection, resource_type: str, owner: str, domain: str,
                 name: str | None) -> int | None:
    domain_id = conn.execute(select(domains.c.id).where(
        domains.c.owner == owner, domains.c.name == domain)).scalar_one_or_none()
    if domain_id is None or resource_type == DOMAIN:
        return domain_id
    if resource_type == REPOSITORY:
        found = conn.execute(select(repositories.c.id).where(
            repositories.c.domain_id == domain_id, repositories.c.name == name))
    else:
        found = conn.execute(select(package_groups.c.id).where(
            package_groups.c.domain_id == domain_id, package_groups.c.pattern == name))
    return found.scalar_one_or_none()


class ResourceTagStore(CatalogBase):
    """Tags on domains, repositories and package groups, found by the resource's names."""

    def resource_tags(self, resource_type: str, owner: str, domain: str,
                      name: str | None = None) -> dict[str, str] | None:
        """The tags of a domain (``name`` None), a repository or a package group (its
        pattern), by key; None when there is no such resource."""
        with self._read() as conn:
            resource_id = _resource_id(conn, resource_type, owner, domain, name)
            if resource_id is None:
                return None
            return _tags(conn, resource_type, resource_id)

    def change_resource_tags(self, resource_type: str, owner: str, domain: str,
                             name: str | None,
                             change: Callable[[dict[str, str]], dict[str, str]]
                             ) -> dict[str, str]:
        """Replace a resource's tags with what ``change`` makes of them, in one transaction
        (``change`` may refuse by raising: nothing changes then). ``NotFound`` when there is
        no such resource."""
        with self._write(changes_access=True) as conn:
            resource_id = _resource_id(conn, resource_type, owner, domain, name)
            if resource_id is None:
                label = {DOMAIN: "Domain", REPOSITORY: "Repository",
                         PACKAGE_GROUP: "Package group"}[resource_type]
                raise NotFound(f"{label} {name or domain} not found",
                               resource_id=name or domain, resource_type=resource_type)
            tags = change(_tags(conn, resource_type, resource_id))
            delete_tags(conn, resource_type, resource_id)
            insert_tags(conn, resource_type, resource_id, tags)
            return tags
