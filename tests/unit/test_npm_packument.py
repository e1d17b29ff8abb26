"""The packument, full and abbreviated, rendered from what the core stores."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from packyard.formats.npm.names import PackageName
from packyard.formats.npm.packument import (
    DOWNLOADABLE_STATUSES,
    LISTED_STATUSES,
    StoredPackage,
    StoredVersion,
    document_revision,
    iso_time,
    render_abbreviated,
    render_full,
)
from tests.unit.npm_samples import DEMO_LIB_MANIFEST

BASE = "http://127.0.0.1:4997/dom-000000000000/npm/repo/"
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
ABBREVIATED_VERSION_FIELDS = {
    "name", "version", "dependencies", "optionalDependencies", "devDependencies",
    "bundleDependencies", "peerDependencies", "peerDependenciesMeta", "bin", "directories",
    "dist", "engines", "_hasShrinkwrap", "hasInstallScript", "deprecated", "os", "cpu", "libc"}


def manifest(version: str, **extra: Any) -> dict[str, Any]:
    stored = {k: v for k, v in DEMO_LIB_MANIFEST.items() if k != "version"}
    stored.update(version=version, _hasShrinkwrap=False, _npmVersion="11.21.2",
                  dist={"integrity": f"sha512-{version}", "shasum": "0" * 40, "fileCount": 4,
                        "unpackedSize": 775})
    stored.update(extra)
    return stored


def version(text: str, day: int, status: str = "Published", **extra: Any) -> StoredVersion:
    return StoredVersion(version=text, manifest=manifest(text), status=status,
                         published=T0 + timedelta(days=day), **extra)


PACKAGE = StoredPackage(
    name=PackageName(None, "demo-lib"),
    versions=[
        version("1.1.0", 2, deprecated="use 2.x", readme="# old"),
        version("1.0.0", 1, readme="# first"),
        version("2.0.0", 4, readme="# demo-lib 2", readme_filename="README.md"),
        version("2.1.0-rc.1", 5),
        version("2.0.1", 6, status="Unlisted"),
        version("0.9.0", 0, status="Archived"),
        version("0.8.0", 0, status="Disposed"),
        version("0.7.0", 0, status="Deleted"),
    ],
    dist_tags={"next": "2.1.0-rc.1", "old": "0.9.0"},
    modified=T0 + timedelta(days=7),
)


def full(package: StoredPackage = PACKAGE, **kwargs: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render_full(package, BASE, **kwargs).body)
    return parsed


def test_iso_time_is_javascripts_toisostring() -> None:
    assert iso_time(T0) == "2024-05-01T12:00:00.123Z"
    assert iso_time(datetime(2024, 5, 1, 14, 0, tzinfo=UTC).astimezone()) == (
        "2024-05-01T14:00:00.000Z")
    assert iso_time(datetime(2024, 5, 1)) == "2024-05-01T00:00:00.000Z"  # naive: UTC


def test_statuses() -> None:
    assert {"Published"} == LISTED_STATUSES
    # lockfiles still install an Unlisted version; Archived and Disposed are gone.
    assert {"Published", "Unlisted"} == DOWNLOADABLE_STATUSES


def test_full_document() -> None:
    document = full()
    assert list(document) == ["_id", "name", "dist-tags", "versions", "time", "description",
                              "keywords", "homepage", "repository", "license", "readmeFilename",
                              "readme"]
    assert document["_id"] == document["name"] == "demo-lib"
    # Unlisted, Archived, Disposed and Deleted versions leave it, in semver order otherwise.
    assert list(document["versions"]) == ["1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1"]
    assert document["dist-tags"] == {"latest": "2.0.0", "next": "2.1.0-rc.1"}
    assert document["readme"] == "# demo-lib 2"  # the latest version's
    assert document["readmeFilename"] == "README.md"
    assert document["description"] == DEMO_LIB_MANIFEST["description"]


def test_versions_are_whole_manifests_with_registry_fields() -> None:
    served = full()["versions"]["2.0.0"]
    assert served["_id"] == "demo-lib@2.0.0"
    assert served["dependencies"] == DEMO_LIB_MANIFEST["dependencies"]
    assert served["scripts"] == DEMO_LIB_MANIFEST["scripts"]
    assert served["dist"] == {
        "integrity": "sha512-2.0.0", "shasum": "0" * 40, "fileCount": 4, "unpackedSize": 775,
        "tarball": BASE + "demo-lib/-/demo-lib-2.0.0.tgz"}
    assert "deprecated" not in served
    assert full()["versions"]["1.1.0"]["deprecated"] == "use 2.x"


def test_time_has_every_listed_version() -> None:
    # yarn 4 quarantines versions without time[version] (npmMinimalAgeGate).
    assert full()["time"] == {
        "created": "2024-05-01T12:00:00.123Z",
        "modified": "2024-05-08T12:00:00.123Z",
        "1.0.0": "2024-05-02T12:00:00.123Z",
        "1.1.0": "2024-05-03T12:00:00.123Z",
        "2.0.0": "2024-05-05T12:00:00.123Z",
        "2.1.0-rc.1": "2024-05-06T12:00:00.123Z",
    }


def test_rev_only_for_write() -> None:
    assert "_rev" not in full()
    written = full(write=True)
    assert written["_rev"] == document_revision(PACKAGE)
    assert list(written)[:2] == ["_id", "_rev"]


def test_revision_follows_the_document_not_the_host() -> None:
    revision = document_revision(PACKAGE)
    assert revision.startswith("1-") and len(revision) == 34
    assert document_revision(replace(PACKAGE)) == revision
    deprecated = replace(PACKAGE, versions=[replace(PACKAGE.versions[1], deprecated="no")] + list(
        PACKAGE.versions[:1]) + list(PACKAGE.versions[2:]))
    assert document_revision(deprecated) != revision
    assert document_revision(replace(PACKAGE, dist_tags={})) != revision


def test_scoped_tarball_urls_are_unencoded() -> None:
    scoped = replace(PACKAGE, name=PackageName("acme", "util"))
    served = full(scoped)
    assert served["name"] == "@acme/util"
    assert served["versions"]["1.0.0"]["name"] == "@acme/util"
    assert served["versions"]["1.0.0"]["dist"]["tarball"] == BASE + "@acme/util/-/util-1.0.0.tgz"


def test_bytes_etag_and_gzip() -> None:
    rendered = render_full(PACKAGE, BASE)
    compact = json.dumps(json.loads(rendered.body), separators=(",", ":"), ensure_ascii=False)
    assert rendered.body == compact.encode()
    assert gzip.decompress(rendered.gzip_body) == rendered.body
    assert rendered.etag == f'"{rendered.digest}"'
    assert rendered.gzip_etag == f'"{rendered.digest}-gz"'
    assert rendered.media_type == "application/json"
    assert rendered.last_modified == T0 + timedelta(days=7)
    again = render_full(PACKAGE, BASE)
    assert (again.body, again.gzip_body, again.etag) == (rendered.body, rendered.gzip_body,
                                                        rendered.etag)
    assert render_full(replace(PACKAGE, dist_tags={}), BASE).etag != rendered.etag


def test_readme_travels_once() -> None:
    with_readme = replace(PACKAGE, versions=[
        replace(v, manifest={**v.manifest, "readme": "big", "readmeFilename": "README.md"})
        for v in PACKAGE.versions])
    assert all("readme" not in v for v in full(with_readme)["versions"].values())


def test_no_listed_versions() -> None:
    hidden = replace(PACKAGE, versions=[version("1.0.0", 1, status="Unlisted")], dist_tags={})
    document = full(hidden)
    assert document["versions"] == {} and document["dist-tags"] == {}
    assert document["readme"] == ""
    assert set(document["time"]) == {"created", "modified"}


def test_abbreviated_document() -> None:
    rendered = render_abbreviated(PACKAGE, BASE)
    assert rendered.media_type == "application/vnd.npm.install-v1+json"
    document = json.loads(rendered.body)
    # pnpm 12 makes a second, full request when the abbreviated one has no time.
    assert set(document) == {"name", "modified", "dist-tags", "versions", "time"}
    assert document["modified"] == "2024-05-08T12:00:00.123Z"
    assert document["time"] == full()["time"]
    assert document["dist-tags"] == full()["dist-tags"]
    for served in document["versions"].values():
        assert set(served) <= ABBREVIATED_VERSION_FIELDS
    served = document["versions"]["1.1.0"]
    assert served["deprecated"] == "use 2.x"
    assert served["hasInstallScript"] is True  # the postinstall script
    assert served["_hasShrinkwrap"] is False
    assert served["bin"] == {"demo-lib": "cli.js"}
    assert served["dist"]["tarball"] == BASE + "demo-lib/-/demo-lib-1.1.0.tgz"
    assert "scripts" not in served and "description" not in served
    assert rendered.etag != render_full(PACKAGE, BASE).etag


@pytest.mark.parametrize(("extra", "expected"), [
    ({"scripts": {"test": "tap"}}, {}),
    ({"scripts": {"preinstall": "x"}}, {"hasInstallScript": True}),
    ({"scripts": {"install": "node-gyp rebuild"}}, {"hasInstallScript": True}),
    ({"bundledDependencies": ["a"]}, {"bundleDependencies": ["a"]}),
    ({"bundleDependencies": ["b"], "bundledDependencies": ["a"]}, {"bundleDependencies": ["b"]}),
    ({"os": ["linux"], "cpu": ["x64"], "libc": ["glibc"]},
     {"os": ["linux"], "cpu": ["x64"], "libc": ["glibc"]}),
])
def test_abbreviated_version_fields(extra: dict[str, Any], expected: dict[str, Any]) -> None:
    stored = StoredVersion("1.0.0", {"name": "x", "version": "1.0.0", "dist": {}, **extra},
                           "Published", T0)
    package = StoredPackage(PackageName(None, "x"), [stored], {})
    served = json.loads(render_abbreviated(package, BASE).body)["versions"]["1.0.0"]
    assert {k: v for k, v in served.items() if k not in ("name", "version", "dist")} == expected


def test_a_manifest_with_a_malformed_dist_still_renders() -> None:
    # Upstream manifests are not ours: some very old ones carry odd values.
    stored = StoredVersion("1.0.0", {"name": "x", "version": "1.0.0", "dist": "junk"},
                           "Published", T0)
    document = full(StoredPackage(PackageName(None, "x"), [stored], {}))
    assert document["versions"]["1.0.0"]["dist"] == {"tarball": BASE + "x/-/x-1.0.0.tgz"}
