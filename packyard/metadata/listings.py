"""Package, version and asset reads: the API's listings, the Simple index's pages, and
file lookups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, case, func, or_, select

from packyard.errors import PackyardError
from packyard.metadata.expressions import starts_with
from packyard.metadata.new_files import decode_attributes, sibling_files
from packyard.metadata.point_reads import MISSING, POINT_READ_MAX_BYTES, Missing, WouldWait
from packyard.metadata.rows import (
    ASSET_JOIN,
    DOMAIN_PACKAGES,
    asset_record,
    chunks,
    package_record,
    version_record,
)
from packyard.metadata.schema import assets, package_versions, packages
from packyard.metadata.transactions import CatalogBase
from packyard.model import Asset, IndexEntry, Package, PackageVersion

# Built once (SQLAlchemy reuses its compiled form): the first read of every file asks it.
_LISTED_ASSET = (
    select(assets, package_versions.c.status.label("version_status")).select_from(ASSET_JOIN)
    .where(packages.c.repository_id == bindparam("repository_id"),
           packages.c.format == bindparam("format"), packages.c.namespace == "",
           packages.c.name == bindparam("name"), assets.c.name == bindparam("filename")))

# The same lookup for the event loop's thread (``point_reads.py``), of what a read needs: the
# version's status, the blob, and the attributes only when small, by their length (a
# wheel's are a few hundred bytes; the bound keeps the read short whatever a format stores).
_SMALL_ATTRIBUTES = func.length(assets.c.attributes) <= POINT_READ_MAX_BYTES
_LISTED_FILE_NOW = (
    select(package_versions.c.status.label("version_status"), assets.c.sha256, assets.c.size,
           case((_SMALL_ATTRIBUTES, assets.c.attributes)).label("attributes"),
           _SMALL_ATTRIBUTES.label("small"))
    .select_from(ASSET_JOIN)
    .where(packages.c.repository_id == bindparam("repository_id"),
           packages.c.format == bindparam("format"),
           packages.c.namespace == bindparam("namespace"),
           packages.c.name == bindparam("name"), assets.c.name == bindparam("filename")))
# Of one version's file, for formats whose versions' files share names (npm's package.tgz):
# ``find_asset``'s row with ``version_key``, in one statement.
_VERSION_FILE_NOW = _LISTED_FILE_NOW.where(
    package_versions.c.version_key == bindparam("version_key"))


class ListedFile(NamedTuple):
    """What a read of a file needs of its asset: its version's status (which decides whether
    the file is served), its blob and the format's attributes (where derived files are)."""

    status: str
    sha256: str
    size: int
    attributes: Mapping[str, Any]

    @classmethod
    def of(cls, status: str, asset: Asset) -> ListedFile:
        return cls(status, asset.sha256, asset.size, asset.attributes)


