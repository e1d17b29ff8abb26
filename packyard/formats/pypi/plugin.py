"""The PyPI format plug-in: its naming rules and its package endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

from packyard.errors import Conflict
from packyard.formats.pypi import names
from packyard.formats.pypi.release_files import ReleaseFile, release_conflict
from packyard.formats.registry import MountedFormat


class PypiFormat:
    """``pypi``: PEP 503 names, PEP 440 versions, the Simple API and the legacy upload API."""

    name = "pypi"
    url_segment = "pypi"

    def normalize_name(self, name: str) -> str:
        return names.normalize_name(name)

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

    def file_conflict(self, filename: str, siblings: Sequence[ReleaseFile]) -> Conflict | None:
        # One sdist per release, one wheel per build tag and tag set (release_files).
        return release_conflict(filename, siblings)

    def mount(self, services: Any) -> MountedFormat:
        from packyard.formats.pypi.routes import pypi_routes

        return pypi_routes(services)
