"""A new file's records, the statements that add a version and an asset, and the
rejections publishing gives.

Shared by single and batch publishing and by retention (kept copies of upstream files);
a new version or asset gets a new revision, as in CodeArtifact.

The statements are built once, with bound parameters, and executed with each file's values:
building a statement and its cache key anew for every execution was about half of the CPU a
pulled file's records cost (bench/UPSTREAM.md).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import Row

from packyard.errors import Conflict, Denied, NotFound
from packyard.metadata.schema import asset_blobs, assets, package_versions, repositories
from packyard.model import Repository


def new_revision() -> str:
    """An opaque revision string, changed on every change of a package version."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class NewAsset:
    """What publishing one file writes, besides the blob itself."""

    name: str
    size: int
    sha256: str
    # None: not computed yet (a pulled file's, filled in after it is kept).
    sha512: str | None
    sha1: str | None
    md5: str | None
    # The format's own data about the file, kept as a JSON object.
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Other blobs the file keeps alive (PyPI: its PEP 658 core metadata file), by sha256.
    companions: tuple[str, ...] = ()
    # When its origin uploaded it (a pulled file: the upstream's time); None: now.
    created_at: datetime | None = None


@dataclass(frozen=True)
class NewVersion:
    version: str
    version_key: str
    summary: str | None
    home_page: str | None
    source_code_repository: str | None
    licenses: list[dict[str, str]]
    readme: str | None
    readme_content_type: str | None
    dependencies: list[dict[str, str]]
    origin_type: str = "INTERNAL"
    # The format's own data about the version, kept as a JSON object (npm: the manifest).
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # When its origin published it (a pulled version: the upstream's time); None: now.
    published_at: datetime | None = None


@dataclass(frozen=True)
class NewFile:
    """One file of ``publish_many``: its package, version and asset, and the blobs it uses."""

    name: str
    display_name: str
    version: NewVersion
    asset: NewAsset
    blob_sizes: dict[str, int]
    namespace: str | None = None
    """Its package's namespace, when not the one ``publish_many`` is given: a batch of npm
    tarballs spans scopes."""
    tag_changes: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    """Tags (npm's dist-tags) pointed at a version key, or removed (None), written with the
    file when it is added, as ``publish``'s ``tag_changes``."""


@dataclass(frozen=True)
class SiblingFile:
    """A file a version holds, as a ``FileRule`` sees it."""

    name: str
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)


FileRule = Callable[[str, Sequence[SiblingFile]], Conflict | None]
"""A format's rule for the files one version may hold together: given a new file's name and
the version's files, the conflict it would cause, or None. Files of the same name are the
catalog's own business (same bytes: a no-op; other bytes: ``file_exists``)."""


def encode_attributes(attributes: Mapping[str, Any]) -> str:
    """A format's attributes as the JSON text the ``attributes`` columns hold."""
    return json.dumps(attributes, sort_keys=True, separators=(",", ":")) if attributes else "{}"


def decode_attributes(text: str | None) -> dict[str, Any]:
    if not text or text == "{}":
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


_SIBLINGS = select(assets.c.name, assets.c.attributes).where(
    assets.c.package_version_id == bindparam("version_id"))
_VERSION = select(package_versions).where(
    package_versions.c.package_id == bindparam("package_id"),
    package_versions.c.version_key == bindparam("version_key")).with_for_update()
_INSERT_VERSION = insert(package_versions)
# Several rows in one statement, with what tells them apart (SQLAlchemy's "insertmanyvalues":
# one INSERT … VALUES (…), (…) RETURNING on SQLite and PostgreSQL).
_INSERT_VERSIONS = insert(package_versions).returning(package_versions.c.id,
                                                      package_versions.c.package_id)
_INSERT_ASSET = insert(assets)
_INSERT_ASSETS = insert(assets).returning(assets.c.id)
_INSERT_ASSET_BLOBS = insert(asset_blobs)
_NEW_REVISION = update(package_versions).where(
    package_versions.c.id == bindparam("version_id")).values(
    revision=bindparam("new_revision"))


def sibling_files(conn: Connection, version_id: int) -> list[SiblingFile]:
    return [SiblingFile(row.name, decode_attributes(row.attributes)) for row in conn.execute(
        _SIBLINGS, {"version_id": version_id})]


def version_row(conn: Connection, package_id: int, version_key: str) -> Row[Any] | None:
    """The version's row, locked until the transaction ends where the database can (FOR
    UPDATE on PostgreSQL; SQLite's writer holds the whole database already), so two files
    added to one version at once are judged one after the other."""
    return conn.execute(_VERSION, {"package_id": package_id,
                                   "version_key": version_key}).first()


def insert_version(conn: Connection, package_id: int, new_version: NewVersion, now: datetime,
                    origin_type: str, origin_repository_id: int | None,
                    origin_external_connection: str | None) -> Row[Any]:
    """Record a new Published version and return its row."""
    insert_version_id(conn, package_id, new_version, now, origin_type, origin_repository_id,
                      origin_external_connection)
    row = version_row(conn, package_id, new_version.version_key)
    assert row is not None
    return row


