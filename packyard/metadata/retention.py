"""Kept copies: files pulled through upstreams and external connections, retained in the
repositories they passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.engine import Row

from packyard.metadata.blob_sweeps import claim_blobs, queue_unused_blobs
from packyard.metadata.new_files import (
    NewAsset,
    NewVersion,
    insert_assets,
    insert_versions,
    sibling_files,
    standing_repositories,
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
_PACKAGES = select(packages).where(
    packages.c.repository_id.in_(bindparam("repository_ids", expanding=True)),
    packages.c.format == bindparam("format"), packages.c.namespace == bindparam("namespace"),
    packages.c.name == bindparam("name"))
_INSERT_PACKAGES = insert(packages).returning(packages.c.id, packages.c.repository_id)


def _insert_packages(conn: Connection, repository_ids: Sequence[int], key: dict[str, str],
                     display_name: str, now: datetime) -> dict[int, int]:
    """The package in each of these repositories, new, in one statement: repository id ->
    package id."""
    if not repository_ids:
        return {}
    # CodeArtifact's defaults for a package whose first version came from upstream.
    rows = conn.execute(_INSERT_PACKAGES, [{
        **key, "repository_id": repository_id, "display_name": display_name,
        "origin_publish": "BLOCK", "origin_upstream": "ALLOW", "created_at": now}
        for repository_id in repository_ids])
    return {int(row.repository_id): int(row.id) for row in rows}


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
        if not targets:
            return []
        # Adds packages, versions and files only: the domain's graph, groups and tags stand.
        domain_id = targets[0].domain_id
        with self._write(content_only=True) as conn:
            claim_blobs(conn, domain_id, blob_sizes, now, self._blob_present)
            # The statements of every target together (one each, not one per repository):
            # the package looked up, the new packages, versions and files inserted. What is
            # inserted is not read back: the ids the inserts return are all that is needed.
            key = {"format": fmt, "namespace": namespace, "name": name}
            found = {row.repository_id: row for row in conn.execute(
                _PACKAGES, {**key, "repository_ids": [r.id for r in targets]})}
            missing = [r.id for r in targets if r.id not in found]
            if missing:
                # A repository deleted while the file came takes nothing.
                standing = standing_repositories(conn, missing)
                targets = [r for r in targets if r.id in found or r.id in standing]
                missing = [i for i in missing if i in standing]
            new_packages = _insert_packages(conn, missing, key, display_name, now)
            # Where the file goes: (repository, package id, its version's id or None for a
            # version to insert).
            places: list[tuple[Repository, int, int | None]] = []
            for repository in targets:
                if repository.id in new_packages:
                    # A new package has no versions yet.
                    places.append((repository, new_packages[repository.id], None))
                    continue
                version_id = self._open_version(conn, found[repository.id], fmt,
                                                new_version, new_asset)
                if version_id is not False:
                    places.append((repository, found[repository.id].id, version_id))
            new_versions = insert_versions(
                conn, [package_id for _, package_id, version_id in places if version_id is None],
                new_version, now, entry.origin_type, entry.repository_id,
                entry.external_connection)
            # (repository, package id, version id, whether the version is new)
            kept = [(repository, package_id, new_versions[package_id], True)
                    if version_id is None else (repository, package_id, version_id, False)
                    for repository, package_id, version_id in places]
            if not kept:
                # No target takes the file (its versions closed while it was pulled): the
                # bytes the pull stored are queued for the sweep, not left with no asset.
                queue_unused_blobs(conn, domain_id, blob_sizes, now)
                return []
            # A version inserted in this transaction keeps its fresh revision; one already
            # there gets a new one, as CodeArtifact gives it.
            insert_assets(conn, [version_id for _, _, version_id, _ in kept], new_asset, now,
                          new_revisions=[version_id for _, _, version_id, created in kept
                                         if not created])
            bump_serials(conn, [package_id for _, package_id, _, _ in kept], now)
            # Retaining a version from an upstream is an event in CodeArtifact too: the
            # events of every target read and queued together (one query and one insert).
            for created in (True, False):
                ids = [version_id for _, _, version_id, new in kept if new == created]
                write_version_events(conn, version_changes(
                    conn, ids, CREATED if created else UPDATED,
                    assets_added=dict.fromkeys(ids, 1), metadata_updated=created,
                    status_changed=created), now)
            # Kept copies live in repositories with upstreams or an external connection,
            # whose pages are merged on read and never rendered after a write
            # (``rendered_pages``): nothing to queue (one read transaction less per file).
            # Should the links have gone meanwhile, the page is rendered on its first read.
            forget_changed(conn)
        return [repository for repository, *_ in kept]

    def _open_version(self, conn: Connection, package: Row[Any], fmt: str,
                      new_version: NewVersion, new_asset: NewAsset) -> int | None | Literal[False]:
        """Whether a package a repository holds already takes the file: the id of its version
        to add the file to, None when the version is to be inserted, or False when the
        repository does not take the file (the package blocks upstream, the version is closed
        or holds the file already, or the format's rule refuses it)."""
        if package.origin_upstream != "ALLOW":
            return False
        ver = version_row(conn, package.id, new_version.version_key)
        if ver is None:
            return None
        if ver.status not in ("Published", "Unlisted"):
            return False
        siblings = sibling_files(conn, ver.id)
        if any(sibling.name == new_asset.name for sibling in siblings):
            return False
        rule = self._file_rules.get(fmt)
        if rule is not None and rule(new_asset.name, siblings) is not None:
            return False
        return int(ver.id)

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
            origin_type=source.origin_type, attributes=source.attributes,
            published_at=source.published_at)
        asset = asset_record(row)
        new_asset = NewAsset(name=asset.name, size=asset.size, sha256=asset.sha256,
                             sha512=asset.sha512, sha1=asset.sha1, md5=asset.md5,
                             attributes=asset.attributes, companions=companions,
                             created_at=asset.created_at)
        self.retain(targets, fmt, namespace, name, row.display_name, new_version, new_asset,
                    entry, {}, now)
        return True
