"""The metadata store: every SQL statement Packyard runs, behind plain methods returning model records.

Works on any SQLAlchemy URL Packyard supports (SQLite by default, PostgreSQL for replicas). Each
method is one transaction; callers never see a connection.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from packyard.errors import Conflict, Denied, NotFound, PackyardError, QuotaExceeded
from packyard.metadata.changes import ChangeLog
from packyard.metadata.engine import create_engines
from packyard.metadata.migrate import upgrade_to_head
from packyard.metadata.schema import (
    assets,
    blobs,
    domains,
    package_versions,
    packages,
    repositories,
    repository_external_connections,
    repository_upstreams,
    tokens,
    upstream_pages,
)
from packyard.model import (
    Asset,
    Domain,
    IndexEntry,
    Package,
    PackageVersion,
    Repository,
    TokenRecord,
)


def new_revision() -> str:
    """An opaque revision string, changed on every change of a package version."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class NewAsset:
    """What publishing one file writes, besides the blob itself."""

    name: str
    size: int
    sha256: str
    sha512: str
    sha1: str
    md5: str
    blake2_256: str
    requires_python: str | None
    metadata_sha256: str | None
    metadata_size: int | None


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


@dataclass(frozen=True)
class NewFile:
    """One file of ``publish_many``: its package, version and asset, and the blobs it uses."""

    name: str
    display_name: str
    version: NewVersion
    asset: NewAsset
    blob_sizes: dict[str, int]


@dataclass(frozen=True)
class PublishResult:
    package: Package
    version: PackageVersion
    asset: Asset
    created: bool  # False when the identical file was already there


@dataclass(frozen=True)
class ExternalConnectionRecord:
    """A repository's external connection (CodeArtifact's RepositoryExternalConnectionInfo)."""

    repository_id: int
    name: str
    package_format: str
    created_at: datetime


@dataclass(frozen=True)
class RepositoryLinks:
    """What a repository description shows besides the repository row."""

    upstreams: list[str]  # repository names, in priority order
    external_connections: list[ExternalConnectionRecord]


@dataclass(frozen=True)
class DomainGraph:
    """Every upstream link and external connection of one domain, for searches and checks."""

    upstreams: dict[int, list[int]]  # repository id -> upstream ids in priority order
    external: dict[int, str]  # repository id -> external connection name
    names: dict[int, str]  # repository id -> name


@dataclass(frozen=True)
class VersionOrigin:
    """Where a version entered the domain (CodeArtifact's PackageVersionOrigin)."""

    origin_type: str  # INTERNAL | EXTERNAL | UNKNOWN
    repository_name: str | None
    external_connection: str | None


@dataclass(frozen=True)
class EntryPoint:
    """The origin a kept copy records: the same for every repository that keeps the version."""

    origin_type: str
    repository_id: int | None
    external_connection: str | None


@dataclass(frozen=True)
class CachedPage:
    """An upstream project page as last fetched (``document`` is the parsed files, as JSON)."""

    index_url: str
    project: str
    found: bool
    document: str | None
    etag: str | None
    last_modified: str | None
    fetched_at: datetime


def _domain(row: Row[Any], repo_count: int = 0, size: int = 0) -> Domain:
    return Domain(id=row.id, name=row.name, owner=row.owner, encryption_key=row.encryption_key,
                  status=row.status, created_at=row.created_at, repository_count=repo_count,
                  asset_size_bytes=size)


def _repository(row: Row[Any]) -> Repository:
    return Repository(id=row.id, domain_id=row.domain_id, domain_name=row.domain_name,
                      domain_owner=row.domain_owner, name=row.name, description=row.description,
                      administrator_account=row.administrator_account,
                      created_at=row.created_at)


def _package(row: Row[Any]) -> Package:
    return Package(id=row.id, repository_id=row.repository_id, format=row.format,
                   namespace=row.namespace, name=row.name, display_name=row.display_name,
                   origin_publish=row.origin_publish, origin_upstream=row.origin_upstream)


def _version(row: Row[Any]) -> PackageVersion:
    return PackageVersion(
        id=row.id, package_id=row.package_id, version=row.version, version_key=row.version_key,
        status=row.status, revision=row.revision, published_at=row.published_at,
        summary=row.summary, home_page=row.home_page,
        source_code_repository=row.source_code_repository,
        licenses=json.loads(row.licenses) if row.licenses else [],
        readme=row.readme, readme_content_type=row.readme_content_type,
        dependencies=json.loads(row.dependencies) if row.dependencies else [],
        origin_type=row.origin_type, origin_repository_id=row.origin_repository_id)


def _asset(row: Row[Any]) -> Asset:
    return Asset(id=row.id, package_version_id=row.package_version_id, name=row.name,
                 size=row.size, sha256=row.sha256, sha512=row.sha512, sha1=row.sha1, md5=row.md5,
                 blake2_256=row.blake2_256, requires_python=row.requires_python,
                 metadata_sha256=row.metadata_sha256, metadata_size=row.metadata_size,
                 created_at=row.created_at)


_REPO_COLUMNS = (
    repositories, domains.c.name.label("domain_name"), domains.c.owner.label("domain_owner"))

# assets -> their version -> their package, the join most file lookups need.
_ASSET_JOIN = assets.join(package_versions, assets.c.package_version_id == package_versions.c.id) \
    .join(packages, package_versions.c.package_id == packages.c.id)


# Values per IN (...) list: far below every backend's limit on bound parameters.
_IN_LIST_MAX = 500


