"""``Catalog.publish_many``: many files in one transaction, a few statements per batch."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import Row

from packyard.errors import PackyardError
from packyard.metadata.blob_sweeps import BlobPresent, claim_blobs
from packyard.metadata.new_files import (
    OPEN_STATUSES,
    FileRule,
    NewAsset,
    NewFile,
    NewVersion,
    SiblingFile,
    decode_attributes,
    encode_attributes,
    file_exists,
    new_revision,
    publish_blocked,
    repository_gone,
    standing_repositories,
    version_closed,
)
from packyard.metadata.outbox import CREATED, UPDATED, version_changes, write_version_events
from packyard.metadata.package_groups import group_configurations, group_refusal
from packyard.metadata.rows import chunks
from packyard.metadata.schema import asset_blobs, assets, package_versions, packages
from packyard.metadata.serials import bump_serials
from packyard.metadata.tags import write_package_tags
from packyard.model import Repository
from packyard.package_groups.origin_controls import RestrictionType

_Key = tuple[str, str]
"""A package of the batch: (namespace, name)."""


@dataclass(frozen=True)
class _VersionState:
    id: int
    version: str
    status: str


class BatchPublish:
    """``Catalog.publish_many`` inside its transaction: each step reads or writes the rows of
    the whole batch at once (packages, then versions, then assets), and the per-file rules run
    in Python on what was read, in file order."""

    def __init__(self, conn: Connection, repository: Repository, fmt: str, namespace: str,
                 now: datetime, file_rule: FileRule | None = None,
                 blob_present: BlobPresent | None = None) -> None:
        self._conn = conn
        self._repository = repository
        self._fmt = fmt
        self._namespace = namespace
        self._now = now
        self._file_rule = file_rule
        self._blob_present = blob_present

    def run(self, files: Sequence[NewFile]) -> list[bool | PackyardError]:
        results: dict[int, bool | PackyardError] = {}
        publishing = self._packages(files)
        refusals: dict[_Key, PackyardError | None] = {}
        groups = group_configurations(self._conn, self._repository.domain_id)
        for index, file in enumerate(files):
            key = self._key(file)
            if publishing[key] != "ALLOW":
                results[index] = publish_blocked(self._repository, file.name, file.display_name)
                continue
            if key not in refusals:
                refusals[key] = group_refusal(
                    self._conn, self._repository.domain_id, self._repository.name,
                    RestrictionType.PUBLISH, self._fmt, key[0], file.name,
                    file.display_name, groups)
            refusal = refusals[key]
            if refusal is not None:
                results[index] = refusal
        allowed = [(index, file) for index, file in enumerate(files) if index not in results]
        package_ids = self._package_ids([self._key(file) for _, file in allowed])
        versions = self._versions([(package_ids[self._key(file)], file.version)
                                   for _, file in allowed])
        stored, siblings = self._stored_files([version.id for version in versions.values()])
        added: list[tuple[int, NewAsset]] = []
        for index, file in allowed:
            version = versions[(package_ids[self._key(file)], file.version.version_key)]
            sha256 = stored.get((version.id, file.asset.name))
            conflict = None
            if sha256 is None and self._file_rule is not None:
                conflict = self._file_rule(file.asset.name, siblings.get(version.id, []))
            if sha256 == file.asset.sha256:
                results[index] = False
            elif sha256 is not None:
                results[index] = file_exists(file.asset.name, version.version)
            elif conflict is not None:
                results[index] = conflict
            elif version.status not in OPEN_STATUSES:
                results[index] = version_closed(version.version, file.display_name,
                                                 version.status)
            else:
                stored[(version.id, file.asset.name)] = file.asset.sha256
                siblings.setdefault(version.id, []).append(
                    SiblingFile(file.asset.name, file.asset.attributes))
                added.append((version.id, file.asset))
                results[index] = True
        claim_blobs(self._conn, self._repository.domain_id,
                    {sha: size for index, file in enumerate(files) if results[index] is True
                     for sha, size in file.blob_sizes.items()}, self._now, self._blob_present)
        self._insert_assets(added)
        for index, file in allowed:
            if results[index] is True and file.tag_changes:
                # In file order: each file's changes were planned on the tags its
                # predecessors in the batch leave.
                write_package_tags(self._conn, package_ids[self._key(file)], file.tag_changes)
        bump_serials(self._conn, {package_ids[self._key(file)] for index, file in allowed
                                  if results[index] is True}, self._now)
        self._write_events(added)
        return [results[index] for index in range(len(files))]

    def _dated(self, moment: datetime | None) -> datetime:
        """When a new version or file was published: as its origin says (an import's package
        document), never later than now; now when it says nothing."""
        return self._now if moment is None else min(moment, self._now)

    def _key(self, file: NewFile) -> _Key:
        return (self._namespace if file.namespace is None else file.namespace, file.name)

    def _write_events(self, added: Sequence[tuple[int, NewAsset]]) -> None:
        """One event per version that got files, in the batch's transaction (``outbox``)."""
        counts: dict[int, int] = {}
        for version_id, _ in added:
            counts[version_id] = counts.get(version_id, 0) + 1
        created = [v for v in counts if v in self.created_versions]
        updated = [v for v in counts if v not in self.created_versions]
        write_version_events(self._conn, [
            *version_changes(self._conn, created, CREATED, assets_added=counts,
                             metadata_updated=True, status_changed=True),
            *version_changes(self._conn, updated, UPDATED, assets_added=counts)], self._now)

    def _select_packages(self, keys: Iterable[_Key], *columns: Any) -> Iterator[Row[Any]]:
        """The rows (``columns`` and the namespace and name) of the packages ``keys`` name."""
        by_namespace: dict[str, set[str]] = {}
        for namespace, name in keys:
            by_namespace.setdefault(namespace, set()).add(name)
        for namespace, names in sorted(by_namespace.items()):
            for chunk in chunks(sorted(names)):
                yield from self._conn.execute(
                    select(packages.c.namespace, packages.c.name, *columns).where(
                        packages.c.repository_id == self._repository.id,
                        packages.c.format == self._fmt, packages.c.namespace == namespace,
                        packages.c.name.in_(chunk)))

    def _packages(self, files: Sequence[NewFile]) -> dict[_Key, str]:
        """Each package's origin control for publishing, creating the packages that are new
        (named as their first file in the batch names them)."""
        display_names = {self._key(file): file.display_name for file in reversed(files)}
        publishing = {(row.namespace, row.name): row.origin_publish
                      for row in self._select_packages(display_names, packages.c.origin_publish)}
        new = [{"repository_id": self._repository.id, "format": self._fmt,
                "namespace": namespace, "name": name, "display_name": display_name,
                "origin_publish": "ALLOW", "origin_upstream": "BLOCK", "created_at": self._now}
               for (namespace, name), display_name in display_names.items()
               if (namespace, name) not in publishing]
        if new:
            if not standing_repositories(self._conn, [self._repository.id]):
                raise repository_gone(self._repository)
            self._conn.execute(insert(packages), new)
            publishing.update({(row["namespace"], row["name"]): "ALLOW" for row in new})
        return publishing

    def _package_ids(self, keys: list[_Key]) -> dict[_Key, int]:
        return {(row.namespace, row.name): row.id
                for row in self._select_packages(set(keys), packages.c.id)}

    def _versions(self, wanted: Sequence[tuple[int, NewVersion]]
                  ) -> dict[tuple[int, str], _VersionState]:
        """The versions by (package id, version key), creating those that are new (with the
        metadata of their first file in the batch, as publishing one by one would)."""
        first: dict[tuple[int, str], NewVersion] = {}
        self.created_versions: set[int] = set()
        for package_id, version in wanted:
            first.setdefault((package_id, version.version_key), version)
        found = self._select_versions(set(first))
        new = [{"package_id": package_id, "version": v.version, "version_key": v.version_key,
                "status": "Published", "revision": new_revision(),
                "published_at": self._dated(v.published_at),
                "summary": v.summary, "home_page": v.home_page,
                "source_code_repository": v.source_code_repository,
                "licenses": json.dumps(v.licenses), "readme": v.readme,
                "readme_content_type": v.readme_content_type,
                "dependencies": json.dumps(v.dependencies), "origin_type": v.origin_type,
                "origin_repository_id": self._repository.id, "origin_external_connection": None,
                "attributes": encode_attributes(v.attributes)}
               for (package_id, key), v in first.items() if (package_id, key) not in found]
        if new:
            missing = set(first) - set(found)
            self._conn.execute(insert(package_versions), new)
            made = self._select_versions(missing)
            self.created_versions.update(state.id for state in made.values())
            found.update(made)
        return found

    def _select_versions(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], _VersionState]:
        found: dict[tuple[int, str], _VersionState] = {}
        for chunk in chunks(sorted({package_id for package_id, _ in keys})):
            for row in self._conn.execute(
                    select(package_versions.c.id, package_versions.c.package_id,
                           package_versions.c.version, package_versions.c.version_key,
                           package_versions.c.status)
                    .where(package_versions.c.package_id.in_(chunk))
                    # Locked as version_row locks them (PostgreSQL; a no-op on SQLite).
                    .with_for_update()):
                if (row.package_id, row.version_key) in keys:
                    found[(row.package_id, row.version_key)] = _VersionState(
                        row.id, row.version, row.status)
        return found

    def _stored_files(self, version_ids: list[int]
                      ) -> tuple[dict[tuple[int, str], str], dict[int, list[SiblingFile]]]:
        """The sha256 of the files these versions hold, by (version id, file name), and the
        files of each version for the format's rule."""
        stored: dict[tuple[int, str], str] = {}
        siblings: dict[int, list[SiblingFile]] = {}
        for chunk in chunks(sorted(set(version_ids))):
            for row in self._conn.execute(
                    select(assets.c.package_version_id, assets.c.name, assets.c.sha256,
                           assets.c.attributes)
                    .where(assets.c.package_version_id.in_(chunk))):
                stored[(row.package_version_id, row.name)] = row.sha256
                if self._file_rule is not None:
                    siblings.setdefault(row.package_version_id, []).append(
                        SiblingFile(row.name, decode_attributes(row.attributes)))
        return stored, siblings

    def _insert_companions(self, added: Sequence[tuple[int, NewAsset]]) -> None:
        """The other blobs each new asset keeps alive, once the assets have ids."""
        if not added:
            return
        wanted = {(version_id, a.name): a.companions for version_id, a in added}
        rows: list[dict[str, Any]] = []
        for chunk in chunks(sorted({version_id for version_id, _ in added})):
            for row in self._conn.execute(
                    select(assets.c.id, assets.c.package_version_id, assets.c.name)
                    .where(assets.c.package_version_id.in_(chunk))):
                companions = wanted.get((row.package_version_id, row.name), ())
                rows.extend({"asset_id": row.id, "sha256": sha} for sha in sorted(set(companions)))
        if rows:
            self._conn.execute(insert(asset_blobs), rows)

    def _insert_assets(self, added: Sequence[tuple[int, NewAsset]]) -> None:
        if not added:
            return
        self._conn.execute(insert(assets), [
            {"package_version_id": version_id, "name": a.name, "size": a.size,
             "sha256": a.sha256, "sha512": a.sha512, "sha1": a.sha1, "md5": a.md5,
             "created_at": self._dated(a.created_at),
             "attributes": encode_attributes(a.attributes)}
            for version_id, a in added])
        self._insert_companions([(version_id, a) for version_id, a in added if a.companions])
        # A version gets a new revision when files are added to it, as in publish().
        self._conn.execute(
            update(package_versions).where(package_versions.c.id == bindparam("version_id"))
            .values(revision=bindparam("new_revision")),
            [{"version_id": version_id, "new_revision": new_revision()}
             for version_id in sorted({version_id for version_id, _ in added})])
