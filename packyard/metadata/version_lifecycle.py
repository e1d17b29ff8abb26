"""The package version lifecycle in the catalog: status changes, disposing of and deleting
versions, deleting packages, and copying versions between repositories of a domain.

Each is one write transaction that reads the versions' current state, asks the caller's
``decide`` (the decision tables of ``packyard.lifecycle.version_changes``, bound by the service
to the request) what to do, and does it; so two requests at once are judged one after the
other, on what the first one left. Blobs the change frees are queued for the sweep
(``blob_sweeps``) in the same transaction; the caller runs the sweep after the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import Row

from packyard.errors import NotFound
from packyard.lifecycle.version_changes import (
    CopyDestination,
    CopySource,
    Plan,
    Status,
    VersionState,
)
from packyard.metadata.blob_sweeps import queue_unused_blobs
from packyard.metadata.new_files import new_revision
from packyard.metadata.outbox import (
    CREATED,
    DELETED,
    UPDATED,
    version_changes,
    write_version_events,
)
from packyard.metadata.package_groups import group_refusal
from packyard.metadata.rows import package_record
from packyard.metadata.schema import (
    asset_blobs,
    assets,
    package_tags,
    package_versions,
    packages,
    repositories,
)
from packyard.metadata.serials import bump_serials
from packyard.metadata.transactions import CatalogBase
from packyard.model import Package, Repository
from packyard.package_groups.origin_controls import RestrictionType

StatusDecision = Callable[[Mapping[str, VersionState | None]], Plan]
"""Decides a status change, disposal or deletion from each requested version's state (None:
the repository does not have it)."""

CopyDecision = Callable[[Mapping[str, CopySource | None], Mapping[str, CopyDestination | None],
                         str | None], Plan]
"""Decides a copy from what the source offers, what the destination holds, and why the
destination refuses publishing this package (None: it allows it)."""


@dataclass(frozen=True)
class VersionChanges:
    """What a lifecycle transaction did: the plan it followed, each successful version's state
    afterwards (by the version as requested), and the blobs it queued for the sweep."""

    plan: Plan
    states: dict[str, VersionState] = field(default_factory=dict)
    freed: list[str] = field(default_factory=list)


class VersionLifecycleStore(CatalogBase):
    """Lifecycle writes: each reads, decides and writes in one transaction."""

    def change_versions(self, package: Package, version_keys: Mapping[str, str],
                        decide: StatusDecision, now: datetime) -> VersionChanges:
        """Apply ``decide``'s plan to the package's versions: a new status (and revision), the
        assets gone for Disposed, the version gone for Deleted. ``version_keys`` maps each
        requested version to its normalized key."""
        with self._write() as conn:
            domain_id = _domain_of(conn, package)
            rows = _versions(conn, package.id, version_keys.values())
            current = {requested: (VersionState(rows[key].status, rows[key].revision)
                                   if key in rows else None)
                       for requested, key in version_keys.items()}
            plan = decide(current)
            if plan.failed:
                return VersionChanges(plan)
            states = dict(plan.unchanged)
            emptied: list[int] = []
            removed: list[int] = []
            for requested, target in plan.changes.items():
                row = rows[version_keys[requested]]
                if target is Status.DELETED:
                    removed.append(row.id)
                    states[requested] = VersionState(Status.DELETED.value, row.revision)
                    continue
                if target is Status.DISPOSED:
                    emptied.append(row.id)
                revision = new_revision()
                conn.execute(update(package_versions).where(package_versions.c.id == row.id)
                             .values(status=target.value, revision=revision))
                states[requested] = VersionState(target.value, revision)
            # Package events (``outbox``), read before the deleted rows go.
            changed = [rows[version_keys[v]].id for v, t in plan.changes.items()
                       if t is not Status.DELETED]
            events = [*version_changes(conn, changed, UPDATED, status_changed=True),
                      *version_changes(conn, removed, DELETED, status=Status.DELETED.value,
                                       status_changed=True)]
            freed = _remove_assets(conn, [*emptied, *removed])
            write_version_events(conn, events, now)
            if removed:
                keys = [row.version_key for row in rows.values() if row.id in removed]
                conn.execute(delete(package_tags).where(package_tags.c.package_id == package.id,
                                                        package_tags.c.version_key.in_(keys)))
                conn.execute(delete(package_versions).where(
                    package_versions.c.id.in_(removed)))
            if plan.changes:
                bump_serials(conn, [package.id], now)
            return VersionChanges(plan, states, queue_unused_blobs(conn, domain_id, freed, now))

    def delete_package(self, package: Package, now: datetime) -> tuple[Package, list[str]]:
        """Remove a package with its versions, assets, tags and origin configuration; returns
        it as it was, and the blobs queued for the sweep. ``NotFound`` when it is gone."""
        with self._write() as conn:
            row = conn.execute(select(packages).where(packages.c.id == package.id)).first()
            if row is None:
                raise NotFound(f"Package {package.display_name} not found",
                               resource_id=package.name, resource_type="package")
            domain_id = _domain_of(conn, package)
            version_ids = [r.id for r in conn.execute(select(package_versions.c.id).where(
                package_versions.c.package_id == package.id))]
            # Each version's deletion is a package event (``outbox``), read before it goes.
            write_version_events(conn, version_changes(
                conn, version_ids, DELETED, status=Status.DELETED.value, status_changed=True),
                now)
            freed = _remove_assets(conn, version_ids)
            conn.execute(delete(package_versions).where(
                package_versions.c.package_id == package.id))
            conn.execute(delete(package_tags).where(package_tags.c.package_id == package.id))
            conn.execute(delete(packages).where(packages.c.id == package.id))
            return package_record(row), queue_unused_blobs(conn, domain_id, freed, now)

    def copy_versions(self, sources: Sequence[int], destination: Repository, fmt: str,
                      namespace: str, name: str, version_keys: Mapping[str, str],
                      decide: CopyDecision, now: datetime) -> VersionChanges:
        """Copy versions of a package into ``destination``: version and asset records that
        share the stored bytes (assets are per domain), with the source's status, metadata,
        publish time and entry point, and a new revision each.

        ``sources`` are repository ids in search order, the source repository first (then its
        upstreams, for ``includeFromUpstream``): a version is taken from the first that has
        it. A copy over a version the destination holds (``allowOverwrite``) replaces it.
        """
        with self._write() as conn:
            offered: dict[str, tuple[Row[Any], CopySource]] = {}
            display_name = name
            for position, repository_id in enumerate(sources):
                package = _package(conn, repository_id, fmt, namespace, name)
                if package is None:
                    continue
                rows = _versions(conn, package.id, version_keys.values())
                for requested, key in version_keys.items():
                    row = rows.get(key)
                    if requested in offered or row is None:
                        continue
                    if not offered:
                        display_name = package.display_name
                    offered[requested] = (row, CopySource(
                        row.status, row.revision, _content(conn, row),
                        from_upstream=position > 0))
            target = _package(conn, destination.id, fmt, namespace, name)
            present = _versions(conn, target.id, version_keys.values()) if target else {}
            held = {requested: (CopyDestination(present[key].status,
                                                _content(conn, present[key]))
                                if key in present else None)
                    for requested, key in version_keys.items()}
            plan = decide({requested: found[1] for requested, found in offered.items()},
                          held, _publish_refusal(conn, destination, target, fmt, namespace, name,
                                                  display_name))
            if plan.failed or not plan.changes:
                return VersionChanges(plan)
            if target is None:
                conn.execute(insert(packages).values(
                    repository_id=destination.id, format=fmt, namespace=namespace, name=name,
                    display_name=display_name,
                    origin_publish="ALLOW", origin_upstream="BLOCK", created_at=now))
                target = _package(conn, destination.id, fmt, namespace, name)
                assert target is not None
            replaced = [present[version_keys[v]].id for v in plan.changes
                        if version_keys[v] in present]
            freed = _remove_assets(conn, replaced)
            if replaced:
                conn.execute(delete(package_versions).where(
                    package_versions.c.id.in_(replaced)))
            states: dict[str, VersionState] = {}
            copies: dict[int, int] = {}  # new version id -> its assets
            for requested, status in plan.changes.items():
                revision, copy_id, asset_count = _copy_version(
                    conn, offered[requested][0], target.id, status)
                states[requested] = VersionState(status.value, revision)
                copies[copy_id] = asset_count
            # A copy is a version created in the destination (``outbox``), as CodeArtifact
            # reports it; one it replaced is deleted first.
            write_version_events(conn, version_changes(
                conn, list(copies), CREATED, assets_added=copies), now)
            bump_serials(conn, [target.id], now)
            return VersionChanges(plan, states,
                                  queue_unused_blobs(conn, destination.domain_id, freed, now))


def _publish_refusal(conn: Connection, destination: Repository, package: Row[Any] | None,
                     fmt: str, namespace: str, name: str, display_name: str) -> str | None:
    """Why the destination refuses the copy (a copy publishes into it), or None: the package's
    origin configuration there, then its package group's PUBLISH restriction (the more
    restrictive wins, as for any publish: ``metadata/package_groups.group_refusal``)."""
    if package is not None and package.origin_publish != "ALLOW":
        return (f"the package's origin configuration in repository {destination.name} blocks "
                "publishing (publish: BLOCK)")
    refusal = group_refusal(conn, destination.domain_id, destination.name,
                            RestrictionType.PUBLISH, fmt, namespace, name, display_name)
    return refusal.message if refusal is not None else None


def _domain_of(conn: Connection, package: Package) -> int:
    return int(conn.execute(select(repositories.c.domain_id).where(
        repositories.c.id == package.repository_id)).scalar_one())


def _package(conn: Connection, repository_id: int, fmt: str, namespace: str,
             name: str) -> Row[Any] | None:
    return conn.execute(select(packages).where(
        packages.c.repository_id == repository_id, packages.c.format == fmt,
        packages.c.namespace == namespace, packages.c.name == name)).first()


def _versions(conn: Connection, package_id: int, keys: Any) -> dict[str, Row[Any]]:
    """The package's versions with these keys, by key, locked until the transaction ends
    (PostgreSQL; SQLite's writer holds the whole database already)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    return {row.version_key: row for row in conn.execute(
        select(package_versions).where(package_versions.c.package_id == package_id,
                                       package_versions.c.version_key.in_(wanted))
        .with_for_update())}