def _version_row(conn: Connection, package_id: int, version_key: str) -> Row[Any] | None:
    return conn.execute(select(package_versions).where(
        package_versions.c.package_id == package_id,
        package_versions.c.version_key == version_key)).first()


def _insert_version(conn: Connection, package_id: int, new_version: NewVersion, now: datetime,
                    origin_type: str, origin_repository_id: int | None,
                    origin_external_connection: str | None) -> Row[Any]:
    """Record a new Published version and return its row."""
    conn.execute(insert(package_versions).values(
        package_id=package_id, version=new_version.version,
        version_key=new_version.version_key, status="Published", revision=new_revision(),
        published_at=now, summary=new_version.summary, home_page=new_version.home_page,
        source_code_repository=new_version.source_code_repository,
        licenses=json.dumps(new_version.licenses), readme=new_version.readme,
        readme_content_type=new_version.readme_content_type,
        dependencies=json.dumps(new_version.dependencies), origin_type=origin_type,
        origin_repository_id=origin_repository_id,
        origin_external_connection=origin_external_connection))
    row = _version_row(conn, package_id, new_version.version_key)
    assert row is not None
    return row


def _insert_asset(conn: Connection, version_id: int, new_asset: NewAsset, now: datetime) -> None:
    """Record a file of a version; the version gets a new revision, as CodeArtifact does."""
    conn.execute(insert(assets).values(
        package_version_id=version_id, name=new_asset.name, size=new_asset.size,
        sha256=new_asset.sha256, sha512=new_asset.sha512, sha1=new_asset.sha1,
        md5=new_asset.md5, blake2_256=new_asset.blake2_256,
        requires_python=new_asset.requires_python, metadata_sha256=new_asset.metadata_sha256,
        metadata_size=new_asset.metadata_size, created_at=now))
    conn.execute(update(package_versions).where(package_versions.c.id == version_id)
                 .values(revision=new_revision()))


_OPEN_STATUSES = ("Published", "Unlisted")  # versions that take new files


def _publish_blocked(repository: Repository, name: str, display_name: str) -> Denied:
    # Package origin controls: a package that came from upstream (or was set so) takes no
    # direct publishing until an administrator allows it.
    return Denied(f"Publishing {display_name} to repository {repository.name} is blocked by "
                  "the package's origin configuration (publish: BLOCK); an administrator can "
                  "allow it with put-package-origin-configuration",
                  resource_id=name, resource_type="package")


def _file_exists(filename: str, version: str) -> Conflict:
    return Conflict(f"File already exists: {filename} has other content in version {version}; "
                    "files are never replaced", resource_id=filename, resource_type="asset")


def _version_closed(version: str, display_name: str, status: str) -> Conflict:
    return Conflict(f"Version {version} of {display_name} is {status}; no files can be added "
                    "to it", resource_id=version, resource_type="package-version")


def _chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _IN_LIST_MAX):
        yield list(values[start:start + _IN_LIST_MAX])


@dataclass(frozen=True)
class _VersionState:
    id: int
    version: str
    status: str


