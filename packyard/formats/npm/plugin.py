"""The npm format plug-in: its naming rules, its external connection, its package endpoint,
its ``packyard import`` and its ``packyard export``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packyard.errors import Conflict, Invalid
from packyard.formats.npm import semver
from packyard.formats.npm.dist_tags import LATEST, effective_dist_tags, named_tags
from packyard.formats.npm.names import MAX_PART_LENGTH
from packyard.formats.npm.packument import LISTED_STATUSES
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

FORMAT = "npm"

TARBALL_ASSET = "package.tgz"
"""CodeArtifact's name for the one asset of every npm package version."""

PUBLIC_NPMJS = ExternalConnection(
    "public:npmjs", FORMAT, "the npm public registry",
    # Any npm registry: PACKYARD_NPM_UPSTREAM_URL.
    url_setting="npm_upstream_url")


class NpmFormat:
    """``npm``: scoped names (the scope is CodeArtifact's namespace), semver versions,
    packuments and tarballs, and npm's publish protocol."""

    name = FORMAT
    url_segment = FORMAT
    external_connections = (PUBLIC_NPMJS,)

    def normalize_name(self, name: str) -> str:
        # npm names are case-sensitive (old packages have capitals) and stored as published.
        if "/" in name:
            raise Invalid(f'Invalid npm package name "{name}": give the scope as the namespace '
                          "and the rest as the package name.")
        return name

    def normalize_namespace(self, namespace: str | None) -> str:
        # awscli's --namespace takes the scope with or without its "@".
        scope = (namespace or "").removeprefix("@")
        if len(scope) > MAX_PART_LENGTH:
            raise Invalid(f"Invalid npm namespace: longer than {MAX_PART_LENGTH} characters.")
        return scope

    def normalize_version(self, version: str) -> str:
        try:
            return semver.version_key(version)
        except Invalid:
            return version

    def version_sort_key(self, version: str) -> Any:
        return semver.version_sort_key(version)

    def default_display_version(self, versions: Sequence[PackageVersion],
                                tags: Mapping[str, str]) -> str | None:
        # "For npm packages, it's the version referenced by the latest tag": pinned, or the
        # one Packyard keeps it on, as the packument shows it.
        listed = {v.version for v in versions if v.status in LISTED_STATUSES}
        return effective_dist_tags(named_tags(tags, versions), listed).get(LATEST)

    def file_conflict(self, filename: str, siblings: Sequence[SiblingFile]) -> Conflict | None:
        # A version holds one file, package.tgz: the catalog itself refuses other bytes under
        # that name.
        return None

    def build(self, core: Core) -> MountedFormat:
        from packyard.formats.npm.routes import mount_npm

        return mount_npm(core)

    @property
    def file_import(self) -> FileImport:
        return _TarballImport()

    @property
    def file_export(self) -> FileExport:
        return _TarballExport()

    @property
    def page_renderer(self) -> PageRenderer | None:
        return None


class _TarballImport:
    """``packyard import`` of npm tarballs (``npm pack``'s, a registry's storage), each
    published as ``npm publish <tarball>`` would publish it; then the registry documents
    beside them (Verdaccio's ``package.json``), whose dist-tags and deprecations are set as
    ``npm dist-tag add`` and ``npm deprecate`` would set them."""

    suffixes = (".tgz",)
    documents = ("package.json",)  # registry_document.FILENAME

    def importer(self, registry: Registry, settings: Settings, principal: Principal,
                 domain: Domain, repository: Repository, batch_size: int) -> FileImporter:
        from packyard.formats.bulk_import import BulkImporter
        from packyard.formats.npm.package_edits import PackageEdits
        from packyard.formats.npm.publish import NpmLimits, NpmPublisher
        from packyard.formats.npm.registry_document import RegistryDocuments

        limits = NpmLimits.of(settings.npm_max_tarball_bytes, settings.npm_max_document_bytes)
        publisher = NpmPublisher(registry, limits)
        documents = RegistryDocuments(PackageEdits(registry, publisher),
                                      settings.npm_max_document_bytes)
        return BulkImporter(publisher, registry.blobs, principal, domain, repository,
                            batch_size, documents)


class _TarballExport:
    """``packyard export`` of npm tarballs, laid out as Verdaccio's storage keeps them (which
    ``packyard import`` reads): ``npm/<name>/<name>-<version>.tgz``, and
    ``npm/@<scope>/<name>/<name>-<version>.tgz`` for a scoped package."""

    def path_of(self, package: Package, version: PackageVersion,
                asset: Asset) -> tuple[str, ...] | None:
        if asset.name != TARBALL_ASSET:
            return None
        scope = (f"@{package.namespace}",) if package.namespace else ()
        return (FORMAT, *scope, package.name, f"{package.name}-{version.version}.tgz")

    def package_document(self, catalog: Catalog, package: Package,
                         files: Sequence[tuple[PackageVersion, Asset]]
                         ) -> PackageDocument | None:
        """``npm/<name>/package.json`` (``npm/@<scope>/<name>/package.json``): the registry
        document Verdaccio keeps beside the tarballs, of the versions exported, merged with
        the one an earlier export left there (``registry_document``)."""
        from packyard.formats.npm.names import from_codeartifact
        from packyard.formats.npm.registry_document import (
            FILENAME,
            export_document,
            merge_document,
        )
        from packyard.formats.plugin import PackageDocument

        name = from_codeartifact(package.namespace or None, package.name)
        tags = named_tags(catalog.package_tags(package.id), [v for v, _ in files])
        document = export_document(name, files, tags)
        scope = (f"@{package.namespace}",) if package.namespace else ()
        return PackageDocument((FORMAT, *scope, package.name, FILENAME),
                               lambda existing: merge_document(existing, document))
