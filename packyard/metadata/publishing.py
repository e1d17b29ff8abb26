"""Publishing files (one, or many in a batch) and changing a version's status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from packyard.errors import PackyardError
from packyard.metadata.batch_publish import BatchPublish
from packyard.metadata.blob_sweeps import claim_blobs
from packyard.metadata.new_files import (
    OPEN_STATUSES,
    NewAsset,
    NewFile,
    NewVersion,
    file_exists,
    insert_asset,
    insert_version,
    new_revision,
    publish_blocked,
    repository_gone,
    sibling_files,
    standing_repositories,
    version_closed,
    version_row,
)
from packyard.metadata.outbox import (
    CREATED,
    UPDATED,
    version_changes,
    write_version_events,
)
from packyard.metadata.package_groups import group_refusal
from packyard.metadata.rows import asset_record, package_record, version_record
from packyard.metadata.schema import assets, package_versions, packages
from packyard.metadata.serials import bump_serials
from packyard.metadata.tags import write_package_tags
from packyard.metadata.transactions import CatalogBase
from packyard.model import Asset, Package, PackageVersion, Repository
from packyard.package_groups.origin_controls import RestrictionType


@dataclass(frozen=True)
class PublishResult:
    package: Package
    version: PackageVersion
    asset: Asset
    created: bool  # False when the identical file was already there


class PublishingStore(CatalogBase):
    """Writes of new files and version statuses."""

    def update_version_status(self, version: PackageVersion, status: str) -> PackageVersion:
        with self._write() as conn:
            conn.execute(update(package_versions).where(package_versions.c.id == version.id)
                         .values(status=status, revision=new_revision()))
            bump_serials(conn, [version.package_id], datetime.now(UTC))
            write_version_events(conn, version_changes(
                conn, [version.id], UPDATED, status_changed=status != version.status),
                datetime.now(UTC))
            return version_record(conn.execute(select(package_versions).where(
                package_versions.c.id == version.id)).one())

    def publish(self, repository: Repository, fmt: str, namespace: str, name: str,
                display_name: str, new_version: NewVersion, new_asset: NewAsset,
                blob_sizes: dict[str, int], now: datetime,
                tag_changes: Mapping[str, str | None] | None = None) -> PublishResult:
        """Add one asset (and its package and version when new) in one transaction.

        A file of the same name with the same bytes is a no-op; with other bytes it is a conflict
        and nothing changes. So is a file the format's rule says would take the place of one
        the version holds under another name (``file_rules``). ``tag_changes``: tags (npm's
        dist-tags) pointed at a version key, or removed (None), in the same transaction when
        the asset is added.
        """
        with self._write() as conn:
            result = self._publish_one(conn, repository, fmt, namespace,
                                       NewFile(name, display_name, new_version, new_asset,
                                               blob_sizes), now)
            if tag_changes and result.created:
                write_package_tags(conn, result.package.id, tag_changes)
            return result

    def publish_many(self, repository: Repository, fmt: str, namespace: str,
                     files: Sequence[NewFile], now: datetime) -> list[bool | PackyardError]:
        """Add many files in one transaction (bulk imports), with a few statements per batch.

        Each file gets ``publish``'s rules, in order, as if published one after the other:
        True when it was added, False when the identical file was already there (or earlier in
        the batch), or the error that refuses it (other bytes under its name, a closed version,
        the package's origin controls), which changes nothing for that file and does not stop
        the others; the tag changes of each file added are written, in order. The rest commit
        together, or not at all. ``namespace`` is the packages' unless a file names its own.
        """
        with self._write() as conn:
            return BatchPublish(conn, repository, fmt, namespace, now,
                                self._file_rules.get(fmt), self._blob_present).run(files)

    def _publish_one(self, conn: Connection, repository: Repository, fmt: str, namespace: str,
                     file: NewFile, now: datetime) -> PublishResult:
        name, display_name = file.name, file.display_name
        new_version, new_asset = file.version, file.asset
        claim_blobs(conn, repository.domain_id, file.blob_sizes, now, self._blob_present)
        pkg = package_to_publish_into(conn, repository, fmt, namespace, name, display_name,
                                      now)
        ver = version_row(conn, pkg.id, new_version.version_key)
        created = ver is None
        if ver is None:
            ver = insert_version(conn, pkg.id, new_version, now, new_version.origin_type,
                                  repository.id, None)
        existing = conn.execute(select(assets).where(
            assets.c.package_version_id == ver.id,
            assets.c.name == new_asset.name)).first()
        if existing is not None:
            if existing.sha256 != new_asset.sha256:
                raise file_exists(new_asset.name, ver.version)
            return PublishResult(package_record(pkg), version_record(ver), asset_record(existing), False)
        rule = self._file_rules.get(fmt)
        conflict = rule(new_asset.name, sibling_files(conn, ver.id)) if rule else None
        if conflict is not None:
            raise conflict
        if ver.status not in OPEN_STATUSES:
            raise version_closed(ver.version, display_name, ver.status)
        insert_asset(conn, ver.id, new_asset, now)
        bump_serials(conn, [pkg.id], now)
        write_version_events(conn, version_changes(
            conn, [ver.id], CREATED if created else UPDATED, assets_added={ver.id: 1},
            metadata_updated=created, status_changed=created), now)
        ver = conn.execute(select(package_versions).where(
            package_versions.c.id == ver.id)).one()
        asset = conn.execute(select(assets).where(
            assets.c.package_version_id == ver.id, assets.c.name == new_asset.name)).one()
        return PublishResult(package_record(pkg), version_record(ver), asset_record(asset), True)


def package_to_publish_into(conn: Connection, repository: Repository, fmt: str,
                            namespace: str, name: str, display_name: str, now: datetime
                            ) -> Row[Any]:
    """The package a publish adds to, made when it is the first version (origin controls
    publish ALLOW, upstream BLOCK: CodeArtifact's default for a package first published);
    ``Denied`` when the package's origin configuration, then its group's PUBLISH restriction,
    refuses the publish. In the caller's write transaction."""
    where = (packages.c.repository_id == repository.id, packages.c.format == fmt,
             packages.c.namespace == namespace, packages.c.name == name)
    pkg = conn.execute(select(packages).where(*where)).first()
    if pkg is not None and pkg.origin_publish != "ALLOW":
        raise publish_blocked(repository, name, display_name)
    refusal = group_refusal(conn, repository.domain_id, repository.name,
                            RestrictionType.PUBLISH, fmt, namespace, name, display_name)
    if refusal is not None:
        raise refusal
    if pkg is None:
        if not standing_repositories(conn, [repository.id]):
            raise repository_gone(repository)
        conn.execute(insert(packages).values(
            repository_id=repository.id, format=fmt, namespace=namespace, name=name,
            display_name=display_name, origin_publish="ALLOW", origin_upstream="BLOCK",
            created_at=now))
        pkg = conn.execute(select(packages).where(*where)).one()
    return pkg
