"""A manifest as CodeArtifact describes a package version: dependencies and summary fields.

ListPackageVersionDependencies returns ``PackageDependency`` records (botocore's codeartifact
model: ``namespace``, ``package``, ``dependencyType``, ``versionRequirement``), whose npm
dependency types are ``regular``, ``dev``, ``peer`` and ``optional``; the namespace of an npm
dependency is its scope. DescribePackageVersion's ``summary``, ``homePage``,
``sourceCodeRepository`` and ``licenses`` (``LicenseInfo``: ``name``, ``url``) come from the
manifest too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packyard.errors import Invalid
from packyard.formats.npm.names import parse_package_name

# In CodeArtifact's order. A name also listed under optionalDependencies is optional only:
# old manifests listed optional dependencies twice, and npm (optionalDedupe) and arborist
# treat the optional entry as the one that counts.
DEPENDENCY_TYPES = (
    ("dependencies", "regular"),
    ("devDependencies", "dev"),
    ("peerDependencies", "peer"),
    ("optionalDependencies", "optional"),
)


def package_dependencies(manifest: Mapping[str, Any]) -> list[dict[str, str]]:
    """What ListPackageVersionDependencies returns for a version; malformed entries are left
    out (the public registry serves manifests older than today's rules)."""
    optional = manifest.get("optionalDependencies")
    optional_names = set(optional) if isinstance(optional, Mapping) else set()
    found: list[dict[str, str]] = []
    for field_name, dependency_type in DEPENDENCY_TYPES:
        entries = manifest.get(field_name)
        if not isinstance(entries, Mapping):
            continue
        for name, requirement in entries.items():
            if dependency_type == "regular" and name in optional_names:
                continue
            if not isinstance(requirement, str):
                continue
            try:
                parsed = parse_package_name(name)
            except Invalid:
                continue
            record = {"package": parsed.bare, "dependencyType": dependency_type,
                      "versionRequirement": requirement}
            if parsed.scope is not None:
                record = {"namespace": parsed.scope, **record}
            found.append(record)
    return found


@dataclass(frozen=True)
class VersionSummary:
    """DescribePackageVersion's fields that an npm manifest provides."""

    summary: str | None = None
    home_page: str | None = None
    source_code_repository: str | None = None
    licenses: list[dict[str, str]] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _repository(value: Any) -> str | None:
    # "repository": "github:user/repo" | "user/repo" | {"type": "git", "url": ..., "directory"}
    if isinstance(value, Mapping):
        return _text(value.get("url"))
    return _text(value)


def _license(value: Any) -> dict[str, str] | None:
    # An SPDX expression (today's form), or the old {"type": "MIT", "url": ...} object.
    if isinstance(value, Mapping):
        name, url = _text(value.get("type")), _text(value.get("url"))
        if name is None:
            return None
        return {"name": name, "url": url} if url else {"name": name}
    name = _text(value)
    return {"name": name} if name else None


def version_summary(manifest: Mapping[str, Any]) -> VersionSummary:
    """Summary (description), home page, source repository and licenses of a manifest."""
    licenses: list[dict[str, str]] = []
    for value in [manifest.get("license"), *_list(manifest.get("licenses"))]:
        found = _license(value)
        if found is not None and found not in licenses:
            licenses.append(found)
    return VersionSummary(
        summary=_text(manifest.get("description")),
        home_page=_text(manifest.get("homepage")),
        source_code_repository=_repository(manifest.get("repository")),
        licenses=licenses,
    )


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