def insert_version_id(conn: Connection, package_id: int, new_version: NewVersion,
                      now: datetime, origin_type: str, origin_repository_id: int | None,
                      origin_external_connection: str | None) -> int:
    """``insert_version`` returning only the new row's id, without reading the row back (a
    kept copy needs nothing else of it)."""
    inserted = conn.execute(_INSERT_VERSION, _version_values(
        package_id, new_version, now, origin_type, origin_repository_id,
        origin_external_connection)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def insert_versions(conn: Connection, package_ids: Sequence[int], new_version: NewVersion,
                    now: datetime, origin_type: str, origin_repository_id: int | None,
                    origin_external_connection: str | None) -> dict[int, int]:
    """``insert_version_id`` for the same version of several packages (a kept copy in each
    repository it passed through) in one statement: each package's id -> its new version's
    id (each version with a revision of its own)."""
    if not package_ids:
        return {}
    rows = conn.execute(_INSERT_VERSIONS, [_version_values(
        package_id, new_version, now, origin_type, origin_repository_id,
        origin_external_connection) for package_id in package_ids])
    return {int(row.package_id): int(row.id) for row in rows}


def _version_values(package_id: int, new_version: NewVersion, now: datetime, origin_type: str,
                    origin_repository_id: int | None,
                    origin_external_connection: str | None) -> dict[str, Any]:
    return {
        "package_id": package_id, "version": new_version.version,
        "version_key": new_version.version_key, "status": "Published",
        "revision": new_revision(), "published_at": new_version.published_at or now,
        "summary": new_version.summary,
        "home_page": new_version.home_page,
        "source_code_repository": new_version.source_code_repository,
        "licenses": json.dumps(new_version.licenses), "readme": new_version.readme,
        "readme_content_type": new_version.readme_content_type,
        "dependencies": json.dumps(new_version.dependencies), "origin_type": origin_type,
        "origin_repository_id": origin_repository_id,
        "origin_external_connection": origin_external_connection,
        "attributes": encode_attributes(new_version.attributes)}


def insert_asset(conn: Connection, version_id: int, new_asset: NewAsset, now: datetime) -> None:
    """Record a file of a version; the version gets a new revision, as CodeArtifact does."""
    insert_assets(conn, [version_id], new_asset, now, new_revisions=[version_id])


def insert_assets(conn: Connection, version_ids: Sequence[int], new_asset: NewAsset,
                  now: datetime, *, new_revisions: Sequence[int] = ()) -> None:
    """``insert_asset`` for the same file in several versions (a kept copy in each repository
    it passed through), in one statement for the assets and one for their companion blobs;
    ``new_revisions``: those of the versions that get a new revision (each its own), the
    ones not inserted in this transaction."""
    if not version_ids:
        return
    values = [_asset_values(version_id, new_asset, now) for version_id in version_ids]
    if new_asset.companions:
        rows = conn.execute(_INSERT_ASSETS, values)
        _insert_companions(conn, sorted(int(row.id) for row in rows), new_asset)
    else:
        conn.execute(_INSERT_ASSET, values)
    if new_revisions:
        conn.execute(_NEW_REVISION, [{"version_id": version_id, "new_revision": new_revision()}
                                     for version_id in new_revisions])


def _asset_values(version_id: int, new_asset: NewAsset, now: datetime) -> dict[str, Any]:
    return {
        "package_version_id": version_id, "name": new_asset.name, "size": new_asset.size,
        "sha256": new_asset.sha256, "sha512": new_asset.sha512, "sha1": new_asset.sha1,
        "md5": new_asset.md5, "created_at": new_asset.created_at or now,
        "attributes": encode_attributes(new_asset.attributes)}


def _insert_companions(conn: Connection, asset_ids: Sequence[int], new_asset: NewAsset) -> None:
    conn.execute(_INSERT_ASSET_BLOBS, [{"asset_id": asset_id, "sha256": sha}
                                       for asset_id in asset_ids
                                       for sha in sorted(set(new_asset.companions))])


OPEN_STATUSES = ("Published", "Unlisted")  # versions that take new files


def publish_blocked(repository: Repository, name: str, display_name: str) -> Denied:
    # Package origin controls: a package that came from upstream (or was set so) takes no
    # direct publishing until an administrator allows it.
    return Denied(f"Publishing {display_name} to repository {repository.name} is blocked by "
                  "the package's origin configuration (publish: BLOCK); an administrator can "
                  "allow it with put-package-origin-configuration",
                  resource_id=name, resource_type="package")


_STANDING = select(repositories.c.id).where(
    repositories.c.id.in_(bindparam("repository_ids", expanding=True)))


def standing_repositories(conn: Connection, repository_ids: Sequence[int]) -> set[int]:
    """Of these repositories, those not deleted: asked before a new package goes into one, as
    a file's repository may have been deleted while its bytes were received (an upload) or
    fetched (a pull); the package's insert would fail its foreign key."""
    return set(conn.execute(_STANDING,
                            {"repository_ids": sorted(set(repository_ids))}).scalars())


def repository_gone(repository: Repository) -> NotFound:
    return NotFound(f"Repository {repository.name} not found in domain "
                    f"{repository.domain_name}: it was deleted while this file was being "
                    "stored; nothing was published", resource_id=repository.name,
                    resource_type="repository")


def domain_gone() -> NotFound:
    # Only the domain's id is at hand where this is found (its key, its data key rows).
    return NotFound("Domain not found: it was deleted while this file was being stored; "
                    "nothing was published", resource_type="domain")


def file_exists(filename: str, version: str) -> Conflict:
    return Conflict(f"File already exists: {filename} has other content in version {version}; "
                    "files are never replaced", resource_id=filename, resource_type="asset")


def version_closed(version: str, display_name: str, status: str) -> Conflict:
    return Conflict(f"Version {version} of {display_name} is {status}; no files can be added "
                    "to it", resource_id=version, resource_type="package-version")