class _BatchPublish:
    """``Catalog.publish_many`` inside its transaction: each step reads or writes the rows of
    the whole batch at once (packages, then versions, then assets), and the per-file rules run
    in Python on what was read, in file order."""

    def __init__(self, conn: Connection, repository: Repository, fmt: str, namespace: str,
                 now: datetime) -> None:
        self._conn = conn
        self._repository = repository
        self._fmt = fmt
        self._namespace = namespace
        self._now = now

    def run(self, files: Sequence[NewFile]) -> list[bool | PackyardError]:
        results: dict[int, bool | PackyardError] = {}
        publishing = self._packages(files)
        for index, file in enumerate(files):
            if publishing[file.name] != "ALLOW":
                results[index] = _publish_blocked(self._repository, file.name, file.display_name)
        allowed = [(index, file) for index, file in enumerate(files) if index not in results]
        package_ids = self._package_ids([file.name for _, file in allowed])
        versions = self._versions([(package_ids[file.name], file.version) for _, file in allowed])
        stored = self._stored_files([version.id for version in versions.values()])
        added: list[tuple[int, NewAsset]] = []
        for index, file in allowed:
            version = versions[(package_ids[file.name], file.version.version_key)]
            sha256 = stored.get((version.id, file.asset.name))
            if sha256 == file.asset.sha256:
                results[index] = False
            elif sha256 is not None:
                results[index] = _file_exists(file.asset.name, version.version)
            elif version.status not in _OPEN_STATUSES:
                results[index] = _version_closed(version.version, file.display_name,
                                                 version.status)
            else:
                stored[(version.id, file.asset.name)] = file.asset.sha256
                added.append((version.id, file.asset))
                results[index] = True
        self._insert_blobs({sha: size for index, file in enumerate(files)
                            if results[index] is True for sha, size in file.blob_sizes.items()})
        self._insert_assets(added)
        return [results[index] for index in range(len(files))]

    def _where_packages(self, names: list[str]) -> tuple[Any, ...]:
        return (packages.c.repository_id == self._repository.id, packages.c.format == self._fmt,
                packages.c.namespace == self._namespace, packages.c.name.in_(names))

    def _packages(self, files: Sequence[NewFile]) -> dict[str, str]:
        """Each package's origin control for publishing, creating the packages that are new
        (named as their first file in the batch names them)."""
        display_names = {file.name: file.display_name for file in reversed(files)}
        publishing = {row.name: row.origin_publish
                      for chunk in _chunks(list(display_names)) for row in self._conn.execute(
                          select(packages.c.name, packages.c.origin_publish)
                          .where(*self._where_packages(chunk)))}
        new = [{"repository_id": self._repository.id, "format": self._fmt,
                "namespace": self._namespace, "name": name, "display_name": display_name,
                "origin_publish": "ALLOW", "origin_upstream": "BLOCK", "created_at": self._now}
               for name, display_name in display_names.items() if name not in publishing]
        if new:
            self._conn.execute(insert(packages), new)
            publishing.update({row["name"]: "ALLOW" for row in new})
        return publishing

    def _package_ids(self, names: list[str]) -> dict[str, int]:
        return {row.name: row.id for chunk in _chunks(sorted(set(names)))
                for row in self._conn.execute(select(packages.c.id, packages.c.name)
                                              .where(*self._where_packages(chunk)))}

    def _versions(self, wanted: Sequence[tuple[int, NewVersion]]
                  ) -> dict[tuple[int, str], _VersionState]:
        """The versions by (package id, version key), creating those that are new (with the
        metadata of their first file in the batch, as publishing one by one would)."""
        first: dict[tuple[int, str], NewVersion] = {}
        for package_id, version in wanted:
            first.setdefault((package_id, version.version_key), version)
        found = self._select_versions(set(first))
        new = [{"package_id": package_id, "version": v.version, "version_key": v.version_key,
                "status": "Published", "revision": new_revision(), "published_at": self._now,
                "summary": v.summary, "home_page": v.home_page,
                "source_code_repository": v.source_code_repository,
                "licenses": json.dumps(v.licenses), "readme": v.readme,
                "readme_content_type": v.readme_content_type,
                "dependencies": json.dumps(v.dependencies), "origin_type": v.origin_type,
                "origin_repository_id": self._repository.id, "origin_external_connection": None}
               for (package_id, key), v in first.items() if (package_id, key) not in found]
        if new:
            missing = set(first) - set(found)
            self._conn.execute(insert(package_versions), new)
            found.update(self._select_versions(missing))
        return found

    def _select_versions(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], _VersionState]:
        found: dict[tuple[int, str], _VersionState] = {}
        for chunk in _chunks(sorted({package_id for package_id, _ in keys})):
            for row in self._conn.execute(
                    select(package_versions.c.id, package_versions.c.package_id,
                           package_versions.c.version, package_versions.c.version_key,
                           package_versions.c.status)
                    .where(package_versions.c.package_id.in_(chunk))):
                if (row.package_id, row.version_key) in keys:
                    found[(row.package_id, row.version_key)] = _VersionState(
                        row.id, row.version, row.status)
        return found

    def _stored_files(self, version_ids: list[int]) -> dict[tuple[int, str], str]:
        """The sha256 of the files these versions hold, by (version id, file name)."""
        return {(row.package_version_id, row.name): row.sha256
                for chunk in _chunks(sorted(set(version_ids))) for row in self._conn.execute(
                    select(assets.c.package_version_id, assets.c.name, assets.c.sha256)
                    .where(assets.c.package_version_id.in_(chunk)))}

    def _insert_blobs(self, sizes: dict[str, int]) -> None:
        domain_id = self._repository.domain_id
        have = {row.sha256 for chunk in _chunks(sorted(sizes)) for row in self._conn.execute(
            select(blobs.c.sha256).where(blobs.c.domain_id == domain_id,
                                         blobs.c.sha256.in_(chunk)))}
        new = [{"domain_id": domain_id, "sha256": sha, "size": size, "created_at": self._now}
               for sha, size in sizes.items() if sha not in have]
        if new:
            self._conn.execute(insert(blobs), new)

    def _insert_assets(self, added: Sequence[tuple[int, NewAsset]]) -> None:
        if not added:
            return
        self._conn.execute(insert(assets), [
            {"package_version_id": version_id, "name": a.name, "size": a.size,
             "sha256": a.sha256, "sha512": a.sha512, "sha1": a.sha1, "md5": a.md5,
             "blake2_256": a.blake2_256, "requires_python": a.requires_python,
             "metadata_sha256": a.metadata_sha256, "metadata_size": a.metadata_size,
             "created_at": self._now} for version_id, a in added])
        # A version gets a new revision when files are added to it, as in publish().
        self._conn.execute(
            update(package_versions).where(package_versions.c.id == bindparam("version_id"))
            .values(revision=bindparam("new_revision")),
            [{"version_id": version_id, "new_revision": new_revision()}
             for version_id in sorted({version_id for version_id, _ in added})])


