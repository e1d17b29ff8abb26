"""Kept copies: files pulled through upstreams and external connections, retained in the
repositories they passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from packyard.metadata.blob_sweeps import claim_blobs
from packyard.metadata.new_files import (
    NewAsset,
    NewVersion,
    SiblingFile,
    insert_asset,
    insert_version_id,
    sibling_files,
    version_row,
)
from packyard.metadata.outbox import CREATED, UPDATED, version_changes, write_version_events
from packyard.metadata.rendered_pages import forget_changed
from packyard.metadata.rows import ASSET_JOIN, asset_record, version_record
from packyard.metadata.schema import asset_blobs, assets, package_versions, packages
from packyard.metadata.serials import bump_serials
from packyard.metadata.transactions import CatalogBase
from packyard.model import Repository

# Built once (``new_files``' module docstring says why).
_PACKAGE = select(packages).where(
    packages.c.repository_id == bindparam("repository_id"),
    packages.c.format == bindparam("format"), packages.c.namespace == bindparam("namespace"),
    packages.c.name == bindparam("name"))
_INSERT_PACKAGE = insert(packages)


@dataclass(frozen=True)
class EntryPoint:
    """The origin a kept copy records: the same for every repository that keeps the version."""

    origin_type: str
    repository_id: int | None
    external_connection: str | None


class RetentionStore(CatalogBase):
    """Copies of files kept from upstream."""

    def retain(self, targets: Sequence[Repository], fmt: str, namespace: str, name: str,
               display_name: str, new_version: NewVersion, new_asset: NewAsset,
               entry: EntryPoint, blob_sizes: dict[str, int], now: datetime) -> list[Repository]:
        """Keep a copy of one file (and its version and package, when new) in each target.

        Used for files pulled through upstreams and external connections. A target whose package
        has since been set to ``upstream: BLOCK``, or whose version is no longer listed, is left
        alone; a target that already holds the file is a no-op, and so is one where the format's
        rule says the file would take the place of another (``file_rules``). Returns the
        targets that now hold a new copy.
        """
        kept: list[Repository] = []
        if not targets:
            return kept
        # Adds packages, versions and files only: the domain's graph, groups and tags stand.
        with self._write(content_only=True) as conn:
            claim_blobs(conn, targets[0].domain_id, blob_sizes, now, self._blob_present)
            # The packages and versions that took the file, the versions by whether new.
            package_ids: list[int] = []
            versions: dict[bool, list[int]] = {True: [], False: []}
            for repository in targets:
                found = self._retain_one(conn, repository, fmt, namespace, name,
                                         display_name, new_version, new_asset, entry, now)
                if found is not None:
                    kept.append(repository)
                    package_ids.append(found[0])
                    versions[found[2]].append(found[1])
            bump_serials(conn, package_ids, now)
            # Retaining a version from an upstream is an event in CodeArtifact too: the
            # events of every target read and queued together (one query and one insert).
            for created, ids in versions.items():
                write_version_events(conn, version_changes(
                    conn, ids, CREATED if created else UPDATED,
                    assets_added=dict.fromkeys(ids, 1), metadata_updated=created,
                    status_changed=created), now)
            # Kept copies live in repositories with upstreams or an external connection,
            # whose pages are merged on read and never rendered after a write
            # (``rendered_pages``): nothing to queue (one read transaction less per file).
            # Should the links have gone meanwhile, the page is rendered on its first read.
            forget_changed(conn)
        return kept

    def _retain_one(self, conn: Connection, repository: Repository, fmt: str, namespace: str,
                    name: str, display_name: str, new_version: NewVersion, new_asset: NewAsset,
                    entry: EntryPoint, now: datetime) -> tuple[int, int, bool] | None:
        """Keep the file in one repository: (the package's id, the version's id, whether the
        version is new), or None when the repository does not take it. Its serial and event
        are the caller's to write, for every repository at once."""
        key = {"repository_id": repository.id, "format": fmt, "namespace": namespace,
               "name": name}
        # What is inserted here is not read back: the ids the inserts return are all that is
        # needed of a new package or version, and a new version has no files yet.
        pkg = conn.execute(_PACKAGE, key).first()
        if pkg is None:
            # CodeArtifact's defaults for a package whose first version came from upstream.
            inserted = conn.execute(_INSERT_PACKAGE, {
                **key, "display_name": display_name, "origin_publish": "BLOCK",
                "origin_upstream": "ALLOW", "created_at": now}).inserted_primary_key
            assert inserted is not None
            package_id = int(inserted[0])
        elif pkg.origin_upstream != "ALLOW":
            return None
        else:
            package_id = pkg.id
        ver = version_row(conn, package_id, new_version.version_key)
        created = ver is None
        siblings: list[SiblingFile] = []
        if ver is None:
            version_id = insert_version_id(conn, package_id, new_version, now,
                                           entry.origin_type, entry.repository_id,
                                           entry.external_connection)
        elif ver.status not in ("Published", "Unlisted"):
            return None
        else:
            version_id = ver.id
            siblings = sibling_files(conn, version_id)
        if any(sibling.name == new_asset.name for sibling in siblings):
            return None
        rule = self._file_rules.get(fmt)
        if rule is not None and rule(new_asset.name, siblings) is not None:
            return None
        insert_asset(conn, version_id, new_asset, now, new_revision_needed=not created)
        return package_id, version_id, created

    def retain_from(self, source_repository_id: int, fmt: str, name: str, filename: str,
                    targets: Sequence[Repository], now: datetime,
                    namespace: str = "", version_key: str | None = None) -> bool:
        """Keep in ``targets`` a copy of a file another repository of the domain holds (of
        the version ``version_key`` when given, as ``find_asset``).

        The copy shares the stored bytes and records the version's original entry point.
        False when the source no longer holds the file.
        """
        query = (select(assets, package_versions.c.id.label("version_id"),
                        packages.c.display_name)
                 .select_from(ASSET_JOIN)
                 .where(packages.c.repository_id == source_repository_id,
                        packages.c.format == fmt, packages.c.namespace == namespace,
                        packages.c.name == name, assets.c.name == filename))
        if version_key is not None:
            query = query.where(package_versions.c.version_key == version_key)
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                return False
            version = conn.execute(select(package_versions).where(
                package_versions.c.id == row.version_id)).one()
            companions = tuple(r.sha256 for r in conn.execute(
                select(asset_blobs.c.sha256).where(asset_blobs.c.asset_id == row.id)
                .order_by(asset_blobs.c.sha256)))
        source = version_record(version)
        entry = EntryPoint(version.origin_type, version.origin_repository_id,
                           version.origin_external_connection)
        new_version = NewVersion(
            version=source.version, version_key=source.version_key, summary=source.summary,
            home_page=source.home_page, source_code_repository=source.source_code_repository,
            licenses=source.licenses, readme=source.readme,
            readme_content_type=source.readme_content_type, dependencies=source.dependencies,
            origin_type=source.origin_type, attributes=source.attributes)
        asset = asset_record(row)
        new_asset = NewAsset(name=asset.name, size=asset.size, sha256=asset.sha256,
                             sha512=asset.sha512, sha1=asset.sha1, md5=asset.md5,
                             attributes=asset.attributes, companions=companions)
        self.retain(targets, fmt, namespace, name, row.display_name, new_version, new_asset,
                    entry, {}, now)
        return True
