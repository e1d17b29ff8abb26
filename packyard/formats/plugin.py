"""The format plug-in interface: what a format adds to the neutral core.

A format lives in ``packyard/formats/<name>/`` and provides one ``FormatPlugin``, registered in
``packyard/formats/__init__.py``. Like devpi's hook specifications and stage customizers, the
core owns the logic (authorization, reads and caches, upstreams, the catalog) and a format plugs
behaviour in:

- its ``FormatRules`` (``formats/registry.py``): names, versions, namespaces, the files one
  version may hold, the external connections it serves;
- ``build(core)``: its package endpoint (routes, an optional hot path) on the neutral ``Core``
  (``services/core.py``), and how it reads from upstreams (a ``FormatUpstream``);
- optionally ``file_import``: the files ``packyard import`` publishes for it from disk (by
  their names' endings), and the service that checks and publishes them (and the package
  documents beside them: npm's registry documents, PyPI's ``index.json``: their publish times,
  dist-tags, deprecations and yanks);
- optionally ``file_export``: where ``packyard export`` writes each of its files, laid out so
  that its ``file_import`` takes the folder back (and each package's document beside its
  files: npm's registry document, PyPI's PEP 691 ``index.json``);
- optionally ``page_renderer``: its project pages, rendered when a package changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from starlette.routing import BaseRoute

from packyard.auth.principal import Principal
from packyard.formats.registry import FormatRules
from packyard.http.answer import FirstRead, HotPath
from packyard.metadata.catalog import Catalog, PageRenderer
from packyard.model import Asset, Domain, Package, PackageVersion, Repository
from packyard.services.core import Core
from packyard.services.registry import Registry
from packyard.settings import Settings


@dataclass(frozen=True)
class MountedFormat:
    """A format's package endpoint, built on the core: an optional hot path and first-read
    path, then its routes (mounted under ``/{domain}-{owner}/{url_segment}/{repo}``)."""

    routes: Sequence[BaseRoute]
    hot_path: HotPath | None = None
    first_read: FirstRead | None = None


@dataclass(frozen=True)
class FileResult:
    """What ``packyard import`` made of one file."""

    path: Path
    status: Literal["imported", "present", "refused"]
    reason: str | None = None
    """Why it was refused: the message an upload of it would have shown."""


@dataclass(frozen=True)
class TagResult:
    """A tag of a package document, and what the import made of it."""

    tag: str
    version: str
    reason: str | None = None
    """Why it was skipped (the version is not in the repository, say)."""


@dataclass(frozen=True)
class DeprecationResult:
    """A deprecation of a package document, and what the import made of it."""

    version: str
    message: str
    reason: str | None = None
    """Why it was skipped."""


@dataclass(frozen=True)
class YankResult:
    """A version a package document yanks (PyPI's ``index.json``: every file of it yanked),
    and what the import made of it."""

    version: str
    reason: str | None = None
    """Why it was skipped (only some of its files yanked, say)."""


@dataclass(frozen=True)
class PublishTimes:
    """When a package document beside the files says its package's versions and files were
    published (npm's registry document: ``time``; PyPI's ``index.json``: each file's
    ``upload-time``): what ``packyard import`` records for the versions and files it adds, as
    a file kept from an upstream records the upstream's times."""

    package: str
    """The package the document is of, as the format names it (PyPI: normalized; npm: the
    full name, with its scope)."""
    versions: Mapping[str, datetime] = field(default_factory=dict)
    """A version's publish time, by version key (the format's ``normalize_version``)."""
    files: Mapping[str, datetime] = field(default_factory=dict)
    """A file's upload time, by file name."""
    sha256: Mapping[str, str] = field(default_factory=dict)
    """The sha256 the document gives a file, by file name: a file with other bytes is not
    the one it dates (it is imported as published now)."""


def document_time(text: object, *, utc_z: bool = False) -> datetime | None:
    """A time as a package document writes it: ISO 8601 with its zone (npm's ``time``), or
    with ``utc_z`` RFC 3339 in UTC ending in ``Z`` (PEP 700's ``upload-time``); None for
    anything else (no zone: the document's own error)."""
    if not isinstance(text, str) or (utc_z and not text.endswith("Z")):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


@dataclass(frozen=True)
class DocumentResult:
    """What ``packyard import`` made of one package document read beside the files (npm's
    registry document, as Verdaccio keeps one per package): the tags and deprecations it set
    as the format's own commands would, those already so, and those skipped; or why the
    whole document was refused (nothing of it applied)."""

    path: Path
    status: Literal["read", "refused"]
    package: str | None = None
    reason: str | None = None
    tags_set: tuple[TagResult, ...] = ()
    tags_present: tuple[TagResult, ...] = ()
    tags_skipped: tuple[TagResult, ...] = ()
    deprecations_set: tuple[DeprecationResult, ...] = ()
    deprecations_present: tuple[DeprecationResult, ...] = ()
    deprecations_skipped: tuple[DeprecationResult, ...] = ()
    yanks_set: tuple[YankResult, ...] = ()
    yanks_present: tuple[YankResult, ...] = ()
    yanks_skipped: tuple[YankResult, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.tags_set or self.deprecations_set or self.yanks_set)


class FileImporter(Protocol):
    def run(self, paths: Sequence[Path], documents: Sequence[Path] = ()
            ) -> Iterator[list[FileResult]]:
        """Import ``paths`` in order; yields each batch's results once the batch is stored.
        A version or file new to the repository is dated as the package document of
        ``documents`` in its folder says (``PublishTimes``), never later than now."""
        ...

    def apply_documents(self, paths: Sequence[Path]) -> Iterator[DocumentResult]:
        """Read each package document of ``paths`` (once the files are imported), answering
        each that is one; a file that is no such document is passed over, as before."""
        ...


class FileImport(Protocol):
    """A format's ``packyard import``: which files on disk it takes, and what publishes them.

    ``packyard import`` drives every format that has one in one run: a file goes to the
    format whose ``suffixes`` its name ends with (no two formats share an ending)."""

    @property
    def suffixes(self) -> Sequence[str]:
        """The file name endings it takes (``.whl``, ``.tgz``): what a directory is searched
        for, and how a file is told to be this format's."""
        ...

    @property
    def documents(self) -> Sequence[str]:
        """The whole file names of the package documents it reads beside its files (npm:
        ``package.json``, a registry's document of the package; PyPI: ``index.json``, a PEP
        691 project page); empty when none."""
        ...

    def importer(self, registry: Registry, settings: Settings, principal: Principal,
                 domain: Domain, repository: Repository, batch_size: int) -> FileImporter:
        """The service that checks the files as their uploads would be checked (the limits
        are the settings') and publishes them, ``batch_size`` to a transaction."""
        ...


@dataclass(frozen=True)
class PackageDocument:
    """A package's document that ``packyard export`` writes beside its files (npm: the
    registry document Verdaccio keeps as ``package.json``; PyPI: the project's PEP 691 page
    as ``index.json``)."""

    path: tuple[str, ...]
    """Its place under the destination, as ``FileExport.path_of`` gives a file's."""
    merge: Callable[[bytes | None], bytes]
    """Its bytes, given the document an earlier export left at its place (None: none), whose
    versions it keeps; ``Conflict`` when what is there is no document of this package."""


class FileExport(Protocol):
    """A format's ``packyard export``: where each of a repository's files of this format goes
    in the destination folder, laid out as its ``file_import`` reads it back."""

    def path_of(self, package: Package, version: PackageVersion,
                asset: Asset) -> tuple[str, ...] | None:
        """The file's place under the destination, as path parts (folders, then the file's
        name; the first the format's own folder, ``pypi``); None for a file the format's import
        would not take back (it is left out, and counted so). The parts come from the
        catalog: the export checks that they stay inside the destination."""
        ...

    def package_document(self, catalog: Catalog, package: Package,
                         files: Sequence[tuple[PackageVersion, Asset]]
                         ) -> PackageDocument | None:
        """The document of ``package`` made of the files this export wrote of it (each with
        its version), written once they are; None for a format that writes none."""
        ...


class FormatPlugin(FormatRules, Protocol):
    """One package format: its rules, and what it mounts on the core."""

    def build(self, core: Core) -> MountedFormat:
        """The package endpoint, built once per server on ``core``."""
        ...

    @property
    def file_import(self) -> FileImport | None:
        """What ``packyard import`` does for this format; None when it imports nothing."""
        ...

    @property
    def file_export(self) -> FileExport | None:
        """What ``packyard export`` writes for this format; None when it exports nothing (its
        files are left out, and counted so)."""
        ...

    @property
    def page_renderer(self) -> PageRenderer | None:
        """Its project pages, rendered by the catalog in each write that changes a package
        (``metadata/rendered_pages.py``); None when its pages are rendered when read."""
        ...
