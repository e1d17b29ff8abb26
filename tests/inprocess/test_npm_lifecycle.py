"""The lifecycle operations on npm packages: a deleted, disposed or copied version shows in the
packuments and tarballs at once (the same caches the hot path reads), and a deleted version
can be published again, as CodeArtifact allows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess.harness import InProcessPackyard
from tests.inprocess.npm_support import CORGI, NpmRepo, npm_repo

TARBALL_10 = "@acme%2futil/-/util-1.0.0.tgz"


@pytest.fixture
def repo(packyard: InProcessPackyard) -> NpmRepo:
    found = npm_repo(packyard)
    for version in ("1.0.0", "1.1.0"):
        assert found.publish("@acme/util", version).status_code == 201
    return found


def _args(**extra: Any) -> dict[str, Any]:
    return {"domain": "acme", "repository": "npmrepo", "format": "npm", "namespace": "acme",
            "package": "util", **extra}


def _warm(repo: NpmRepo) -> None:
    """Read each document and the tarball twice, so the second answers came from memory."""
    for _ in range(2):
        repo.packument("@acme/util")
        repo.packument("@acme/util", CORGI)
        assert repo.get(TARBALL_10).status_code == 200


def test_a_deleted_version_leaves_the_packuments_and_its_tarball_at_once(repo: NpmRepo) -> None:
    _warm(repo)
    api = repo.app.codeartifact()
    deleted = api.delete_package_versions(**_args(versions=["1.0.0"]))
    assert list(deleted["successfulVersions"]) == ["1.0.0"]
    for accept in (None, CORGI):
        document = repo.packument("@acme/util", *([accept] if accept else []))
        assert sorted(document["versions"]) == ["1.1.0"]
    assert repo.get(TARBALL_10).status_code == 404
    # CodeArtifact lets a deleted version be published again.
    assert repo.publish("@acme/util", "1.0.0").status_code == 201
    assert sorted(repo.packument("@acme/util")["versions"]) == ["1.0.0", "1.1.0"]


def test_a_disposed_version_is_neither_listed_nor_downloadable(repo: NpmRepo) -> None:
    _warm(repo)
    api = repo.app.codeartifact()
    api.dispose_package_versions(**_args(versions=["1.0.0"]))
    assert sorted(repo.packument("@acme/util")["versions"]) == ["1.1.0"]
    assert repo.get(TARBALL_10).status_code == 404
    listed = api.list_package_versions(**_args())["versions"]
    assert {v["version"]: v["status"] for v in listed}["1.0.0"] == "Disposed"


def test_a_copied_version_is_served_by_the_destination(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    api.create_repository(domain="acme", repository="release")
    release = npm_repo(repo.app, repository="release")
    copied = api.copy_package_versions(
        domain="acme", sourceRepository="npmrepo", destinationRepository="release",
        format="npm", namespace="acme", package="util", versions=["1.1.0"])
    assert list(copied["successfulVersions"]) == ["1.1.0"]
    document = release.packument("@acme/util")
    assert sorted(document["versions"]) == ["1.1.0"]
    tarball = document["versions"]["1.1.0"]["dist"]["tarball"]
    assert tarball.startswith(release.endpoint)
    assert release.get(tarball.removeprefix(release.endpoint)).status_code == 200
