"""A distribution's Requires-Dist as CodeArtifact's PackageDependency records."""

from __future__ import annotations

from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement


def package_dependencies(requires_dist: Iterable[str]) -> list[dict[str, str]]:
    """What ListPackageVersionDependencies returns; unparsable requirements are left out."""
    found = []
    for spec in requires_dist:
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            continue
        found.append({"package": req.name, "dependencyType": "install",
                      "versionRequirement": str(req.specifier) if req.specifier else ""})
    return found
