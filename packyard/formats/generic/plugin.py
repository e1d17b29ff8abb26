"""The generic format plug-in: its naming rules and asset rules. Its assets arrive through the
CodeArtifact API (``services/asset_publishing.py``), so its package endpoint serves nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packyard.errors import Conflict
from packyard.formats.generic import names
from packyard.formats.registry import most_recently_published
from packyard.metadata.new_files import SiblingFile
from packyard.model import PackageVersion
from packyard.upstream.connections import ExternalConnection

if TYPE_CHECKING:
    from packyard.formats.plugin import FileExport, FileImport, MountedFormat
    from packyard.metadata.catalog import PageRenderer
    from packyard.services.core import Core

FORMAT = "generic"


class GenericFormat:
    """``generic``: names as given, a namespace required, any file as an asset."""

    name = FORMAT
    url_segment = FORMAT
    # Generic packages never come from upstreams or external connections.
    external_connections: Sequence[ExternalConnection] = ()

    def normalize_name(self, name: str) -> str:
        return names.check_name(name)

    def normalize_namespace(self, namespace: str | None) -> str:
        return names.check_namespace(namespace)

    def normalize_version(self, version: str) -> str:
        return version

    def version_sort_key(self, version: str) -> Any:
        return names.version_sort_key(version)

    def default_display_version(self, versions: Sequence[PackageVersion],
                                tags: Mapping[str, str]) -> str | None:
        return most_recently_published(versions)

    def file_conflict(self, filename: str, siblings: Sequence[SiblingFile]) -> Conflict | None:
        # Any names side by side; the same name with other bytes is the catalog's conflict.
        return None

    def check_asset_name(self, name: str) -> None:
        names.check_asset_name(name)

    def check_version(self, version: str) -> None:
        names.check_version(version)

    def build(self, core: Core) -> MountedFormat:
        from packyard.formats.plugin import MountedFormat

        return MountedFormat(routes=())

    @property
    def file_import(self) -> FileImport | None:
        return None

    @property
    def file_export(self) -> FileExport | None:
        # No layout packyard import reads back: its assets are named per version, freely.
        return None

    @property
    def page_renderer(self) -> PageRenderer | None:
        return None
