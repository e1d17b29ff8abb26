"""The PyPI format plug-in: its naming rules, its external connection, its package endpoint,
its ``packyard import`` and its ``packyard export``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from packyard.errors import Conflict
from packyard.formats.pypi import attributes, names
from packyard.formats.pypi.dependencies import as_answered, requirement_texts
from packyard.formats.pypi.release_files import release_conflict
from packyard.formats.registry import most_recently_published
from packyard.metadata.new_files import SiblingFile
from packyard.model import Asset, Package, PackageVersion
from packyard.upstream.connections import ExternalConnection

if TYPE_CHECKING:
    from packyard.auth.principal import Principal
    from packyard.formats.plugin import (
        FileExport,
        FileImport,
        FileImporter,
        MountedFormat,
        PackageDocument,
    )
    from packyard.metadata.catalog import Catalog, PageRenderer
    from packyard.model import Domain, Repository
    from packyard.services.core import Core
    from packyard.services.registry import Registry
    from packyard.settings import Settings

FORMAT = "pypi"

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")
"""What ``packyard import`` takes for PyPI: wheels, and sdists in the two formats PyPI still
takes."""

PUBLIC_PYPI = ExternalConnection(
    "public:pypi", FORMAT, "the Python Package Index",
    # Any PEP 691/503 simple index: PACKYARD_PYPI_UPSTREAM_URL.
    url_setting="pypi_upstream_url")


class PypiFormat:
    """``pypi``: PEP 503 names, PEP 440 versions, the Simple API and the legacy upload API."""

    name = FORMAT
    url_segment = FORMAT
    external_connections = (PUBLIC_PYPI,)

    def normalize_name(self, name: str) -> str:
        return names.normalize_name(name)

    def normalize_namespace(self, namespace: str | None) -> str:
        # PyPI has no namespaces; a package asked for with one is simply not found.
        return namespace or ""

    def normalize_version(self, version: str) -> str:
        try:
            return names.normalize_version(version)
        except Exception:
            return version

    def version_sort_key(self, version: str) -> Any:
        try:
            return (1, Version(version), "")
        except InvalidVersion:
            return (0, Version("0"), version)

    def default_display_version(self, versions: Sequence[PackageVersion],
                                tags: Mapping[str, str]) -> str | None:
        return most_recently_published(versions)

    def dependency_texts(self, version: PackageVersion) -> Sequence[str] | None:
        # Requires-Dist with its extras and marker, as the metadata (and PyPI's JSON API)
        # writes it: ``colorama; sys_platform == "win32"``.
        return requirement_texts(version.attributes, len(version.dependencies))

    def dependency_records(self, version: PackageVersion) -> list[dict[str, Any]]:
        return as_answered(version.dependencies)

    def file_conflict(self, filename: str, siblings: Sequence[SiblingFile]) -> Conflict | None:
        # One sdist per release, one wheel per build tag and tag set (release_files).
        return release_conflict(filename, [
            _HeldFile(sibling.name, attributes.blake2_256(sibling.attributes))
            for sibling in siblings])

    def build(self, core: Core) -> MountedFormat:
        from packyard.formats.pypi.routes import mount_pypi

        return mount_pypi(core)

    @property
    def file_import(self) -> FileImport:
        return _DistributionImport()

    @property
    def file_export(self) -> FileExport:
        return _DistributionExport()

    @property
    def page_renderer(self) -> PageRenderer:
        from packyard.formats.pypi.stored_pages import render_stored_pages

        return render_stored_pages


@dataclass(frozen=True)
class _HeldFile:
    """A file the release holds, as ``release_files`` reads it."""

    name: str
    blake2_256: str


class _DistributionImport:
    """``packyard import`` of wheels and sdists, each checked as its upload would be, dated
    as the project's ``index.json`` beside them says (``project_document``), whose yanks are
    then set as Unlisted."""

    suffixes = DIST_SUFFIXES
    documents = ("index.json",)  # project_document.FILENAME

    def importer(self, registry: Registry, settings: Settings, principal: Principal,
                 domain: Domain, repository: Repository, batch_size: int) -> FileImporter:
        from packyard.formats.bulk_import import BulkImporter
        from packyard.formats.pypi.project_document import ProjectDocuments
        from packyard.formats.pypi.publish import PypiPublisher

        return BulkImporter(PypiPublisher(registry, settings.max_upload_bytes), registry.blobs,
                            principal, domain, repository, batch_size,
                            ProjectDocuments(registry, settings.npm_max_document_bytes))


class _DistributionExport:
    """``packyard export`` of wheels and sdists: ``pypi/<normalized project>/<file name>``, a
    folder per project (which pypiserver also serves as it is), with the project's
    ``index.json`` beside them (each file's upload time and yank); what ``packyard import``
    takes."""

    def __init__(self) -> None:
        self._page_urls: list[str] | None = None  # read once per export

    def path_of(self, package: Package, version: PackageVersion,
                asset: Asset) -> tuple[str, ...] | None:
        # An egg or an exe kept from an upstream is no file the import takes back.
        if not asset.name.endswith(DIST_SUFFIXES):
            return None
        return (FORMAT, package.name, asset.name)

    def package_document(self, catalog: Catalog, package: Package,
                         files: Sequence[tuple[PackageVersion, Asset]]
                         ) -> PackageDocument | None:
        """``pypi/<project>/index.json``: the project's PEP 691 page of the files exported,
        merged with the one an earlier export left there (``project_document``); a file is
        yanked when a stored upstream page of the project yanks the same bytes, as last
        fetched: the export reads no upstream. Every index's page is asked (one lookup
        each), not only the one the export's PACKYARD_PYPI_UPSTREAM_URL names: the export may
        run without the server's settings, and the bytes' sha256 says the file is the one."""
        from packyard.formats.plugin import PackageDocument
        from packyard.formats.pypi.project_document import (
            FILENAME,
            export_document,
            merge_document,
        )
        from packyard.formats.pypi.upstream import stored_yanks

        if self._page_urls is None:
            self._page_urls = catalog.upstream_page_urls()
        yanks: dict[tuple[str, str], bool | str] = {}
        for url in self._page_urls:
            page = catalog.get_upstream_page(url, package.name)
            if page is not None and page.found and page.document is not None:
                yanks.update(stored_yanks(page.document))
        document = export_document(package.name, files, yanks)
        return PackageDocument((FORMAT, package.name, FILENAME),
                               lambda existing: merge_document(existing, document))
