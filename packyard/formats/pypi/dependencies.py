"""A distribution's Requires-Dist as CodeArtifact's PackageDependency records, and the rest of
each requirement (its extras and environment marker) kept beside them.

A PackageDependency has a package, a dependencyType and a versionRequirement: no place for
PEP 508's extras or marker. ``colorama; sys_platform == "win32"`` would read as a plain
``colorama``, always required, so the requirements as the metadata wrote them are kept in the
version's attributes (``requires_dist``), one for each dependency record and in their order,
and shown where a reader sees dependencies. Versions stored before they were kept show the
records alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

_REQUIRES_DIST = "requires_dist"
# CodeArtifact's dependencyType of every PyPI dependency (botocore's PackageDependency: "pypi:
# Requires-Dist"); records written before said "install", and are answered as it.
DEPENDENCY_TYPE = "Requires-Dist"
_WRITTEN_BEFORE = "install"


def _requirements(requires_dist: Iterable[str]) -> list[Requirement]:
    """The requirements that parse; the others are left out, as pip would fail on them."""
    found = []
    for spec in requires_dist:
        try:
            found.append(Requirement(spec))
        except InvalidRequirement:
            continue
    return found


def dependency_records(requires_dist: Iterable[str]
                       ) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """What ListPackageVersionDependencies returns (unparsable requirements are left out),
    and the version's attributes that keep each requirement whole, as PEP 508 writes it
    (``requests[socks]>=2; python_version < "3.10"``), when one has extras or a marker."""
    requirements = _requirements(requires_dist)
    return _records(requirements), _kept(requirements)


def _records(requirements: Sequence[Requirement]) -> list[dict[str, str]]:
    return [{"package": req.name, "dependencyType": DEPENDENCY_TYPE,
             "versionRequirement": str(req.specifier) if req.specifier else ""}
            for req in requirements]


def as_answered(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A version's stored records as CodeArtifact answers them: those written before with
    ``dependencyType`` "install" say "Requires-Dist"."""
    return [{**record, "dependencyType": DEPENDENCY_TYPE}
            if record.get("dependencyType") == _WRITTEN_BEFORE else dict(record)
            for record in records]


def _kept(requirements: Sequence[Requirement]) -> dict[str, Any]:
    if not any(req.extras or req.marker for req in requirements):
        return {}
    return {_REQUIRES_DIST: [str(req) for req in requirements]}


def requirement_texts(attributes: Mapping[str, Any], count: int) -> Sequence[str] | None:
    """Each of a version's ``count`` dependency records as its requirement reads whole, or
    None when the version keeps no such list (or one that does not match its records)."""
    kept = attributes.get(_REQUIRES_DIST)
    if (not isinstance(kept, list) or len(kept) != count
            or not all(isinstance(text, str) for text in kept)):
        return None
    return kept
