"""npm's data in the catalog's version ``attributes``: the manifest, and the deprecation.

The manifest is the version's package.json as published (``publish_checks.stored_manifest``:
``dist.integrity``, ``dist.shasum``, no ``dist.tarball``); ``deprecated`` is ``npm
deprecate``'s message, kept apart so that a deprecation changes only it; ``readmeFilename``
names the README the tarball had. The README itself is CodeArtifact's (the version's readme).
Upstream listings carry the same shape as their versions' payload, so a packument is rendered
the same way whichever place a version comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def version_attributes(manifest: Mapping[str, Any], deprecated: str | None = None,
                       readme_filename: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"manifest": dict(manifest)}
    if deprecated:
        found["deprecated"] = deprecated
    if readme_filename:
        found["readmeFilename"] = readme_filename
    return found


def manifest(attributes: Any) -> Mapping[str, Any]:
    value = attributes.get("manifest") if isinstance(attributes, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def deprecated(attributes: Any) -> str | None:
    value = attributes.get("deprecated") if isinstance(attributes, Mapping) else None
    return value if isinstance(value, str) and value else None


def readme_filename(attributes: Any) -> str | None:
    value = attributes.get("readmeFilename") if isinstance(attributes, Mapping) else None
    return value if isinstance(value, str) and value else None


def with_deprecation(attributes: Mapping[str, Any], message: str | None) -> dict[str, Any]:
    """The attributes with ``deprecated`` set, or removed when ``message`` is None."""
    changed = {k: v for k, v in attributes.items() if k != "deprecated"}
    if message:
        changed["deprecated"] = message
    return changed
