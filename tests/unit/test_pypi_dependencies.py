"""Requires-Dist as CodeArtifact PackageDependency records."""

from __future__ import annotations

from packyard.formats.pypi.dependencies import package_dependencies


def test_requirements_become_package_dependencies() -> None:
    assert package_dependencies(["packaging>=20", "rich", "tomli; python_version < '3.11'",
                                 "not a requirement !!"]) == [
        {"package": "packaging", "dependencyType": "install", "versionRequirement": ">=20"},
        {"package": "rich", "dependencyType": "install", "versionRequirement": ""},
        {"package": "tomli", "dependencyType": "install", "versionRequirement": ""},
    ]
