"""Publishing a version asset by asset (CodeArtifact's PublishPackageVersion, for generic
packages): a version stays Unfinished while assets are added with ``unfinished``, and becomes
Published with its last asset, after which it takes no new one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from packyard.errors import Conflict
from packyard.metadata.blob_sweeps import claim_blobs
from packyard.metadata.new_files import (
    NewAsset,
    NewVersion,
    file_exists,
    insert_asset,
    insert_version,
    new_revision,
    version_closed,
    version_row,
)
from packyard.metadata.publishing import PublishResult, package_to_publish_into
from packyard.metadata.rows import asset_record, package_record, version_record
from packyard.metadata.schema import assets, package_versions
from packyard.metadata.serials import bump_serials
from packyard.metadata.transactions import CatalogBase
from packyard.model import Repository

UNFINISHED = "Unfinished"
PUBLISHED = "Published"


class AssetPublishingStore(CatalogBase):
    """Versions published asset by asset."""

    def publish_asset(self, repository: Repository, fmt: str, namespace: str, name: str,
                      display_name: str, new_version: NewVersion, new_asset: NewAsset,
                      blob_sizes: dict[str, int], now: datetime, *,
                      finished: bool) -> PublishResult:
        """Add one asset to a version (new, or Unfinished), which is Published when
        ``finished`` and Unfinished otherwise. The same asset again is a no-op (``created``
        False) that still finishes an Unfinished version when ``finished``; ``Conflict`` for
        the same name with other bytes, or a new asset for a version no longer Unfinished;
        ``Denied`` when the package's origin controls block publishing."""
        with self._write() as conn:
            claim_blobs(conn, repository.domain_id, blob_sizes, now, self._blob_present)
            pkg = package_to_publish_into(conn, repository, fmt, namespace, name,
                                          display_name, now)
            ver = version_row(conn, pkg.id, new_version.version_key)
            if ver is None:
                ver = insert_version(conn, pkg.id, new_version, now, new_version.origin_type,
                                      repository.id, None)
                conn.execute(update(package_versions).where(package_versions.c.id == ver.id)
                             .values(status=UNFINISHED))
                status = UNFINISHED
            else:
                status = ver.status
            existing = conn.execute(select(assets).where(
                assets.c.package_version_id == ver.id,
                assets.c.name == new_asset.name)).first()
            created = existing is None
            if existing is not None and existing.sha256 != new_asset.sha256:
                raise file_exists(new_asset.name, ver.version)
            if created and status == PUBLISHED:
                raise Conflict(
                    f"Version {ver.version} of {display_name} is Published, so it takes no new "
                    f"asset: publish every asset of a version but the last with --unfinished "
                    "(unfinished=true), or publish a new version",
                    resource_id=ver.version, resource_type="package-version")
            if created and status != UNFINISHED:
                raise version_closed(ver.version, display_name, status)
            if created:
                insert_asset(conn, ver.id, new_asset, now)
            if finished and status == UNFINISHED:
                conn.execute(update(package_versions).where(package_versions.c.id == ver.id)
                             .values(status=PUBLISHED, revision=new_revision()))
            if created or (finished and status == UNFINISHED):
                bump_serials(conn, [pkg.id], now)
            ver = conn.execute(select(package_versions).where(
                package_versions.c.id == ver.id)).one()
            asset = conn.execute(select(assets).where(
                assets.c.package_version_id == ver.id, assets.c.name == new_asset.name)).one()
            return PublishResult(package_record(pkg), version_record(ver), asset_record(asset),
                                 created)
