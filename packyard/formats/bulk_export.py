"""Writing a repository's files to a folder: the service behind ``packyard export``, for any
format.

Which files (``plan_export``): the repository's packages of each format, filtered as
ListPackages filters them (``--namespace`` and ``--package`` are prefixes, normalized by the
format's rules), their versions in the chosen statuses (Published unless told), and with
``since`` only the packages whose versions or files changed since then, with all their chosen
versions (a package's serial is the time of its last change: it catches a version kept from
an upstream, which carries the upstream's publish time, a copy and a status change alike), and
the versions published since. Where each file goes is its
format's (``FileExport``): a format without one, or a file its import would not take back, is
left out and counted. Each file is then read through the blob store (decrypted when
encryption at rest is on) into the destination (``services/export_folder.py``: atomic,
checked against its recorded sha256, never over other bytes). Then each package's document,
where its format writes one (npm's registry document, ``FileExport.package_document``), made
of the files written (or already there) of it and merged with the one an earlier export left
(``export_documents``): npm's registry document, PyPI's ``index.json`` (each file's upload
time and yank).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import anyio

from packyard.errors import Invalid, NotFound, PackyardError
from packyard.formats.plugin import FormatPlugin
from packyard.metadata.catalog import Catalog
from packyard.model import Asset, Domain, Package, PackageVersion, Repository
from packyard.services.export_folder import ExportFolder
from packyard.storage.blobs import BlobStore

DEFAULT_STATUSES = ("Published",)
EXPORTABLE_STATUSES = ("Published", "Unlisted", "Archived")
"""The statuses whose versions the repository holds files of (a Disposed version's are
deleted; an Unfinished one is a generic version still being published)."""


@dataclass(frozen=True)
class ExportFilter:
    """Which of a repository's versions to export."""

    statuses: frozenset[str] = frozenset(DEFAULT_STATUSES)
    format: str | None = None
    namespace: str | None = None
    """A prefix of the namespace (npm's scope, with or without its ``@``)."""
    package: str | None = None
    """A prefix of the package's name."""
    since: datetime | None = None
    """Only packages whose versions or files changed at or after this time (all their chosen
    versions), and versions published at or after it."""


@dataclass(frozen=True)
class PlannedFile:
    """One file of the repository, and where it goes (None: left out, and why)."""

    format: str
    package: Package
    version: PackageVersion
    asset: Asset
    path: tuple[str, ...] | None
    left_out: str | None = None

    @property
    def shown(self) -> str:
        """The file as a person names it: its place in the destination, or the package,
        version and asset when it has none."""
        if self.path is not None:
            return "/".join(self.path)
        namespace = f"{self.package.namespace}/" if self.package.namespace else ""
        return (f"{self.format} {namespace}{self.package.name} {self.version.version} "
                f"{self.asset.name}")


@dataclass(frozen=True)
class ExportResult:
    """What ``packyard export`` made of one file."""

    file: PlannedFile
    status: Literal["written", "present", "left-out", "failed"]
    reason: str | None = None


def plan_export(catalog: Catalog, plugins: Sequence[FormatPlugin], repository: Repository,
                chosen: ExportFilter) -> list[PlannedFile]:
    """Every file of ``repository`` the filter takes, each with its place: formats in their
    order of registration, packages by name, versions in their format's order, files by
    name. ``Invalid`` when the format is unknown or a prefix breaks the format's rules."""
    known = {plugin.name: plugin for plugin in plugins}
    if chosen.format is not None and chosen.format not in known:
        raise Invalid(f"no format {chosen.format!r} here (formats: {', '.join(known)})")
    since = (None if chosen.since is None
             else int(chosen.since.timestamp() * 1_000_000))  # as serials count (serials.py)
    planned: list[PlannedFile] = []
    for plugin in plugins:
        if chosen.format is not None and plugin.name != chosen.format:
            continue
        prefix = plugin.normalize_name(chosen.package) if chosen.package else None
        namespace = (plugin.normalize_namespace(chosen.namespace) if chosen.namespace
                     else None)
        export = plugin.file_export
        left_out = (f"{plugin.name} packages have no file layout packyard import reads back"
                    if export is None else
                    f"not a file packyard import takes as a {plugin.name} file")
        for package in catalog.list_packages(repository.id, plugin.name, prefix=prefix,
                                             namespace_prefix=namespace):
            changed = since is None or package.last_serial >= since
            # A package not changed since may still have a version published since by its
            # own time: one whose serial predates serials (migration 0006 started them at 0).
            versions = [v for v in catalog.list_versions(package.id)
                        if v.status in chosen.statuses
                        and (changed or (chosen.since is not None
                                         and v.published_at >= chosen.since))]
            versions.sort(key=lambda v: plugin.version_sort_key(v.version))
            for version in versions:
                for asset in catalog.list_assets(version.id):
                    path = (export.path_of(package, version, asset) if export is not None
                            else None)
                    planned.append(PlannedFile(plugin.name, package, version, asset, path,
                                               left_out if path is None else None))
    return planned


