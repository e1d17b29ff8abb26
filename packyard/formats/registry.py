"""The package-format plug-in interface and the registry of formats Packyard serves.

A format (pypi, npm, …) lives in ``packyard/formats/<name>/`` and provides one ``FormatPlugin``:
its naming rules for the API and the HTTP routes of its package endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from packyard.errors import Conflict, Invalid

if TYPE_CHECKING:
    from starlette.routing import BaseRoute
    from starlette.types import Scope

    from packyard.http.answer import Answer
    from packyard.metadata.new_files import SiblingFile

HotPath = Callable[["Scope"], "Answer | None"]
"""Answers a request from memory before routing, or leaves it to the routes (None). It must not
block or do I/O: the server calls it straight from its protocol callbacks."""


@dataclass(frozen=True)
class MountedFormat:
    """A format's package endpoint: an optional hot path, then its routes."""

    hot_path: HotPath | None
    routes: Sequence[BaseRoute]

# Every format name CodeArtifact knows; only the registered ones work here.
CODEARTIFACT_FORMATS = ("npm", "pypi", "maven", "nuget", "generic", "ruby", "swift", "cargo")


class FormatPlugin(Protocol):
    name: str
    url_segment: str  # the path segment of the package endpoint, e.g. "pypi"

    def normalize_name(self, name: str) -> str: ...

    def normalize_version(self, version: str) -> str: ...

    def version_sort_key(self, version: str) -> Any: ...

    def file_conflict(self, filename: str, siblings: Sequence[SiblingFile]) -> Conflict | None:
        """Whether a version may take a new file next to the ones it holds (the catalog asks
        inside the transaction that adds it): the conflict, or None."""
        ...

    def mount(self, services: Any) -> MountedFormat:
        """The package endpoint under ``/{domain}-{owner}/{segment}/{repo}``."""
        ...


class FormatRegistry:
    """The formats this server has, by name."""

    def __init__(self, plugins: Sequence[FormatPlugin]) -> None:
        self._plugins = {p.name: p for p in plugins}

    def get(self, name: str) -> FormatPlugin:
        plugin = self._plugins.get(name)
        if plugin is None:
            if name in CODEARTIFACT_FORMATS:
                raise Invalid(f"Format {name} is not supported by this server yet; "
                              f"supported: {', '.join(sorted(self._plugins))}")
            raise Invalid(f"Unknown package format {name!r}")
        return plugin

    def __iter__(self) -> Any:
        return iter(self._plugins.values())


PluginFactory = Callable[[], FormatPlugin]
