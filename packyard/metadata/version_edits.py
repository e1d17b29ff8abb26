"""Changes to versions a repository holds, besides their status: the format's data about a
version (npm's deprecation message), and removing versions (npm's unpublish)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update

from packyard.metadata.new_files import encode_attributes, new_revision
from packyard.metadata.outbox import DELETED, UPDATED, version_changes, write_version_events
from packyard.metadata.repositories import drop_unused_blobs
from packyard.metadata.rows import version_record
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
from packyard.model import PackageVersion


class VersionEditStore(CatalogBase):
    """Edits of versions: their format attributes, and their removal."""

    def update_version_attributes(self, version: PackageVersion,
                                  attributes: Mapping[str, Any]) -> PackageVersion:
        with self._write() as conn:
            conn.execute(update(package_versions).where(package_versions.c.id == version.id)
                         .values(attributes=encode_attributes(attributes),
                                 revision=new_revision()))
            bump_serials(conn, [version.package_id], datetime.now(UTC))
            write_version_events(conn, version_changes(
                conn, [version.id], UPDATED, metadata_updated=True), datetime.now(UTC))
            return version_record(conn.execute(select(package_versions).where(
                package_versions.c.id == version.id)).one())

    def delete_versions(self, package_id: int, version_keys: Sequence[str]) -> list[str]:
        if not version_keys:
            return []
        with self._write() as conn:
            domain_id = conn.execute(
                select(repositories.c.domain_id).select_from(packages.join(
                    repositories, packages.c.repository_id == repositories.c.id))
                .where(packages.c.id == package_id)).scalar_one()
            ver_ids = select(package_versions.c.id).where(
                package_versions.c.package_id == package_id,
                package_versions.c.version_key.in_(list(version_keys)))
            asset_ids = select(assets.c.id).where(assets.c.package_version_id.in_(ver_ids))
            touched = {r.sha256 for r in conn.execute(
                select(assets.c.sha256).where(assets.c.package_version_id.in_(ver_ids)))}
            touched |= {r.sha256 for r in conn.execute(
                select(asset_blobs.c.sha256).where(asset_blobs.c.asset_id.in_(asset_ids)))}
            # The events first: they read the rows about to go.
            now = datetime.now(UTC)
            for (version_id,) in conn.execute(ver_ids).all():
                removed = len(conn.execute(select(assets.c.id).where(
                    assets.c.package_version_id == version_id)).all())
                write_version_events(conn, version_changes(
                    conn, [version_id], DELETED, status=DELETED, assets_removed=removed), now)
            conn.execute(delete(asset_blobs).where(asset_blobs.c.asset_id.in_(asset_ids)))
            conn.execute(delete(assets).where(assets.c.package_version_id.in_(ver_ids)))
            conn.execute(delete(package_tags).where(
                package_tags.c.package_id == package_id,
                package_tags.c.version_key.in_(list(version_keys))))
            conn.execute(delete(package_versions).where(
                package_versions.c.package_id == package_id,
                package_versions.c.version_key.in_(list(version_keys))))
            bump_serials(conn, [package_id], now)
            return drop_unused_blobs(conn, domain_id, touched)
