"""What the format-neutral core needs to know about a format, and the registry of the formats a
server has.

A format (pypi, npm, …) lives in ``packyard/formats/<name>/`` and is one ``FormatPlugin``
(``formats/plugin.py``). Its ``FormatRules`` are the part the layers below the plug-ins use:
the CodeArtifact API's naming rules (CodeArtifact operations are format-neutral otherwise), the
rule for the files one version may hold (applied by the catalog), and the external connections
the format serves. This module sits below the services and imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from packyard.errors import Conflict, Invalid
from packyard.formats.codeartifact import codeartifact_formats
from packyard.metadata.new_files import SiblingFile
from packyard.model import PackageVersion
from packyard.upstream.connections import ExternalConnection


class FormatRules(Protocol):
    """A format's rules, as the API, the services and the catalog apply them."""

    @property
    def name(self) -> str:
        """The CodeArtifact format name (``packageFormat``)."""
        ...

    @property
    def url_segment(self) -> str:
        """The path segment of the package endpoint: ``/{domain}-{owner}/{segment}/{repo}/``."""
        ...

    @property
    def external_connections(self) -> Sequence[ExternalConnection]:
        """The CodeArtifact external connections this format serves, with where each is."""
        ...

    def default_display_version(self, versions: Sequence[PackageVersion],
                                tags: Mapping[str, str]) -> str | None:
        """The version of a package CodeArtifact shows by default (ListPackageVersions'
        ``defaultDisplayVersion``), of all its ``versions`` and its stored ``tags`` (tag ->
        version key); ``most_recently_published`` for PyPI and most formats."""
        ...

    def normalize_name(self, name: str) -> str: ...

    def normalize_namespace(self, namespace: str | None) -> str:
        """The namespace as stored ("" for none); ``Invalid`` when the format takes none."""
        ...

    def normalize_version(self, version: str) -> str: ...

    def version_sort_key(self, version: str) -> Any: ...

    def file_conflict(self, filename: str, siblings: Sequence[SiblingFile]) -> Conflict | None:
        """Whether a version may take a new file next to the ones it holds (the catalog asks
        inside the transaction that adds it): the conflict, or None."""
        ...


def most_recently_published(versions: Sequence[PackageVersion]) -> str | None:
    """CodeArtifact's default display version "for Maven and PyPI packages": the most
    recently published version (of those Published)."""
    published = [v for v in versions if v.status == "Published"]
    return max(published, key=lambda v: v.published_at).version if published else None


@runtime_checkable
class DependencyTexts(FormatRules, Protocol):
    """A format that keeps more of a dependency than CodeArtifact's PackageDependency record
    holds (PyPI: extras and environment markers), for the pages that show dependencies."""

    def dependency_texts(self, version: PackageVersion) -> Sequence[str] | None:
        """How each of ``version.dependencies`` reads in the format's own terms, in their
        order; None when the version keeps nothing more than the records."""
        ...


@runtime_checkable
class DependencyRecords(FormatRules, Protocol):
    """A format whose stored PackageDependency records are not all answered as stored (PyPI:
    those written before its dependencyType was CodeArtifact's "Requires-Dist")."""

    def dependency_records(self, version: PackageVersion) -> list[dict[str, Any]]:
        """``version.dependencies`` as ListPackageVersionDependencies answers them."""
        ...


def dependency_records(rules: FormatRules, version: PackageVersion) -> list[dict[str, Any]]:
    """``version``'s dependency records as answered (``DependencyRecords``), or as stored."""
    if isinstance(rules, DependencyRecords):
        return rules.dependency_records(version)
    return list(version.dependencies)


@runtime_checkable
class AssetRules(FormatRules, Protocol):
    """A format whose versions are published asset by asset through the API (CodeArtifact's
    PublishPackageVersion, which takes generic packages only)."""

    def check_asset_name(self, name: str) -> None:
        """``Invalid`` for a name the format's assets cannot have."""
        ...

    def check_version(self, version: str) -> None:
        """``Invalid`` for a version the format cannot have."""
        ...


class FormatRegistry:
    """The formats this server has, by name."""

    def __init__(self, plugins: Sequence[FormatRules]) -> None:
        self._plugins = {p.name: p for p in plugins}

    def get(self, name: str) -> FormatRules:
        plugin = self._plugins.get(name)
        if plugin is None:
            if name in codeartifact_formats():
                raise Invalid(f"Format {name} is not supported by this server yet; "
                              f"supported: {', '.join(sorted(self._plugins))}")
            raise Invalid(f"Unknown package format {name!r}")
        return plugin

    def asset_rules(self, name: str) -> AssetRules:
        """The rules of a format published through PublishPackageVersion; ``Invalid`` for the
        others, which their own clients publish."""
        plugin = self.get(name)
        if not isinstance(plugin, AssetRules):
            raise Invalid(f"PublishPackageVersion publishes generic packages only; publish {name} "
                          f"packages with {name}'s own tools to the repository's {name} "
                          "endpoint (get-repository-endpoint)")
        return plugin

    def __iter__(self) -> Iterator[FormatRules]:
        return iter(self._plugins.values())

    def external_connections(self) -> list[ExternalConnection]:
        """The external connections the registered formats serve."""
        return [connection for plugin in self for connection in plugin.external_connections]