class ListingStore(CatalogBase):
    """Reads of packages, versions and assets."""

    def find_package(self, repository_id: int, fmt: str, namespace: str,
                     name: str) -> Package | None:
        with self._read() as conn:
            row = conn.execute(select(packages).where(
                packages.c.repository_id == repository_id, packages.c.format == fmt,
                packages.c.namespace == namespace, packages.c.name == name)).first()
        return package_record(row) if row else None

    def list_packages(self, repository_id: int, fmt: str | None = None,
                      namespace: str | None = None, prefix: str | None = None,
                      after: tuple[str, int] | None = None, limit: int | None = None, *,
                      namespace_prefix: str | None = None, publish: str | None = None,
                      upstream: str | None = None, version_status: str | None = None
                      ) -> list[Package]:
        query = select(packages).where(packages.c.repository_id == repository_id)
        if fmt:
            query = query.where(packages.c.format == fmt)
        if namespace is not None:
            query = query.where(packages.c.namespace == namespace)
        if namespace_prefix:
            query = query.where(starts_with(packages.c.namespace, namespace_prefix))
        if prefix:
            query = query.where(starts_with(packages.c.name, prefix))
        if publish:
            query = query.where(packages.c.origin_publish == publish)
        if upstream:
            query = query.where(packages.c.origin_upstream == upstream)
        if version_status:
            query = query.where(packages.c.id.in_(select(package_versions.c.package_id).where(
                package_versions.c.status == version_status)))
        if after is not None:
            # By (name, id): one name may be a package of several formats or namespaces.
            name, package_id = after
            query = query.where(or_(packages.c.name > name,
                                    and_(packages.c.name == name, packages.c.id > package_id)))
        query = query.order_by(packages.c.name, packages.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [package_record(r) for r in conn.execute(query)]

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
        return [version_record(r) for r in rows]

    def get_version(self, package_id: int, version_key: str) -> PackageVersion | None:
        with self._read() as conn:
            row = conn.execute(select(package_versions).where(
                package_versions.c.package_id == package_id,
                package_versions.c.version_key == version_key)).first()
        return version_record(row) if row else None

    def list_assets(self, version_id: int) -> list[Asset]:
        with self._read() as conn:
            rows = conn.execute(select(assets).where(assets.c.package_version_id == version_id)
                                .order_by(assets.c.name)).all()
        return [asset_record(r) for r in rows]

    def project_index(self, repository_id: int, fmt: str, name: str, namespace: str = ""
                      ) -> tuple[Package, list[PackageVersion], list[IndexEntry]] | None:
        """Everything a project page shows, in two indexed queries."""
        with self._read() as conn:
            pkg = conn.execute(select(packages).where(
                packages.c.repository_id == repository_id, packages.c.format == fmt,
                packages.c.namespace == namespace, packages.c.name == name)).first()
            if pkg is None:
                return None
            versions = [version_record(r) for r in conn.execute(select(package_versions).where(
                package_versions.c.package_id == pkg.id))]
            by_id = {v.id: v for v in versions}
            entries = []
            for row in conn.execute(select(assets).where(assets.c.package_version_id.in_(
                    list(by_id))).order_by(assets.c.name)):
                version = by_id[row.package_version_id]
                entries.append(IndexEntry(version=version.version, status=version.status,
                                          asset=asset_record(row), published_at=version.published_at))
        return package_record(pkg), versions, entries

    def domain_project_indexes(self, domain_id: int, fmt: str, namespace: str, name: str,
                               packages: Mapping[int, Package] | None = None
                               ) -> dict[int, tuple[Package, list[PackageVersion],
                                                    list[IndexEntry]]]:
        """``project_index`` of the package called ``name`` in every repository of a domain
        that has it, by repository id: one transaction, three queries, however many
        repositories (an upstream search reads them all; each page and file pulled through);
        two when the caller has just read the ``packages`` (``packages_named``, in the same
        transaction)."""
        with self._read() as conn:
            found = ({package.id: package for package in packages.values()}
                     if packages is not None else
                     {row.id: package_record(row) for row in conn.execute(DOMAIN_PACKAGES, {
                         "domain_id": domain_id, "format": fmt, "namespace": namespace,
                         "name": name})})
            if not found:
                return {}
            versions: dict[int, PackageVersion] = {}
            listed: dict[int, tuple[list[PackageVersion], list[IndexEntry]]] = {
                package_id: ([], []) for package_id in found}
            for row in conn.execute(select(package_versions).where(
                    package_versions.c.package_id.in_(list(found)))):
                version = version_record(row)
                versions[version.id] = version
                listed[version.package_id][0].append(version)
            for chunk in chunks(sorted(versions)):
                for row in conn.execute(select(assets).where(
                        assets.c.package_version_id.in_(chunk))):
                    version = versions[row.package_version_id]
                    listed[version.package_id][1].append(IndexEntry(
                        version=version.version, status=version.status,
                        asset=asset_record(row), published_at=version.published_at))
        result = {}
        for package_id, (package_versions_, entries) in listed.items():
            entries.sort(key=lambda entry: entry.asset.name)  # as project_index orders them
            package = found[package_id]
            result[package.repository_id] = (package, package_versions_, entries)
        return result

    def find_listed_asset(self, repository_id: int, fmt: str, name: str, filename: str
                          ) -> tuple[str, Asset] | None:
        """The asset called ``filename`` in a project and its version's status, in one
        query: the first read of a file asks nothing else."""
        with self._read() as conn:
            row = conn.execute(_LISTED_ASSET, {"repository_id": repository_id, "format": fmt,
                                               "name": name, "filename": filename}).first()
        return None if row is None else (str(row.version_status), asset_record(row))

    def find_listed_file_now(self, repository_id: int, fmt: str, name: str, filename: str,
                             namespace: str = "", version_key: str | None = None
                             ) -> ListedFile | Missing | None:
        """``find_listed_asset`` on the caller's own thread (the event loop's), where the
        backend reads without waiting (``point_reads.py``) and the asset's attributes are at
        most ``POINT_READ_MAX_BYTES``; ``MISSING`` when there is no such asset (as final as
        ``find_listed_asset``'s None: the first read of a file only an upstream has needs no
        worker thread to learn it); None otherwise: ``find_listed_asset`` (in a worker
        thread) then decides. With ``namespace`` and ``version_key``, ``find_asset``'s file of
        that version (npm's tarballs)."""
        params: dict[str, object] = {
            "repository_id": repository_id, "format": fmt, "namespace": namespace,
            "name": name, "filename": filename}
        statement = _LISTED_FILE_NOW
        if version_key is not None:
            statement, params["version_key"] = _VERSION_FILE_NOW, version_key
        try:
            row = self._point_reads.first(statement, params)
        except WouldWait:
            return None
        if row is None:
            return MISSING
        if not row["small"]:
            return None
        return ListedFile(str(row["version_status"]), row["sha256"], int(row["size"]),
                          decode_attributes(row["attributes"]))

    def find_asset(self, repository_id: int, fmt: str, name: str, filename: str,
                   namespace: str = "", version_key: str | None = None
                   ) -> tuple[PackageVersion, Asset] | None:
        """The asset called ``filename`` in a project (file downloads), of the version
        ``version_key`` when given (formats whose versions' files share names: npm's)."""
        query = (select(assets, package_versions.c.status.label("version_status"),
                        package_versions.c.id.label("version_id"))
                 .select_from(ASSET_JOIN)
                 .where(packages.c.repository_id == repository_id, packages.c.format == fmt,
                        packages.c.namespace == namespace, packages.c.name == name,
                        assets.c.name == filename))
        if version_key is not None:
            query = query.where(package_versions.c.version_key == version_key)
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            version = conn.execute(select(package_versions).where(
                package_versions.c.id == row.version_id)).one()
        return version_record(version), asset_record(row)

    def release_conflict(self, repository_id: int, fmt: str, name: str, version_key: str,
                         filename: str) -> PackyardError | None:
        """What publishing ``filename`` into this version would meet, judged now, before its
        bytes are stored: the same name with other bytes is for the caller to judge (it knows
        the bytes); this is the format's rule on the version's other files (``file_rules``).
        Publishing judges again inside its transaction."""
        rule = self._file_rules.get(fmt)
        if rule is None:
            return None
        with self._read() as conn:
            version = conn.execute(
                select(package_versions.c.id).select_from(
                    package_versions.join(packages,
                                          packages.c.id == package_versions.c.package_id))
                .where(packages.c.repository_id == repository_id, packages.c.format == fmt,
                       packages.c.namespace == "", packages.c.name == name,
                       package_versions.c.version_key == version_key)).first()
            if version is None:
                return None
            siblings = sibling_files(conn, version.id)
        return rule(filename, siblings)

    def find_assets_named(self, repository_id: int, fmt: str,
                          filenames: Sequence[str]) -> dict[str, Asset]:
        """Assets of the format with these file names anywhere in the repository, whatever
        package holds them, by name (one each): for formats whose file names are unique in a
        repository (PyPI's), which check it themselves."""
        found: dict[str, Asset] = {}
        with self._read() as conn:
            for chunk in chunks(filenames):
                # Only the names are constrained in SQL, so that the plan starts from the
                # asset-name index: with the repository in the WHERE clause too, SQLite (without
                # statistics) walks every package of the repository instead.
                for row in conn.execute(
                        select(assets, packages.c.repository_id.label("repository_id_"),
                               packages.c.format.label("format_"))
                        .select_from(ASSET_JOIN).where(assets.c.name.in_(chunk))):
                    if row.repository_id_ == repository_id and row.format_ == fmt:
                        found.setdefault(row.name, asset_record(row))
        return found