@dataclass(frozen=True)
class DocumentExportResult:
    """What ``packyard export`` made of one package's document."""

    format: str
    package: Package
    path: tuple[str, ...] | None
    status: Literal["written", "present", "failed"]
    reason: str | None = None

    @property
    def shown(self) -> str:
        if self.path is not None:
            return "/".join(self.path)
        namespace = f"{self.package.namespace}/" if self.package.namespace else ""
        return f"{self.format} {namespace}{self.package.name} document"


def export_documents(catalog: Catalog, plugins: Sequence[FormatPlugin], folder: ExportFolder,
                     results: Iterable[ExportResult], max_bytes: int
                     ) -> Iterator[DocumentExportResult]:
    """Write the document of each package whose files ``results`` wrote (or found there), in
    the order its files came: made of those files' versions, merged with the document an
    earlier export left at its place. A document that cannot be made or written fails alone;
    an ``OSError`` (a full disk) stops the run, as a file's does."""
    exports = {plugin.name: plugin.file_export for plugin in plugins}
    packages: dict[tuple[str, int], list[PlannedFile]] = {}
    for result in results:
        if result.status in ("written", "present"):
            packages.setdefault((result.file.format, result.file.package.id),
                                []).append(result.file)
    for (name, _), files in packages.items():
        export = exports.get(name)
        if export is None:
            continue
        package = files[0].package
        try:
            document = export.package_document(catalog, package,
                                               [(f.version, f.asset) for f in files])
        except PackyardError as refused:
            yield DocumentExportResult(name, package, None, "failed", refused.message)
            continue
        if document is None:
            continue
        try:
            status = folder.write_document(document.path, document.merge, max_bytes)
        except PackyardError as refused:
            yield DocumentExportResult(name, package, document.path, "failed", refused.message)
            continue
        yield DocumentExportResult(name, package, document.path,
                                   "written" if status == "written" else "present")


class BulkExporter:
    """Writes planned files of one domain's repository into a folder, one at a time."""

    def __init__(self, blobs: BlobStore, domain: Domain, folder: ExportFolder) -> None:
        self._blobs = blobs
        self._domain = domain
        self._folder = folder

    def run(self, files: Sequence[PlannedFile]) -> Iterator[ExportResult]:
        """Export ``files`` in order, answering each once it is written (or why not). An
        ``OSError`` writing the destination (a full disk) stops the run: not a file's fault."""
        for file in files:
            yield self.export(file)

    def export(self, file: PlannedFile) -> ExportResult:
        if file.path is None:
            return ExportResult(file, "left-out", file.left_out)
        asset = file.asset
        try:
            if self._folder.existing(file.path, asset.sha256, asset.size) == "present":
                return ExportResult(file, "present")
            status = anyio.run(self._copy, file.path, asset)
        except PackyardError as refused:
            # The stores' own NotFound: no such blob. Its subclasses (a key the provider does
            # not know) say what they are.
            if type(refused) is NotFound:
                return ExportResult(file, "failed", "its stored file is missing (deleted while "
                                                    "the export ran? if not, run packyard "
                                                    "verify)")
            return ExportResult(file, "failed", refused.message)
        return ExportResult(file, "written" if status == "written" else "present")

    async def _copy(self, path: tuple[str, ...], asset: Asset) -> str:
        chunks = self._blobs.read(self._domain.blob_key, asset.sha256)
        try:
            return await self._folder.write(path, asset.sha256, asset.size, chunks)
        finally:
            # A read stopped half-way (bytes not the recorded ones, a full disk) lets go of
            # its file now, not when the loop is torn down.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