class Catalog:
    """All metadata reads and writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._reader, self._writer = create_engines(url)
        self.changes = ChangeLog()

    def migrate(self) -> None:
        upgrade_to_head(self._writer)

    def dispose(self) -> None:
        self._reader.dispose()
        self._writer.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._reader.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.connect() as conn, conn.begin():
            yield conn
        # Committed: caches of pages and lookups built before this write are now stale.
        self.changes.touch()

    @property
    def engines(self) -> tuple[Engine, Engine]:
        return self._reader, self._writer

    # -- domains -------------------------------------------------------------------------------

    def create_domain(self, name: str, owner: str, encryption_key: str, now: datetime) -> Domain:
        with self._write() as conn:
            exists = conn.execute(select(domains.c.id).where(
                domains.c.owner == owner, domains.c.name == name)).first()
            if exists:
                raise Conflict(f"Domain {name} already exists", resource_id=name,
                               resource_type="domain")
            conn.execute(insert(domains).values(name=name, owner=owner,
                                                encryption_key=encryption_key,
                                                status="Active", created_at=now))
        return self.get_domain(owner, name)

    def _domain_stats(self, conn: Connection, domain_id: int) -> tuple[int, int]:
        repo_count = conn.execute(select(func.count()).select_from(repositories).where(
            repositories.c.domain_id == domain_id)).scalar_one()
        # Assets only (each stored object once): derived files such as PEP 658 metadata are
        # blobs too, but CodeArtifact counts what list-package-version-assets lists.
        asset_shas = (select(assets.c.sha256).select_from(_ASSET_JOIN)
                      .join(repositories, packages.c.repository_id == repositories.c.id)
                      .where(repositories.c.domain_id == domain_id))
        size = conn.execute(select(func.coalesce(func.sum(blobs.c.size), 0)).where(
            blobs.c.domain_id == domain_id, blobs.c.sha256.in_(asset_shas))).scalar_one()
        return int(repo_count), int(size)

    def get_domain(self, owner: str, name: str, *, with_stats: bool = True) -> Domain:
        """A domain; ``with_stats`` adds repository count and asset size (two more queries)."""
        with self._read() as conn:
            row = conn.execute(select(domains).where(
                domains.c.owner == owner, domains.c.name == name)).first()
            if row is None:
                raise NotFound(f"Domain {name} not found", resource_id=name,
                               resource_type="domain")
            if not with_stats:
                return _domain(row)
            return _domain(row, *self._domain_stats(conn, row.id))

    def list_domains(self) -> list[Domain]:
        with self._read() as conn:
            rows = conn.execute(select(domains).order_by(domains.c.name)).all()
            return [_domain(r, *self._domain_stats(conn, r.id)) for r in rows]

    def delete_domain(self, domain: Domain) -> None:
        with self._write() as conn:
            count = conn.execute(select(func.count()).select_from(repositories).where(
                repositories.c.domain_id == domain.id)).scalar_one()
            if count:
                raise Conflict(
                    f"Domain {domain.name} contains repositories; delete them first",
                    resource_id=domain.name, resource_type="domain")
            conn.execute(delete(tokens).where(tokens.c.domain_id == domain.id))
            conn.execute(delete(blobs).where(blobs.c.domain_id == domain.id))
            conn.execute(delete(domains).where(domains.c.id == domain.id))

    # -- repositories --------------------------------------------------------------------------

    def create_repository(self, domain: Domain, name: str, description: str,
                          administrator_account: str, now: datetime) -> Repository:
        with self._write() as conn:
            try:
                conn.execute(insert(repositories).values(
                    domain_id=domain.id, name=name, description=description,
                    administrator_account=administrator_account, created_at=now))
            except IntegrityError:
                raise Conflict(f"Repository {name} already exists in domain {domain.name}",
                               resource_id=name, resource_type="repository") from None
        return self.get_repository(domain, name)

    def get_repository(self, domain: Domain, name: str) -> Repository:
        with self._read() as conn:
            row = conn.execute(select(*_REPO_COLUMNS).join(domains).where(
                repositories.c.domain_id == domain.id, repositories.c.name == name)).first()
        if row is None:
            raise NotFound(f"Repository {name} not found in domain {domain.name}",
                           resource_id=name, resource_type="repository")
        return _repository(row)

    def list_repositories(self, domain: Domain | None = None) -> list[Repository]:
        query = select(*_REPO_COLUMNS).join(domains)
        if domain is not None:
            query = query.where(repositories.c.domain_id == domain.id)
        with self._read() as conn:
            rows = conn.execute(query.order_by(repositories.c.name, domains.c.name)).all()
        return [_repository(r) for r in rows]

    def update_repository(self, repository: Repository, description: str) -> Repository:
        with self._write() as conn:
            conn.execute(update(repositories).where(repositories.c.id == repository.id)
                         .values(description=description))
            row = conn.execute(select(*_REPO_COLUMNS).join(domains).where(
                repositories.c.id == repository.id)).one()
        return _repository(row)

    def delete_repository(self, repository: Repository) -> list[str]:
        """Delete the repository and its contents; returns the sha256s no longer used in the domain."""
        with self._write() as conn:
            pkg_ids = select(packages.c.id).where(packages.c.repository_id == repository.id)
            ver_ids = select(package_versions.c.id).where(package_versions.c.package_id.in_(pkg_ids))
            touched = {r.sha256 for r in conn.execute(
                select(assets.c.sha256).where(assets.c.package_version_id.in_(ver_ids)))}
            touched |= {r.metadata_sha256 for r in conn.execute(
                select(assets.c.metadata_sha256).where(
                    assets.c.package_version_id.in_(ver_ids))) if r.metadata_sha256}
            conn.execute(delete(assets).where(assets.c.package_version_id.in_(ver_ids)))
            conn.execute(delete(package_versions).where(package_versions.c.package_id.in_(pkg_ids)))
            conn.execute(delete(packages).where(packages.c.repository_id == repository.id))
            # Downstream repositories lose this upstream; what they kept from it stays theirs
            # (CodeArtifact: retained versions survive the upstream's deletion).
            conn.execute(delete(repository_upstreams).where(
                (repository_upstreams.c.repository_id == repository.id)
                | (repository_upstreams.c.upstream_id == repository.id)))
            conn.execute(delete(repository_external_connections).where(
                repository_external_connections.c.repository_id == repository.id))
            conn.execute(delete(repositories).where(repositories.c.id == repository.id))
            return self._drop_unused_blobs(conn, repository.domain_id, touched)

    def _drop_unused_blobs(self, conn: Connection, domain_id: int, shas: set[str]) -> list[str]:
        dropped = []
        domain_assets = (select(assets.c.id).select_from(_ASSET_JOIN)
                         .join(repositories, packages.c.repository_id == repositories.c.id)
                         .where(repositories.c.domain_id == domain_id))
        for sha in sorted(shas):
            in_use = conn.execute(select(func.count()).select_from(assets).where(
                assets.c.id.in_(domain_assets),
                (assets.c.sha256 == sha) | (assets.c.metadata_sha256 == sha))).scalar_one()
            if not in_use:
                conn.execute(delete(blobs).where(blobs.c.domain_id == domain_id,
                                                 blobs.c.sha256 == sha))
                dropped.append(sha)
        return dropped

    # -- packages ------------------------------------------------------------------------------

    def find_package(self, repository_id: int, fmt: str, namespace: str,
                     name: str) -> Package | None:
        with self._read() as conn:
            row = conn.execute(select(packages).where(
                packages.c.repository_id == repository_id, packages.c.format == fmt,
                packages.c.namespace == namespace, packages.c.name == name)).first()
        return _package(row) if row else None

    def list_packages(self, repository_id: int, fmt: str | None = None,
                      namespace: str | None = None, prefix: str | None = None,
                      after: str | None = None, limit: int = 1000) -> list[Package]:
        query = select(packages).where(packages.c.repository_id == repository_id)
        if fmt:
            query = query.where(packages.c.format == fmt)
        if namespace is not None:
            query = query.where(packages.c.namespace == namespace)
        if prefix:
            query = query.where(packages.c.name.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(packages.c.name > after)
        query = query.order_by(packages.c.name).limit(limit)
        with self._read() as conn:
            return [_package(r) for r in conn.execute(query)]

    def list_project_names(self, repository_id: int, fmt: str) -> list[str]:
        """Names with at least one listed version, for the /simple/ root."""
        visible = select(package_versions.c.package_id).where(
            package_versions.c.status.in_(("Published", "Unlisted")))
        with self._read() as conn:
            return [r.name for r in conn.execute(
                select(packages.c.name).where(packages.c.repository_id == repository_id,
                                              packages.c.format == fmt,
                                              packages.c.id.in_(visible))
                .order_by(packages.c.name))]

    # -- versions and assets --------------------------------------------------------------------

    def list_versions(self, package_id: int) -> list[PackageVersion]:
        with self._read() as conn:
            rows = conn.execute(select(package_versions).where(
                package_versions.c.package_id == package_id)).all()
        return [_version(r) for r in rows]

    def get_version(self, package_id: int, version_key: str) -> PackageVersion | None:
        with self._read() as conn:
            row = conn.execute(select(package_versions).where(
                package_versions.c.package_id == package_id,
                package_versions.c.version_key == version_key)).first()
        return _version(row) if row else None

    def list_assets(self, version_id: int) -> list[Asset]:
        with self._read() as conn:
            rows = conn.execute(select(assets).where(assets.c.package_version_id == version_id)
                                .order_by(assets.c.name)).all()
        return [_asset(r) for r in rows]

    def project_index(self, repository_id: int, fmt: str, name: str
                      ) -> tuple[Package, list[PackageVersion], list[IndexEntry]] | None:
        """Everything a project page shows, in two indexed queries."""
        with self._read() as conn:
            pkg = conn.execute(select(packages).where(
                packages.c.repository_id == repository_id, packages.c.format == fmt,
                packages.c.namespace == "", packages.c.name == name)).first()
            if pkg is None:
                return None
            versions = [_version(r) for r in conn.execute(select(package_versions).where(
                package_versions.c.package_id == pkg.id))]
            by_id = {v.id: v for v in versions}
            entries = []
            for row in conn.execute(select(assets).where(assets.c.package_version_id.in_(
                    list(by_id))).order_by(assets.c.name)):
                version = by_id[row.package_version_id]
                entries.append(IndexEntry(version=version.version, status=version.status,
                                          asset=_asset(row), published_at=version.published_at))
        return _package(pkg), versions, entries

    def find_asset(self, repository_id: int, fmt: str, name: str, filename: str
                   ) -> tuple[PackageVersion, Asset] | None:
        """The asset called ``filename`` in a project (file downloads)."""
        with self._read() as conn:
            row = conn.execute(
                select(assets, package_versions.c.status.label("version_status"),
                       package_versions.c.id.label("version_id"))
                .select_from(_ASSET_JOIN)
                .where(packages.c.repository_id == repository_id, packages.c.format == fmt,
                       packages.c.namespace == "", packages.c.name == name,
                       assets.c.name == filename)).first()
            if row is None:
                return None
            version = conn.execute(select(package_versions).where(
                package_versions.c.id == row.version_id)).one()
        return _version(version), _asset(row)

    def update_version_status(self, version: PackageVersion, status: str) -> PackageVersion:
        with self._write() as conn:
            conn.execute(update(package_versions).where(package_versions.c.id == version.id)
                         .values(status=status, revision=new_revision()))
            return _version(conn.execute(select(package_versions).where(
                package_versions.c.id == version.id)).one())

    def publish(self, repository: Repository, fmt: str, namespace: str, name: str,
                display_name: str, new_version: NewVersion, new_asset: NewAsset,
                blob_sizes: dict[str, int], now: datetime) -> PublishResult:
        """Add one asset (and its package and version when new) in one transaction.

        A file of the same name with the same bytes is a no-op; with other bytes it is a conflict
        and nothing changes.
        """
        with self._write() as conn:
            return self._publish_one(conn, repository, fmt, namespace,
                                     NewFile(name, display_name, new_version, new_asset,
                                             blob_sizes), now)

    def publish_many(self, repository: Repository, fmt: str, namespace: str,
                     files: Sequence[NewFile], now: datetime) -> list[bool | PackyardError]:
        """Add many files in one transaction (bulk imports), with a few statements per batch.

        Each file gets ``publish``'s rules, in order, as if published one after the other:
        True when it was added, False when the identical file was already there (or earlier in
        the batch), or the error that refuses it (other bytes under its name, a closed version,
        the package's origin controls), which changes nothing for that file and does not stop
        the others. The rest commit together, or not at all.
        """
        with self._write() as conn:
            return _BatchPublish(conn, repository, fmt, namespace, now).run(files)

    def _publish_one(self, conn: Connection, repository: Repository, fmt: str, namespace: str,
                     file: NewFile, now: datetime) -> PublishResult:
        name, display_name = file.name, file.display_name
        new_version, new_asset = file.version, file.asset
        for sha, size in file.blob_sizes.items():
            have = conn.execute(select(blobs.c.sha256).where(
                blobs.c.domain_id == repository.domain_id, blobs.c.sha256 == sha)).first()
            if not have:
                conn.execute(insert(blobs).values(domain_id=repository.domain_id,
                                                  sha256=sha, size=size, created_at=now))
        pkg = conn.execute(select(packages).where(
            packages.c.repository_id == repository.id, packages.c.format == fmt,
            packages.c.namespace == namespace, packages.c.name == name)).first()
        if pkg is not None and pkg.origin_publish != "ALLOW":
            raise _publish_blocked(repository, name, display_name)
        if pkg is None:
            conn.execute(insert(packages).values(
                repository_id=repository.id, format=fmt, namespace=namespace, name=name,
                display_name=display_name, origin_publish="ALLOW",
                origin_upstream="BLOCK", created_at=now))
            pkg = conn.execute(select(packages).where(
                packages.c.repository_id == repository.id, packages.c.format == fmt,
                packages.c.namespace == namespace, packages.c.name == name)).one()
        ver = _version_row(conn, pkg.id, new_version.version_key)
        if ver is None:
            ver = _insert_version(conn, pkg.id, new_version, now, new_version.origin_type,
                                  repository.id, None)
        existing = conn.execute(select(assets).where(
            assets.c.package_version_id == ver.id,
            assets.c.name == new_asset.name)).first()
        if existing is not None:
            if existing.sha256 != new_asset.sha256:
                raise _file_exists(new_asset.name, ver.version)
            return PublishResult(_package(pkg), _version(ver), _asset(existing), False)
        if ver.status not in _OPEN_STATUSES:
            raise _version_closed(ver.version, display_name, ver.status)
        _insert_asset(conn, ver.id, new_asset, now)
        ver = conn.execute(select(package_versions).where(
            package_versions.c.id == ver.id)).one()
        asset = conn.execute(select(assets).where(
            assets.c.package_version_id == ver.id, assets.c.name == new_asset.name)).one()
        return PublishResult(_package(pkg), _version(ver), _asset(asset), True)

    def filename_taken(self, repository_id: int, fmt: str, filename: str) -> Asset | None:
        """An asset of this file name anywhere in the repository (PyPI file names are unique)."""
        with self._read() as conn:
            row = conn.execute(
                select(assets).select_from(_ASSET_JOIN).where(
                    packages.c.repository_id == repository_id, packages.c.format == fmt,
                    assets.c.name == filename)).first()
        return _asset(row) if row else None

    def filenames_taken(self, repository_id: int, fmt: str,
                        filenames: Sequence[str]) -> dict[str, Asset]:
        """``filename_taken`` for many names at once, answering those the repository has."""
        found: dict[str, Asset] = {}
        with self._read() as conn:
            for chunk in _chunks(filenames):
                # Only the names are constrained in SQL, so that the plan starts from the
                # asset-name index: with the repository in the WHERE clause too, SQLite (without
                # statistics) walks every package of the repository instead.
                for row in conn.execute(
                        select(assets, packages.c.repository_id.label("repository_id_"),
                               packages.c.format.label("format_"))
                        .select_from(_ASSET_JOIN).where(assets.c.name.in_(chunk))):
                    if row.repository_id_ == repository_id and row.format_ == fmt:
                        found.setdefault(row.name, _asset(row))
        return found

    # -- upstreams and external connections ---------------------------------------------------

    def _graph(self, conn: Connection, domain_id: int) -> DomainGraph:
        names = {r.id: r.name for r in conn.execute(select(
            repositories.c.id, repositories.c.name).where(
                repositories.c.domain_id == domain_id))}
        links: dict[int, list[int]] = {}
        for row in conn.execute(select(repository_upstreams).where(
                repository_upstreams.c.repository_id.in_(list(names)))
                .order_by(repository_upstreams.c.repository_id,
                          repository_upstreams.c.position)):
            links.setdefault(row.repository_id, []).append(row.upstream_id)
        external = {row.repository_id: row.name for row in conn.execute(
            select(repository_external_connections).where(
                repository_external_connections.c.repository_id.in_(list(names))))}
        return DomainGraph(links, external, names)

    def domain_graph(self, domain_id: int) -> DomainGraph:
        with self._read() as conn:
            return self._graph(conn, domain_id)

    def replace_upstreams(self, repository: Repository, upstream_ids: Sequence[int],
                          check: Callable[[DomainGraph], None]) -> None:
        """Set a repository's upstream list; ``check`` sees the current graph in the same
        transaction (so two concurrent updates cannot build a cycle between them)."""
        with self._write() as conn:
            check(self._graph(conn, repository.domain_id))
            conn.execute(delete(repository_upstreams).where(
                repository_upstreams.c.repository_id == repository.id))
            for position, upstream_id in enumerate(upstream_ids):
                conn.execute(insert(repository_upstreams).values(
                    repository_id=repository.id, position=position, upstream_id=upstream_id))

    def repository_links(self, repository_id: int) -> RepositoryLinks:
        with self._read() as conn:
            upstream_names = [r.name for r in conn.execute(
                select(repositories.c.name).select_from(repository_upstreams.join(
                    repositories, repository_upstreams.c.upstream_id == repositories.c.id))
                .where(repository_upstreams.c.repository_id == repository_id)
                .order_by(repository_upstreams.c.position))]
            connections = [ExternalConnectionRecord(r.repository_id, r.name, r.package_format,
                                                    r.created_at)
                           for r in conn.execute(select(repository_external_connections).where(
                               repository_external_connections.c.repository_id
                               == repository_id))]
        return RepositoryLinks(upstream_names, connections)

    def add_external_connection(self, repository: Repository, name: str, package_format: str,
                                now: datetime) -> None:
        with self._write() as conn:
            current = conn.execute(select(repository_external_connections).where(
                repository_external_connections.c.repository_id == repository.id)).first()
            if current is not None and current.name == name:
                raise Conflict(f"Repository {repository.name} already has the external "
                               f"connection {name}", resource_id=repository.name,
                               resource_type="repository")
            if current is not None:
                raise QuotaExceeded(
                    f"Repository {repository.name} already has the external connection "
                    f"{current.name}; a repository can have only one. Use a repository of its "
                    "own for each public repository and add them as upstreams",
                    resource_id=repository.name, resource_type="repository")
            conn.execute(insert(repository_external_connections).values(
                repository_id=repository.id, name=name, package_format=package_format,
                created_at=now))

    def remove_external_connection(self, repository: Repository, name: str) -> None:
        with self._write() as conn:
            result = conn.execute(delete(repository_external_connections).where(
                repository_external_connections.c.repository_id == repository.id,
                repository_external_connections.c.name == name))
            if not result.rowcount:
                raise NotFound(f"Repository {repository.name} has no external connection "
                               f"{name}", resource_id=name, resource_type="external-connection")

    # -- origin controls and kept copies -------------------------------------------------------

    def packages_named(self, domain_id: int, fmt: str, namespace: str,
                       name: str) -> dict[int, Package]:
        """The package called ``name`` in every repository of a domain that has it, by repository id."""
        with self._read() as conn:
            rows = conn.execute(select(packages).join(
                repositories, packages.c.repository_id == repositories.c.id).where(
                    repositories.c.domain_id == domain_id, packages.c.format == fmt,
                    packages.c.namespace == namespace, packages.c.name == name)).all()
        return {r.repository_id: _package(r) for r in rows}

    def put_origin_configuration(self, repository: Repository, fmt: str, namespace: str,
                                 name: str, display_name: str, publish: str, upstream: str,
                                 now: datetime) -> Package:
        """Set a package's restrictions, creating the package (with no versions) if needed."""
        where = (packages.c.repository_id == repository.id, packages.c.format == fmt,
                 packages.c.namespace == namespace, packages.c.name == name)
        with self._write() as conn:
            if conn.execute(select(packages.c.id).where(*where)).first() is None:
                conn.execute(insert(packages).values(
                    repository_id=repository.id, format=fmt, namespace=namespace, name=name,
                    display_name=display_name, origin_publish=publish,
                    origin_upstream=upstream, created_at=now))
            else:
                conn.execute(update(packages).where(*where).values(
                    origin_publish=publish, origin_upstream=upstream))
            return _package(conn.execute(select(packages).where(*where)).one())

    def version_origins(self, version_ids: Sequence[int]) -> dict[int, VersionOrigin]:
        """Each version's entry point, with the entry repository's name."""
        if not version_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                select(package_versions.c.id, package_versions.c.origin_type,
                       package_versions.c.origin_external_connection,
                       repositories.c.name.label("repository_name"))
                .select_from(package_versions.outerjoin(
                    repositories,
                    package_versions.c.origin_repository_id == repositories.c.id))
                .where(package_versions.c.id.in_(list(version_ids)))).all()
        origins = {}
        for r in rows:
            kind = r.origin_type
            if r.origin_external_connection is None and r.repository_name is None:
                kind = "UNKNOWN"  # the entry repository has been deleted since
            origins[r.id] = VersionOrigin(kind, r.repository_name, r.origin_external_connection)
        return origins

    def retain(self, targets: Sequence[Repository], fmt: str, namespace: str, name: str,
               display_name: str, new_version: NewVersion, new_asset: NewAsset,
               entry: EntryPoint, blob_sizes: dict[str, int], now: datetime) -> list[Repository]:
        """Keep a copy of one file (and its version and package, when new) in each target.

        Used for files pulled through upstreams and external connections. A target whose package
        has since been set to ``upstream: BLOCK``, or whose version is no longer listed, is left
        alone; a target that already holds the file is a no-op. Returns the targets that now
        hold a new copy.
        """
        kept: list[Repository] = []
        if not targets:
            return kept
        with self._write() as conn:
            for sha, size in blob_sizes.items():
                if not conn.execute(select(blobs.c.sha256).where(
                        blobs.c.domain_id == targets[0].domain_id,
                        blobs.c.sha256 == sha)).first():
                    conn.execute(insert(blobs).values(domain_id=targets[0].domain_id,
                                                      sha256=sha, size=size, created_at=now))
            for repository in targets:
                if self._retain_one(conn, repository, fmt, namespace, name, display_name,
                                    new_version, new_asset, entry, now):
                    kept.append(repository)
        return kept

    def _retain_one(self, conn: Connection, repository: Repository, fmt: str, namespace: str,
                    name: str, display_name: str, new_version: NewVersion, new_asset: NewAsset,
                    entry: EntryPoint, now: datetime) -> bool:
        where = (packages.c.repository_id == repository.id, packages.c.format == fmt,
                 packages.c.namespace == namespace, packages.c.name == name)
        pkg = conn.execute(select(packages).where(*where)).first()
        if pkg is None:
            # CodeArtifact's defaults for a package whose first version came from upstream.
            conn.execute(insert(packages).values(
                repository_id=repository.id, format=fmt, namespace=namespace, name=name,
                display_name=display_name, origin_publish="BLOCK", origin_upstream="ALLOW",
                created_at=now))
            pkg = conn.execute(select(packages).where(*where)).one()
        elif pkg.origin_upstream != "ALLOW":
            return False
        ver = _version_row(conn, pkg.id, new_version.version_key)
        if ver is None:
            ver = _insert_version(conn, pkg.id, new_version, now, entry.origin_type,
                                  entry.repository_id, entry.external_connection)
        elif ver.status not in ("Published", "Unlisted"):
            return False
        if conn.execute(select(assets.c.id).where(
                assets.c.package_version_id == ver.id,
                assets.c.name == new_asset.name)).first() is not None:
            return False
        _insert_asset(conn, ver.id, new_asset, now)
        return True

    def retain_from(self, source_repository_id: int, fmt: str, name: str, filename: str,
                    targets: Sequence[Repository], now: datetime) -> bool:
        """Keep in ``targets`` a copy of a file another repository of the domain holds.

        The copy shares the stored bytes and records the version's original entry point.
        False when the source no longer holds the file.
        """
        with self._read() as conn:
            row = conn.execute(
                select(assets, package_versions.c.id.label("version_id"),
                       packages.c.display_name)
                .select_from(_ASSET_JOIN)
                .where(packages.c.repository_id == source_repository_id,
                       packages.c.format == fmt, packages.c.namespace == "",
                       packages.c.name == name, assets.c.name == filename)).first()
            if row is None:
                return False
            version = conn.execute(select(package_versions).where(
                package_versions.c.id == row.version_id)).one()
        source = _version(version)
        entry = EntryPoint(version.origin_type, version.origin_repository_id,
                           version.origin_external_connection)
        new_version = NewVersion(
            version=source.version, version_key=source.version_key, summary=source.summary,
            home_page=source.home_page, source_code_repository=source.source_code_repository,
            licenses=source.licenses, readme=source.readme,
            readme_content_type=source.readme_content_type, dependencies=source.dependencies,
            origin_type=source.origin_type)
        asset = _asset(row)
        new_asset = NewAsset(name=asset.name, size=asset.size, sha256=asset.sha256,
                             sha512=asset.sha512, sha1=asset.sha1, md5=asset.md5,
                             blake2_256=asset.blake2_256, requires_python=asset.requires_python,
                             metadata_sha256=asset.metadata_sha256,
                             metadata_size=asset.metadata_size)
        self.retain(targets, fmt, "", name, row.display_name, new_version, new_asset, entry,
                    {}, now)
        return True

    # -- upstream page cache -------------------------------------------------------------------

    def get_upstream_page(self, index_url: str, project: str) -> CachedPage | None:
        with self._read() as conn:
            row = conn.execute(select(upstream_pages).where(
                upstream_pages.c.index_url == index_url,
                upstream_pages.c.project == project)).first()
        if row is None:
            return None
        return CachedPage(row.index_url, row.project, bool(row.found), row.document, row.etag,
                          row.last_modified, row.fetched_at)

    def put_upstream_page(self, page: CachedPage) -> None:
        """Store (or replace) a fetched page."""
        with self._write() as conn:
            conn.execute(delete(upstream_pages).where(
                upstream_pages.c.index_url == page.index_url,
                upstream_pages.c.project == page.project))
            conn.execute(insert(upstream_pages).values(
                index_url=page.index_url, project=page.project, found=page.found,
                document=page.document, etag=page.etag, last_modified=page.last_modified,
                fetched_at=page.fetched_at))

    # -- tokens --------------------------------------------------------------------------------

    def insert_token(self, token_id: str, secret_sha256: str, principal_arn: str,
                     access_key_id: str | None, domain: Domain, now: datetime,
                     expires_at: datetime) -> None:
        with self._write() as conn:
            conn.execute(insert(tokens).values(
                id=token_id, secret_sha256=secret_sha256, principal_arn=principal_arn,
                access_key_id=access_key_id, domain_id=domain.id, created_at=now,
                expires_at=expires_at))

    def find_token(self, secret_sha256: str) -> TokenRecord | None:
        with self._read() as conn:
            row = conn.execute(select(tokens).where(
                tokens.c.secret_sha256 == secret_sha256)).first()
        if row is None:
            return None
        return TokenRecord(id=row.id, principal_arn=row.principal_arn,
                           access_key_id=row.access_key_id, domain_id=row.domain_id,
                           created_at=row.created_at, expires_at=row.expires_at,
                           revoked_at=row.revoked_at)

    def delete_expired_tokens(self, now: datetime) -> int:
        with self._write() as conn:
            result = conn.execute(delete(tokens).where(tokens.c.expires_at < now))
            return int(result.rowcount or 0)

    def domain_by_id(self, domain_id: int) -> Domain | None:
        with self._read() as conn:
            row = conn.execute(select(domains).where(domains.c.id == domain_id)).first()
        return _domain(row) if row else None

