"""A manifest as CodeArtifact describes it: PackageDependency records and summary fields."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import botocore
import pytest

from packyard.formats.npm.dependencies import (
    VersionSummary,
    package_dependencies,
    version_summary,
)
from tests.unit.npm_samples import DEMO_LIB_MANIFEST


def _model_shape(name: str) -> dict[str, Any]:
    models = sorted(Path(os.path.dirname(botocore.__file__), "data", "codeartifact").glob(
        "*/service-2.json.gz"))
    shapes: dict[str, Any] = json.loads(gzip.decompress(models[-1].read_bytes()))["shapes"]
    return shapes[name]


def test_demo_lib_dependencies() -> None:
    assert package_dependencies(DEMO_LIB_MANIFEST) == [
        {"namespace": "acme", "package": "util", "dependencyType": "regular",
         "versionRequirement": "^1.0.0"},
        {"package": "left-pad", "dependencyType": "regular", "versionRequirement": "~1.3.0"},
        {"package": "tap", "dependencyType": "dev", "versionRequirement": "^18.0.0"},
        {"package": "react", "dependencyType": "peer", "versionRequirement": ">=17"},
        {"package": "fsevents", "dependencyType": "optional", "versionRequirement": "^2.3.0"},
    ]


def test_records_have_the_shape_of_botocores_model() -> None:
    members = set(_model_shape("PackageDependency")["members"])
    for record in package_dependencies(DEMO_LIB_MANIFEST):
        assert set(record) <= members


def test_an_optional_dependency_also_listed_as_regular_is_optional_only() -> None:
    # Old manifests listed optional dependencies twice (npm's optionalDedupe removes the copy).
    manifest = {"dependencies": {"fsevents": "^2", "a": "1"},
                "optionalDependencies": {"fsevents": "^2"}}
    assert [(d["package"], d["dependencyType"]) for d in package_dependencies(manifest)] == [
        ("a", "regular"), ("fsevents", "optional")]


@pytest.mark.parametrize("manifest", [
    {"dependencies": ["a", "b"]},
    {"dependencies": {"a": 1, "b": None}},
    {"dependencies": {"Not Valid": "1", "..": "1"}},
    {"devDependencies": "a"},
    {},
])
def test_malformed_entries_are_left_out(manifest: dict[str, Any]) -> None:
    assert package_dependencies(manifest) == []


def test_aliases_and_urls_are_kept_as_written() -> None:
    manifest = {"dependencies": {"lp": "npm:left-pad@^1", "x": "github:user/x#main"}}
    assert [d["versionRequirement"] for d in package_dependencies(manifest)] == [
        "npm:left-pad@^1", "github:user/x#main"]


@pytest.mark.parametrize(("manifest", "summary"), [
    (DEMO_LIB_MANIFEST, VersionSummary(
        summary="A tiny library for Packyard's tests", home_page="https://example.com/demo-lib",
        source_code_repository="git+https://example.com/demo-lib.git",
        licenses=[{"name": "MIT"}])),
    ({"repository": "github:user/repo", "license": "(MIT OR Apache-2.0)"},
     VersionSummary(source_code_repository="github:user/repo",
                    licenses=[{"name": "(MIT OR Apache-2.0)"}])),
    ({"license": {"type": "BSD", "url": "https://example.com/license"}},
     VersionSummary(licenses=[{"name": "BSD", "url": "https://example.com/license"}])),
    ({"licenses": [{"type": "MIT"}, "ISC", {"type": "MIT"}]},
     VersionSummary(licenses=[{"name": "MIT"}, {"name": "ISC"}])),
    ({"description": "  ", "homepage": 3, "repository": {"type": "git"}, "license": ""},
     VersionSummary()),
])
def test_version_summary(manifest: dict[str, Any], summary: VersionSummary) -> None:
    assert version_summary(manifest) == summary


def test_license_records_have_the_shape_of_botocores_model() -> None:
    members = set(_model_shape("LicenseInfo")["members"])
    licenses = version_summary({"license": {"type": "BSD", "url": "https://x"}}).licenses
    assert set(licenses[0]) <= members