def _content(conn: Connection, version: Row[Any]) -> str:
    """What a version holds, as one digest: its files (names and bytes) and the format's data
    about it. Equal digests are identical versions (a copy of one is a no-op)."""
    files = sorted((row.name, row.sha256) for row in conn.execute(
        select(assets.c.name, assets.c.sha256).where(
            assets.c.package_version_id == version.id)))
    document = json.dumps({"files": files, "attributes": json.loads(version.attributes or "{}")},
                          sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()


def _remove_assets(conn: Connection, version_ids: Sequence[int]) -> list[str]:
    """Delete these versions' assets (and what they keep alive); returns the blobs they used."""
    if not version_ids:
        return []
    asset_ids = select(assets.c.id).where(assets.c.package_version_id.in_(list(version_ids)))
    used = [row.sha256 for row in conn.execute(
        select(assets.c.sha256).where(assets.c.package_version_id.in_(list(version_ids))))]
    used += [row.sha256 for row in conn.execute(
        select(asset_blobs.c.sha256).where(asset_blobs.c.asset_id.in_(asset_ids)))]
    conn.execute(delete(asset_blobs).where(asset_blobs.c.asset_id.in_(asset_ids)))
    conn.execute(delete(assets).where(assets.c.package_version_id.in_(list(version_ids))))
    return used


def _copy_version(conn: Connection, source: Row[Any], package_id: int, status: Status
                  ) -> tuple[str, int, int]:
    """Insert a copy of the version ``source`` (and its assets) into a package; returns the
    copy's revision, its id and how many assets it has."""
    revision = new_revision()
    values = {column.name: source._mapping[column.name] for column in package_versions.columns
              if column.name != "id"}
    values.update(package_id=package_id, status=status.value, revision=revision)
    new_id = conn.execute(insert(package_versions).values(**values)).inserted_primary_key
    assert new_id is not None
    copied_assets = conn.execute(select(assets).where(
        assets.c.package_version_id == source.id)).all()
    for asset in copied_assets:
        copied = {column.name: asset._mapping[column.name] for column in assets.columns
                  if column.name != "id"}
        copied["package_version_id"] = new_id[0]
        asset_id = conn.execute(insert(assets).values(**copied)).inserted_primary_key
        assert asset_id is not None
        companions = [row.sha256 for row in conn.execute(
            select(asset_blobs.c.sha256).where(asset_blobs.c.asset_id == asset.id))]
        if companions:
            conn.execute(insert(asset_blobs), [{"asset_id": asset_id[0], "sha256": sha}
                                               for sha in companions])
    return revision, new_id[0], len(copied_assets)
