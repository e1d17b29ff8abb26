"""The version lifecycle through botocore and the app: DeletePackageVersions,
DisposePackageVersions, DeletePackage and CopyPackageVersions, each answer and each documented
error, and what every other surface shows right after (PyPI pages, files, the hot path, the
blob store)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from packyard.services.blob_sweeper import BlobSweeper
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, client_error
from tests.inprocess.test_access_decisions import CA, _denied, _user
from tests.integration.helpers import Dist, DistFactory, DistSpec, upload, upload_ok

V10 = DistSpec(name="Demo.Pkg", version="1.0")
V11 = DistSpec(name="Demo.Pkg", version="1.1")


@dataclass
class Shelf:
    packyard: InProcessPackyard
    api: Any
    repo: InProcessRepo
    wheel_10: Dist
    wheel_11: Dist

    def args(self, **extra: Any) -> dict[str, Any]:
        return {"domain": "acme", "repository": "shelf", "format": "pypi",
                "package": "demo-pkg", **extra}

    def versions(self, repository: str = "shelf") -> dict[str, str]:
        listed = self.api.list_package_versions(**self.args(repository=repository))
        return {v["version"]: v["status"] for v in listed["versions"]}

    def blob_exists(self, dist: Dist) -> bool:
        container = self.packyard.container
        domain = container.catalog.get_domain(container.settings.account_id, "acme",
                                              with_stats=False)
        return container.registry.blobs.exists(domain.blob_key, dist.sha256)


@pytest.fixture
def shelf(packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory) -> Shelf:
    done = Shelf(packyard, packyard.codeartifact(), repo, dists.wheel(V10), dists.wheel(V11))
    upload_ok(repo, done.wheel_10, done.wheel_11)
    return done


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


def _file_path(shelf: Shelf, dist: Dist) -> str:
    page = shelf.repo.get("simple/demo-pkg/")
    assert page.status_code == 200
    for line in page.text.splitlines():
        if dist.filename in line and 'href="' in line:
            return line.split('href="', 1)[1].split('"', 1)[0].split("#", 1)[0]
    raise AssertionError(f"{dist.filename} not on the page")


# -- DeletePackageVersions ------------------------------------------------------------------------

def test_delete_versions_answers_and_removes_the_version_everywhere(shelf: Shelf) -> None:
    # The page and the file are read (and cached by the hot path) before the deletion.
    href = _file_path(shelf, shelf.wheel_10)
    with shelf.repo.client() as http:
        assert http.get(href if href.startswith("http") else
                        shelf.repo.endpoint + "simple/demo-pkg/" + href).status_code == 200
    out = shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    assert out["successfulVersions"] == {
        "1.0": {"revision": out["successfulVersions"]["1.0"]["revision"], "status": "Deleted"}}
    assert out["failedVersions"] == {}
    assert shelf.versions() == {"1.1": "Published"}
    page = shelf.repo.get("simple/demo-pkg/")
    assert shelf.wheel_10.filename not in page.text
    assert shelf.wheel_11.filename in page.text
    with shelf.repo.client() as http:
        gone = http.get(href if href.startswith("http") else
                        shelf.repo.endpoint + "simple/demo-pkg/" + href)
    assert gone.status_code == 404
    assert _fails(shelf.api.describe_package_version, **shelf.args(packageVersion="1.0"))[:2] \
        == ("ResourceNotFoundException", 404)
    assert not shelf.blob_exists(shelf.wheel_10)
    assert shelf.blob_exists(shelf.wheel_11)


def test_a_deleted_version_can_be_published_again(shelf: Shelf) -> None:
    shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    upload_ok(shelf.repo, shelf.wheel_10)
    assert shelf.versions() == {"1.0": "Published", "1.1": "Published"}
    assert shelf.blob_exists(shelf.wheel_10)
    assert shelf.wheel_10.filename in shelf.repo.get("simple/demo-pkg/").text


def test_delete_versions_with_the_wrong_expected_status_changes_nothing(shelf: Shelf) -> None:
    out = shelf.api.delete_package_versions(**shelf.args(), versions=["1.0", "1.1"],
                                            expectedStatus="Archived")
    assert out["successfulVersions"] == {}
    assert out["failedVersions"] == {
        "1.0": {"errorCode": "MISMATCHED_STATUS",
                "errorMessage": "current status: Published, expected status: Archived"},
        "1.1": {"errorCode": "MISMATCHED_STATUS",
                "errorMessage": "current status: Published, expected status: Archived"}}
    assert shelf.versions() == {"1.0": "Published", "1.1": "Published"}


def test_delete_versions_of_an_unknown_version_skips_the_others(shelf: Shelf) -> None:
    out = shelf.api.delete_package_versions(**shelf.args(), versions=["1.0", "9.9"])
    assert out["successfulVersions"] == {}
    assert out["failedVersions"] == {
        "1.0": {"errorCode": "SKIPPED", "errorMessage": "version 1.0 is skipped"},
        "9.9": {"errorCode": "NOT_FOUND", "errorMessage": "Could not find version 9.9"}}
    assert shelf.versions() == {"1.0": "Published", "1.1": "Published"}
    assert shelf.blob_exists(shelf.wheel_10)


def test_delete_versions_keeps_a_blob_another_repository_uses(shelf: Shelf) -> None:
    shelf.api.create_repository(domain="acme", repository="release")
    shelf.api.copy_package_versions(domain="acme", sourceRepository="shelf",
                                    destinationRepository="release", format="pypi",
                                    package="demo-pkg", versions=["1.0"])
    shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    assert shelf.blob_exists(shelf.wheel_10)
    assert shelf.versions("release") == {"1.0": "Published"}
    shelf.api.delete_package_versions(**shelf.args(repository="release"), versions=["1.0"])
    assert not shelf.blob_exists(shelf.wheel_10)


def test_delete_versions_needs_its_own_permission(packyard: InProcessPackyard,
                                                  shelf: Shelf) -> None:
    reader = _user(packyard, "reader", {"Effect": "Allow", "Resource": "*",
                                        "Action": "codeartifact:ListPackageVersions"})
    assert _fails(packyard.codeartifact(reader.credentials).delete_package_versions,
                  **shelf.args(), versions=["1.0"]) == (
        "AccessDeniedException", 403,
        _denied(reader.arn, "codeartifact:DeletePackageVersions",
                f"{CA}:package/acme/shelf/pypi//demo-pkg"))
    assert shelf.versions() == {"1.0": "Published", "1.1": "Published"}


# -- DisposePackageVersions -----------------------------------------------------------------------

def test_dispose_keeps_the_record_and_deletes_the_assets(shelf: Shelf) -> None:
    out = shelf.api.dispose_package_versions(**shelf.args(), versions=["1.0"])
    assert out["successfulVersions"]["1.0"]["status"] == "Disposed"
    assert out["failedVersions"] == {}
    assert shelf.versions() == {"1.0": "Disposed", "1.1": "Published"}
    assets = shelf.api.list_package_version_assets(**shelf.args(packageVersion="1.0"))
    assert assets["assets"] == []
    assert shelf.wheel_10.filename not in shelf.repo.get("simple/demo-pkg/").text
    assert not shelf.blob_exists(shelf.wheel_10)
    again = shelf.api.dispose_package_versions(**shelf.args(), versions=["1.0"])
    assert again["successfulVersions"]["1.0"]["status"] == "Disposed"


def test_dispose_with_the_wrong_expected_status_changes_nothing(shelf: Shelf) -> None:
    shelf.api.update_package_versions_status(**shelf.args(), versions=["1.1"],
                                             targetStatus="Archived")
    out = shelf.api.dispose_package_versions(**shelf.args(), versions=["1.0", "1.1"],
                                             expectedStatus="Archived")
    assert out["successfulVersions"] == {}
    assert out["failedVersions"]["1.0"] == {
        "errorCode": "MISMATCHED_STATUS",
        "errorMessage": "current status: Published, expected status: Archived"}
    assert out["failedVersions"]["1.1"]["errorCode"] == "SKIPPED"
    assert shelf.versions() == {"1.0": "Published", "1.1": "Archived"}


def test_a_disposed_version_cannot_be_restored(shelf: Shelf) -> None:
    shelf.api.dispose_package_versions(**shelf.args(), versions=["1.0"])
    out = shelf.api.update_package_versions_status(**shelf.args(), versions=["1.0"],
                                                   targetStatus="Published")
    assert out["successfulVersions"] == {}
    assert out["failedVersions"]["1.0"]["errorCode"] == "NOT_ALLOWED"


# -- DeletePackage --------------------------------------------------------------------------------

def test_delete_package_answers_the_package_and_removes_its_origin_configuration(
        shelf: Shelf) -> None:
    shelf.api.put_package_origin_configuration(
        **shelf.args(), restrictions={"publish": "ALLOW", "upstream": "ALLOW"})
    out = shelf.api.delete_package(**shelf.args(package="Demo_Pkg"))
    assert out["deletedPackage"] == {
        "format": "pypi", "package": "demo-pkg",
        "originConfiguration": {"restrictions": {"publish": "ALLOW", "upstream": "ALLOW"}}}
    assert shelf.api.list_packages(domain="acme", repository="shelf")["packages"] == []
    assert shelf.repo.get("simple/demo-pkg/").status_code == 404
    assert not shelf.blob_exists(shelf.wheel_10)
    assert not shelf.blob_exists(shelf.wheel_11)
    upload_ok(shelf.repo, shelf.wheel_11)
    described = shelf.api.describe_package(**shelf.args())["package"]
    assert described["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                                 "upstream": "BLOCK"}


def test_delete_package_of_an_unknown_package_is_not_found(shelf: Shelf) -> None:
    assert _fails(shelf.api.delete_package, **shelf.args(package="nothing")) == (
        "ResourceNotFoundException", 404, "Package nothing not found in repository shelf")


# -- CopyPackageVersions --------------------------------------------------------------------------

def _copy(shelf: Shelf, **extra: Any) -> Any:
    args = {"domain": "acme", "sourceRepository": "shelf", "destinationRepository": "release",
            "format": "pypi", "package": "demo-pkg", **extra}
    return shelf.api.copy_package_versions(**args)


@pytest.fixture
def release(shelf: Shelf) -> Shelf:
    shelf.api.create_repository(domain="acme", repository="release")
    return shelf


def test_copy_promotes_versions_without_copying_bytes(release: Shelf) -> None:
    shelf = release
    shelf.api.update_package_versions_status(**shelf.args(), versions=["1.1"],
                                             targetStatus="Unlisted")
    out = _copy(shelf, versions=["1.0", "1.1"])
    assert {v: s["status"] for v, s in out["successfulVersions"].items()} == {
        "1.0": "Published", "1.1": "Unlisted"}
    assert out["failedVersions"] == {}
    assert shelf.versions("release") == {"1.0": "Published", "1.1": "Unlisted"}
    release_repo = shelf.packyard.pypi_repo("acme", "release", create=False)
    assert shelf.wheel_10.filename in release_repo.get("simple/demo-pkg/").text
    assets = shelf.api.list_package_version_assets(**shelf.args(repository="release",
                                                                packageVersion="1.0"))
    assert [a["hashes"]["SHA-256"] for a in assets["assets"]] == [shelf.wheel_10.sha256]


def test_regression_origin_type_filter_matches_the_origin_shown(release: Shelf) -> None:
    """Once the repository a version was published to is deleted, its copies show origin
    UNKNOWN, but ``--origin-type UNKNOWN`` listed none of them and ``--origin-type INTERNAL``
    still did: the filter read the stored entry type, not the origin the answer shows."""
    shelf = release
    _copy(shelf, versions=["1.0", "1.1"])
    shelf.api.delete_repository(domain="acme", repository="shelf")

    def listed(**filters: str) -> list[tuple[str, str]]:
        return [(v["version"], v["origin"]["originType"]) for v in shelf.api.list_package_versions(
            **shelf.args(repository="release"), **filters)["versions"]]

    assert listed() == [("1.0", "UNKNOWN"), ("1.1", "UNKNOWN")]
    assert listed(originType="UNKNOWN") == listed()
    assert listed(originType="INTERNAL") == []


def test_copy_by_version_revisions(release: Shelf) -> None:
    shelf = release
    revision = shelf.api.describe_package_version(
        **shelf.args(packageVersion="1.0"))["packageVersion"]["revision"]
    out = _copy(shelf, versionRevisions={"1.0": revision})
    assert out["successfulVersions"].keys() == {"1.0"}
    stale = _copy(shelf, versionRevisions={"1.1": "stale"})
    assert stale["failedVersions"]["1.1"] == {
        "errorCode": "MISMATCHED_REVISION",
        "errorMessage": stale["failedVersions"]["1.1"]["errorMessage"]}
    assert shelf.versions("release") == {"1.0": "Published"}


def test_copy_over_an_existing_version_needs_allow_overwrite(release: Shelf,
                                                             dists: DistFactory) -> None:
    shelf = release
    _copy(shelf, versions=["1.0"])
    again = _copy(shelf, versions=["1.0"])
    # The same version again (the same files) is left as it is: neither copied nor failed.
    assert (again["successfulVersions"], again["failedVersions"]) == ({}, {})
    other = dists.wheel(DistSpec(name="Demo.Pkg", version="1.1", summary="another build"))
    shelf.api.delete_package_versions(**shelf.args(), versions=["1.1"])
    upload_ok(shelf.repo, other)
    release_repo = shelf.packyard.pypi_repo("acme", "release", create=False)
    upload_ok(release_repo, shelf.wheel_11)
    refused = _copy(shelf, versions=["1.1"])
    assert refused["successfulVersions"] == {}
    assert refused["failedVersions"] == {
        "1.1": {"errorCode": "ALREADY_EXISTS", "errorMessage": "Version 1.1 already exists"}}
    allowed = _copy(shelf, versions=["1.1"], allowOverwrite=True)
    assert allowed["successfulVersions"]["1.1"]["status"] == "Published"
    assets = shelf.api.list_package_version_assets(**shelf.args(repository="release",
                                                                packageVersion="1.1"))
    assert [a["hashes"]["SHA-256"] for a in assets["assets"]] == [other.sha256]
    assert not shelf.blob_exists(shelf.wheel_11)


def test_copy_into_a_repository_whose_origin_controls_block_publishing(release: Shelf) -> None:
    shelf = release
    shelf.api.put_package_origin_configuration(
        **shelf.args(repository="release"), restrictions={"publish": "BLOCK",
                                                          "upstream": "BLOCK"})
    out = _copy(shelf, versions=["1.0"])
    assert out["successfulVersions"] == {}
    assert out["failedVersions"]["1.0"]["errorCode"] == "NOT_ALLOWED"
    assert "blocks publishing" in out["failedVersions"]["1.0"]["errorMessage"]
    assert shelf.versions("release") == {}


def test_copy_of_an_unknown_version_is_not_found(release: Shelf) -> None:
    out = _copy(release, versions=["9.9"])
    assert out["failedVersions"] == {
        "9.9": {"errorCode": "NOT_FOUND", "errorMessage": "Could not find version 9.9"}}


def test_copy_includes_upstream_versions_only_when_asked(release: Shelf) -> None:
    shelf = release
    shelf.api.create_repository(domain="acme", repository="team",
                                upstreams=[{"repositoryName": "shelf"}])
    args = {"sourceRepository": "team", "versions": ["1.0"]}
    without = _copy(shelf, **args)
    assert without["failedVersions"]["1.0"]["errorCode"] == "NOT_FOUND"
    with_upstream = _copy(shelf, **args, includeFromUpstream=True)
    assert with_upstream["successfulVersions"].keys() == {"1.0"}
    assert shelf.versions("release") == {"1.0": "Published"}


def test_copy_into_the_same_repository_is_a_validation_error(release: Shelf) -> None:
    assert _fails(release.api.copy_package_versions, domain="acme", sourceRepository="shelf",
                  destinationRepository="shelf", format="pypi", package="demo-pkg",
                  versions=["1.0"]) == (
        "ValidationException", 400,
        "The source and destination repositories must be different: both are shelf")


def test_copy_needs_versions_or_version_revisions(release: Shelf) -> None:
    code, status, _ = _fails(release.api.copy_package_versions, domain="acme",
                             sourceRepository="shelf", destinationRepository="release",
                             format="pypi", package="demo-pkg")
    assert (code, status) == ("ValidationException", 400)


# -- crash safety and other processes -------------------------------------------------------------

def test_blobs_a_deletion_freed_before_a_crash_are_deleted_at_the_next_start(
        packyard_factory: PackyardFactory, shelf: Shelf) -> None:
    # The metadata change commits; the process dies before its sweep runs.
    with mock.patch.object(BlobSweeper, "sweep", return_value=0):
        shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    assert shelf.blob_exists(shelf.wheel_10)
    assert shelf.versions() == {"1.1": "Published"}
    restarted = packyard_factory()
    assert not Shelf(restarted, restarted.codeartifact(), shelf.repo, shelf.wheel_10,
                     shelf.wheel_11).blob_exists(shelf.wheel_10)
    assert restarted.container.registry.sweeper.sweep() == 0  # nothing left to do


def test_a_blob_the_store_fails_to_delete_stays_queued_for_the_next_sweep(shelf: Shelf) -> None:
    blobs = shelf.packyard.container.registry.blobs
    # What the sweep deletes with (an encrypting store's bytes only: it deletes the key row).
    method = "delete_bytes" if hasattr(blobs, "delete_bytes") else "delete"
    with mock.patch.object(type(blobs), method, side_effect=OSError("disk says no")):
        shelf.api.dispose_package_versions(**shelf.args(), versions=["1.0"])
    assert shelf.blob_exists(shelf.wheel_10)
    sweeper = shelf.packyard.container.registry.sweeper
    assert sweeper.sweep() == 2  # the wheel and its PEP 658 metadata file
    assert not shelf.blob_exists(shelf.wheel_10)
    assert sweeper.sweep() == 0


@pytest.mark.parametrize("status", ["Archived", "Disposed"])
def test_regression_an_upload_its_closed_version_refuses_leaves_no_bytes_behind(
        shelf: Shelf, dists: DistFactory, status: str) -> None:
    # The refusal comes from the transaction that was to record the file, after its bytes
    # were stored (where an upload racing the status change meets it too): they stayed, with
    # their data key, recorded nowhere and never swept.
    if status == "Disposed":
        shelf.api.dispose_package_versions(**shelf.args(), versions=["1.0"])
    else:
        shelf.api.update_package_versions_status(**shelf.args(), versions=["1.0"],
                                                 targetStatus=status)
    sdist = dists.sdist(V10)
    refused = upload(shelf.repo, sdist)
    assert refused.status_code == 409, refused.text
    assert f"is {status}; no files can be added" in refused.text
    assert not shelf.blob_exists(sdist)
    catalog = shelf.packyard.container.catalog
    domain = catalog.get_domain(shelf.packyard.container.settings.account_id, "acme",
                                with_stats=False)
    assert catalog.data_key(domain.id, sdist.sha256) is None
    assert shelf.blob_exists(shelf.wheel_11)


def test_another_process_on_the_data_directory_sees_a_deletion_at_once(
        packyard_factory: PackyardFactory, shelf: Shelf) -> None:
    # A second app on the same data directory stands for another `--workers` process: its
    # own catalog, caches and change stamp (the shared file).
    other = packyard_factory()
    other_repo = other.pypi_repo(create=False)
    assert shelf.wheel_10.filename in other_repo.get("simple/demo-pkg/").text
    assert shelf.wheel_10.filename in other_repo.get("simple/demo-pkg/").text  # cached
    shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    assert shelf.wheel_10.filename not in other_repo.get("simple/demo-pkg/").text


def test_copy_needs_read_on_the_source_and_copy_on_the_destination(
        packyard: InProcessPackyard, release: Shelf) -> None:
    shelf = release
    copier = _user(packyard, "copier", {"Effect": "Allow", "Resource": "*",
                                        "Action": "codeartifact:CopyPackageVersions"})
    api = packyard.codeartifact(copier.credentials)
    args = {"domain": "acme", "sourceRepository": "shelf", "destinationRepository": "release",
            "format": "pypi", "package": "demo-pkg", "versions": ["1.0"]}
    assert _fails(api.copy_package_versions, **args) == (
        "AccessDeniedException", 403,
        _denied(copier.arn, "codeartifact:ReadFromRepository", f"{CA}:repository/acme/shelf"))
    reader = _user(packyard, "reader", {"Effect": "Allow", "Resource": "*",
                                        "Action": "codeartifact:ReadFromRepository"})
    assert _fails(packyard.codeartifact(reader.credentials).copy_package_versions, **args) == (
        "AccessDeniedException", 403,
        _denied(reader.arn, "codeartifact:CopyPackageVersions",
                f"{CA}:package/acme/release/pypi//demo-pkg"))
    both = _user(packyard, "both", {"Effect": "Allow", "Resource": "*", "Action": [
        "codeartifact:ReadFromRepository", "codeartifact:CopyPackageVersions"]})
    out = packyard.codeartifact(both.credentials).copy_package_versions(**args)
    assert out["successfulVersions"].keys() == {"1.0"}
    assert shelf.versions("release") == {"1.0": "Published"}


def test_copy_into_a_repository_its_package_group_keeps_out(release: Shelf) -> None:
    shelf = release
    shelf.api.create_package_group(domain="acme", packageGroup="/pypi//demo-pkg$")
    shelf.api.update_package_group_origin_configuration(
        domain="acme", packageGroup="/pypi//demo-pkg$",
        restrictions={"PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES"},
        addAllowedRepositories=[{"originRestrictionType": "PUBLISH",
                                 "repositoryName": "shelf"}])
    out = _copy(shelf, versions=["1.0"])
    assert out["successfulVersions"] == {}
    assert out["failedVersions"]["1.0"]["errorCode"] == "NOT_ALLOWED"
    assert out["failedVersions"]["1.0"]["errorMessage"].startswith(
        "Version 1.0 cannot be copied: Publishing Demo.Pkg to repository release is blocked: "
        "package group /pypi//demo-pkg$")
    assert _fails(shelf.api.list_package_versions, **shelf.args(repository="release"))[:2] == (
        "ResourceNotFoundException", 404)


def test_status_changes_and_deletions_write_package_events(shelf: Shelf) -> None:
    from packyard.metadata.outbox import EventOutbox

    shelf.api.update_package_versions_status(**shelf.args(), versions=["1.1"],
                                             targetStatus="Archived")
    shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    outbox = EventOutbox(*shelf.packyard.container.catalog.engines)
    details = [event.document["detail"] for event in outbox.after(0)]
    assert [(d["packageVersion"], d["operationType"], d["packageVersionState"],
             d["changes"]["statusChanged"]) for d in details][-2:] == [
        ("1.1", "Updated", "Archived", True), ("1.0", "Deleted", "Deleted", True)]


def test_copies_and_package_deletions_write_package_events(shelf: Shelf) -> None:
    from packyard.metadata.outbox import EventOutbox

    shelf.api.create_repository(domain="acme", repository="release")
    shelf.api.copy_package_versions(
        domain="acme", sourceRepository=shelf.args()["repository"],
        destinationRepository="release", format="pypi", package=shelf.args()["package"],
        versions=["1.0"])
    shelf.api.delete_package(**shelf.args())
    outbox = EventOutbox(*shelf.packyard.container.catalog.engines)
    details = [event.document["detail"] for event in outbox.after(0)]
    copied = [d for d in details if d["repositoryName"] == "release"]
    assert [(d["packageVersion"], d["operationType"], d["packageVersionState"])
            for d in copied] == [("1.0", "Created", "Published")]
    assert copied[0]["changes"]["assetsAdded"] >= 1
    deleted = sorted(d["packageVersion"] for d in details
                     if d["repositoryName"] != "release" and d["operationType"] == "Deleted")
    assert deleted == ["1.0", "1.1"]


def test_a_swept_blob_loses_its_data_key_without_waiting_for_a_lock(shelf: Shelf) -> None:
    # Encryption at rest is on by default: each blob has a data key row, which the sweep
    # deletes in its own transaction (a second writer would wait 30 s for its lock).
    catalog = shelf.packyard.container.catalog
    domain = catalog.get_domain(shelf.packyard.container.settings.account_id, "acme",
                                with_stats=False)
    assert catalog.data_key(domain.id, shelf.wheel_10.sha256) is not None
    started = time.monotonic()
    shelf.api.delete_package_versions(**shelf.args(), versions=["1.0"])
    assert time.monotonic() - started < 10
    assert catalog.data_key(domain.id, shelf.wheel_10.sha256) is None
    assert catalog.data_key(domain.id, shelf.wheel_11.sha256) is not None
    assert shelf.packyard.container.registry.sweeper.sweep() == 0
