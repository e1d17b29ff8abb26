"""CodeArtifact's package operations through botocore and the app, on packages uploaded the way
twine uploads them: each operation's answer and each documented error."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import text

from tests.inprocess.harness import InProcessPackyard, InProcessRepo, aws_error, client_error
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    Dist,
    DistFactory,
    DistSpec,
    upload,
    upload_ok,
)

V10 = DistSpec(name="Demo.Pkg", version="1.0", summary="Demo one", readme="# Demo\n\nHello.",
               requires_dist=("requests>=2.0", "idna", "rich; extra == 'cli'"),
               license="Apache-2.0")
V11 = DistSpec(name="Demo.Pkg", version="1.1", summary="Demo one point one")


@dataclass
class Published:
    api: Any
    repo: InProcessRepo
    wheel_10: Dist
    sdist_10: Dist
    wheel_11: Dist

    def args(self, **extra: Any) -> dict[str, Any]:
        return {"domain": "acme", "repository": "shelf", "format": "pypi",
                "package": "demo-pkg", **extra}


@pytest.fixture
def published(packyard: InProcessPackyard, repo: InProcessRepo,
              dists: DistFactory) -> Published:
    done = Published(packyard.codeartifact(), repo, dists.wheel(V10), dists.sdist(V10),
                     dists.wheel(V11))
    upload_ok(repo, done.wheel_10, done.sdist_10, done.wheel_11)
    return done


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


# -- packages ----------------------------------------------------------------------------------

def test_list_packages_shows_the_normalized_name(published: Published) -> None:
    listed = published.api.list_packages(domain="acme", repository="shelf")["packages"]
    assert listed == [{"format": "pypi", "package": "demo-pkg", "originConfiguration": {
        "restrictions": {"publish": "ALLOW", "upstream": "BLOCK"}}}]


@pytest.mark.parametrize(("filters", "expected"), [
    pytest.param({"format": "pypi", "packagePrefix": "Demo_"}, ["demo-pkg"],
                 id="prefix-normalized"),
    pytest.param({"packagePrefix": "other"}, [], id="prefix-misses"),
    pytest.param({"publish": "ALLOW"}, ["demo-pkg"], id="publish-allow"),
    pytest.param({"upstream": "ALLOW"}, [], id="upstream-allow"),
])
def test_list_packages_filters(published: Published, filters: dict[str, str],
                               expected: list[str]) -> None:
    listed = published.api.list_packages(domain="acme", repository="shelf", **filters)
    assert [p["package"] for p in listed["packages"]] == expected


def _many_packages(packyard: InProcessPackyard, count: int) -> None:
    """``count`` generic packages in acme/shelf (made in the catalog: quicker than the API)."""
    catalog = packyard.container.catalog
    shelf = catalog.get_repository(catalog.get_domain(DEFAULT_ACCOUNT, "acme"), "shelf")
    now = datetime.now(UTC)
    for i in range(count):
        catalog.put_origin_configuration(shelf, "generic", "ns", f"p{i:05d}", f"p{i:05d}",
                                         "ALLOW", "BLOCK", now)


def test_regression_list_packages_pages_through_more_than_a_thousand_packages(
        packyard: InProcessPackyard, published: Published) -> None:
    _many_packages(packyard, 1010)
    pages = published.api.get_paginator("list_packages").paginate(
        domain="acme", repository="shelf", PaginationConfig={"PageSize": 200})
    names = [p["package"] for page in pages for p in page["packages"]]
    assert names == ["demo-pkg", *(f"p{i:05d}" for i in range(1010))]
    first = published.api.list_packages(domain="acme", repository="shelf")
    assert len(first["packages"]) == 100 and first["nextToken"]
    last = published.api.list_packages(domain="acme", repository="shelf", maxResults=11,
                                       format="generic", packagePrefix="p0100")
    assert [p["package"] for p in last["packages"]] == [f"p0100{i}" for i in range(10)]
    assert "nextToken" not in last


def test_regression_list_packages_namespace_is_a_prefix(packyard: InProcessPackyard,
                                                        published: Published) -> None:
    for namespace in ("acme", "acme-labs", "other"):
        published.api.put_package_origin_configuration(
            domain="acme", repository="shelf", format="generic", namespace=namespace,
            package="tool", restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    for given, expected in (("ac", ["acme", "acme-labs"]), ("acme-", ["acme-labs"]),
                            ("other", ["other"]), ("x", [])):
        listed = published.api.list_packages(domain="acme", repository="shelf",
                                             namespace=given)["packages"]
        assert [p["namespace"] for p in listed] == expected, given


@pytest.mark.parametrize("token", [
    "LTM=",  # "-3"
    "MV8w",  # "1_0"
    "IDE=",  # " 1"
    "MDE=",  # "01"
    "bogus",
])
def test_regression_a_forged_next_token_is_refused(published: Published, token: str) -> None:
    assert _fails(published.api.list_package_versions, **published.args(), nextToken=token) \
        == ("ValidationException", 400, "nextToken is not valid")


def test_regression_a_next_token_of_another_operation_is_refused(
        packyard: InProcessPackyard, published: Published) -> None:
    _many_packages(packyard, 3)
    token = published.api.list_packages(domain="acme", repository="shelf",
                                        maxResults=1)["nextToken"]
    assert _fails(published.api.list_packages, domain="acme", repository="shelf",
                  nextToken="Mg==") == ("ValidationException", 400, "nextToken is not valid")
    assert _fails(published.api.list_repositories, nextToken=token)[:2] == (
        "ValidationException", 400)
    following = published.api.list_packages(domain="acme", repository="shelf", maxResults=1,
                                            nextToken=token)
    assert [p["package"] for p in following["packages"]] == ["p00000"]


def test_describe_package_accepts_any_spelling(published: Published) -> None:
    described = published.api.describe_package(**published.args(package="DEMO_pkg"))
    assert described["package"] == {
        "format": "pypi", "name": "demo-pkg",
        "originConfiguration": {"restrictions": {"publish": "ALLOW", "upstream": "BLOCK"}}}


def test_put_origin_configuration_blocks_later_uploads(published: Published,
                                                       dists: DistFactory) -> None:
    out = published.api.put_package_origin_configuration(
        **published.args(), restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    assert out["originConfiguration"] == {
        "restrictions": {"publish": "BLOCK", "upstream": "ALLOW"}}
    response = upload(published.repo, dists.wheel(DistSpec(name="Demo.Pkg", version="2.0")))
    assert response.status_code == 403
    assert response.text == (
        "Publishing Demo.Pkg to repository shelf is blocked by the package's origin "
        "configuration (publish: BLOCK); an administrator can allow it with "
        "put-package-origin-configuration\n")


def test_put_origin_configuration_creates_an_empty_package(published: Published) -> None:
    published.api.put_package_origin_configuration(
        **published.args(package="Not.Yet"), restrictions={"publish": "BLOCK",
                                                           "upstream": "BLOCK"})
    described = published.api.describe_package(**published.args(package="not-yet"))
    assert described["package"]["originConfiguration"]["restrictions"]["publish"] == "BLOCK"
    versions = published.api.list_package_versions(**published.args(package="not-yet"))
    assert versions["versions"] == []


def test_regression_an_origin_configuration_with_a_namespace_for_pypi_is_refused(
        published: Published) -> None:
    """PyPI has no namespaces: --namespace X created a package pypi X/demo-pkg that no read
    reaches (describe-package with the namespace finds none) and list-packages showed."""
    before = published.api.list_packages(domain="acme", repository="shelf")["packages"]
    described = published.api.describe_package(**published.args())
    code, status, message = _fails(
        published.api.put_package_origin_configuration, **published.args(namespace="X"),
        restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    assert (code, status) == ("ValidationException", 400)
    assert message == "pypi packages have no namespace: leave out namespace (--namespace)"
    assert published.api.list_packages(domain="acme", repository="shelf")["packages"] == before
    assert published.api.describe_package(**published.args())["package"] == \
        described["package"]  # the package of that name without a namespace: untouched


# -- versions ----------------------------------------------------------------------------------

def test_regression_default_display_version_is_the_most_recently_published(
        published: Published, dists: DistFactory) -> None:
    # 0.5 uploaded after 1.0 and 1.1: the newest upload, not the highest version.
    upload_ok(published.repo, dists.wheel(DistSpec(name="Demo.Pkg", version="0.5")))

    def default(**filters: str) -> str | None:
        return published.api.list_package_versions(
            **published.args(), **filters).get("defaultDisplayVersion")

    assert default() == "0.5"
    assert default(status="Unlisted") == "0.5"  # whatever the filters leave
    published.api.update_package_versions_status(**published.args(), versions=["0.5"],
                                                 targetStatus="Archived")
    assert default() == "1.1"
    published.api.update_package_versions_status(**published.args(), versions=["1.0", "1.1"],
                                                 targetStatus="Unlisted")
    assert default() is None


def test_list_package_versions_in_version_order(published: Published) -> None:
    listed = published.api.list_package_versions(**published.args())
    assert [v["version"] for v in listed["versions"]] == ["1.0", "1.1"]
    assert listed["defaultDisplayVersion"] == "1.1"
    assert all(v["status"] == "Published" and v["origin"] == {
        "domainEntryPoint": {"repositoryName": "shelf"}, "originType": "INTERNAL"}
        for v in listed["versions"])


def test_list_package_versions_by_published_time(published: Published) -> None:
    listed = published.api.list_package_versions(**published.args(), sortBy="PUBLISHED_TIME")
    assert [v["version"] for v in listed["versions"]] == ["1.1", "1.0"]


@pytest.mark.parametrize("sort", [{}, {"sortBy": "PUBLISHED_TIME"}])
def test_regression_a_clean_up_walking_the_pages_deletes_every_version(
        published: Published, dists: DistFactory, sort: dict[str, str]) -> None:
    """The nextToken was an offset: a script that deleted each page's versions before asking
    for the next page skipped as many versions as it had deleted (half of them, here)."""
    for version in ("2.0", "2.1", "3.0", "3.1"):
        upload_ok(published.repo, dists.wheel(DistSpec(name="Demo.Pkg", version=version)))
    everything = [v["version"] for v in published.api.list_package_versions(
        **published.args(), **sort)["versions"]]
    seen: list[str] = []
    page = published.api.list_package_versions(**published.args(), **sort, maxResults=2)
    while True:
        shown = [v["version"] for v in page["versions"]]
        seen += shown
        published.api.delete_package_versions(**published.args(), versions=shown)
        if "nextToken" not in page:
            break
        page = published.api.list_package_versions(**published.args(), **sort, maxResults=2,
                                                   nextToken=page["nextToken"])
    assert seen == everything and len(everything) == 6
    assert published.api.list_package_versions(**published.args())["versions"] == []


def test_regression_a_token_of_one_sort_order_is_refused_by_the_other(
        published: Published) -> None:
    by_time = published.api.list_package_versions(**published.args(), maxResults=1,
                                                  sortBy="PUBLISHED_TIME")
    assert _fails(published.api.list_package_versions, **published.args(),
                  nextToken=by_time["nextToken"]) == (
        "ValidationException", 400, "nextToken is not valid")


def test_regression_a_version_published_between_pages_is_listed_once(
        published: Published, dists: DistFactory) -> None:
    first = published.api.list_package_versions(**published.args(), maxResults=1)
    assert [v["version"] for v in first["versions"]] == ["1.0"]
    upload_ok(published.repo, dists.wheel(DistSpec(name="Demo.Pkg", version="0.9")))
    rest = published.api.list_package_versions(**published.args(), maxResults=5,
                                               nextToken=first["nextToken"])
    # 0.9 sorts before the page already read: not in the rest, and 1.0 not twice.
    assert [v["version"] for v in rest["versions"]] == ["1.1"]


def test_describe_package_version(published: Published) -> None:
    described = published.api.describe_package_version(
        **published.args(packageVersion="1.0"))["packageVersion"]
    assert {k: described[k] for k in ("format", "packageName", "displayName", "version",
                                      "summary", "homePage", "sourceCodeRepository",
                                      "licenses", "status")} == {
        "format": "pypi", "packageName": "demo-pkg", "displayName": "Demo.Pkg",
        "version": "1.0", "summary": "Demo one", "homePage": "https://example.invalid/home",
        "sourceCodeRepository": "https://example.invalid/source",
        "licenses": [{"name": "Apache-2.0"}], "status": "Published"}
    assert described["revision"]


def test_list_package_version_assets_with_hashes(published: Published) -> None:
    listed = published.api.list_package_version_assets(**published.args(packageVersion="1.0"))
    assets = {a["name"]: a for a in listed["assets"]}
    assert set(assets) == {published.wheel_10.filename, published.sdist_10.filename}
    wheel = assets[published.wheel_10.filename]
    data = published.wheel_10.data
    assert wheel["size"] == len(data)
    assert wheel["hashes"] == {"MD5": hashlib.md5(data).hexdigest(),
                               "SHA-1": hashlib.sha1(data).hexdigest(),
                               "SHA-256": hashlib.sha256(data).hexdigest(),
                               "SHA-512": hashlib.sha512(data).hexdigest()}
    assert (listed["package"], listed["version"]) == ("demo-pkg", "1.0")


def test_get_package_version_readme(published: Published) -> None:
    readme = published.api.get_package_version_readme(**published.args(packageVersion="1.0"))
    assert readme["readme"] == "# Demo\n\nHello."


def test_list_package_version_dependencies(published: Published) -> None:
    listed = published.api.list_package_version_dependencies(
        **published.args(packageVersion="1.0"))
    assert listed["dependencies"] == [
        {"package": "requests", "dependencyType": "Requires-Dist", "versionRequirement": ">=2.0"},
        {"package": "idna", "dependencyType": "Requires-Dist", "versionRequirement": ""},
        {"package": "rich", "dependencyType": "Requires-Dist", "versionRequirement": ""}]


def test_regression_pypi_dependencies_say_requires_dist_as_codeartifact_does(
        packyard: InProcessPackyard, published: Published) -> None:
    """CodeArtifact's dependencyType of a PyPI dependency is "Requires-Dist" (botocore's
    PackageDependency: "pypi: Requires-Dist"); Packyard answered "install". Records stored
    before say "install" and are answered as "Requires-Dist" too."""
    with packyard.container.catalog.engines[1].begin() as conn:
        conn.execute(text("UPDATE package_versions SET dependencies = REPLACE(dependencies, "
                          "'Requires-Dist', 'install')"))
    listed = published.api.list_package_version_dependencies(
        **published.args(packageVersion="1.0"))
    assert {d["dependencyType"] for d in listed["dependencies"]} == {"Requires-Dist"}


def test_get_package_version_asset_streams_the_file(published: Published) -> None:
    wheel = published.wheel_11
    got = published.api.get_package_version_asset(
        **published.args(packageVersion="1.1", asset=wheel.filename))
    assert got["asset"].read() == wheel.data
    assert (got["assetName"], got["packageVersion"]) == (wheel.filename, "1.1")
    assert got["packageVersionRevision"]


def test_update_versions_status_archives_and_restores(published: Published) -> None:
    out = published.api.update_package_versions_status(
        **published.args(), versions=["1.0"], targetStatus="Archived")
    assert out["successfulVersions"]["1.0"]["status"] == "Archived"
    assert out["failedVersions"] == {}
    listed = published.api.list_package_versions(**published.args(), status="Archived")
    assert [v["version"] for v in listed["versions"]] == ["1.0"]
    back = published.api.update_package_versions_status(
        **published.args(), versions=["1.0"], targetStatus="Published",
        expectedStatus="Archived")
    assert back["successfulVersions"]["1.0"]["status"] == "Published"


def test_update_versions_status_reports_each_failure_and_skips_the_rest(
        published: Published) -> None:
    revision = published.api.describe_package_version(
        **published.args(packageVersion="1.1"))["packageVersion"]["revision"]
    out = published.api.update_package_versions_status(
        **published.args(), versions=["1.0", "1.1", "9.9"], targetStatus="Unlisted",
        expectedStatus="Published", versionRevisions={"1.1": revision + "-stale"})
    # CodeArtifact: "if one or more versions cannot have their status changed, all other
    # versions will be skipped".
    assert out["successfulVersions"] == {}
    assert out["failedVersions"] == {
        "1.0": {"errorCode": "SKIPPED", "errorMessage": "version 1.0 is skipped"},
        "1.1": {"errorCode": "MISMATCHED_REVISION",
                "errorMessage": f"current revision: {revision}, expected revision: "
                                f"{revision}-stale"},
        "9.9": {"errorCode": "NOT_FOUND", "errorMessage": "Could not find version 9.9"}}
    assert published.api.describe_package_version(
        **published.args(packageVersion="1.0"))["packageVersion"]["status"] == "Published"
    published.api.update_package_versions_status(**published.args(), versions=["1.0"],
                                                 targetStatus="Unlisted")
    again = published.api.update_package_versions_status(
        **published.args(), versions=["1.0"], targetStatus="Archived",
        expectedStatus="Published")
    assert again["failedVersions"] == {
        "1.0": {"errorCode": "MISMATCHED_STATUS",
                "errorMessage": "current status: Unlisted, expected status: Published"}}


# -- errors --------------------------------------------------------------------------------------

def test_describe_missing_package_is_not_found(packyard: InProcessPackyard,
                                               published: Published) -> None:
    assert _fails(published.api.describe_package, **published.args(package="ghost")) == (
        "ResourceNotFoundException", 404, "Package ghost not found in repository shelf")
    assert aws_error(packyard.last_aws_response)[2] == {
        "message": "Package ghost not found in repository shelf", "resourceId": "ghost",
        "resourceType": "package"}


@pytest.mark.parametrize("operation", [
    "describe_package_version", "list_package_version_assets", "get_package_version_readme",
    "list_package_version_dependencies"])
def test_missing_version_is_not_found(published: Published, operation: str) -> None:
    assert _fails(getattr(published.api, operation),
                  **published.args(packageVersion="9.9")) == (
        "ResourceNotFoundException", 404, "Package version demo-pkg 9.9 not found")


def test_missing_asset_is_not_found(published: Published) -> None:
    assert _fails(published.api.get_package_version_asset,
                  **published.args(packageVersion="1.0", asset="other.whl")) == (
        "ResourceNotFoundException", 404, "Asset other.whl not found in version 1.0")


def test_asset_of_an_archived_version_is_not_available(published: Published) -> None:
    published.api.update_package_versions_status(**published.args(), versions=["1.0"],
                                                 targetStatus="Archived")
    filename = published.wheel_10.filename
    assert _fails(published.api.get_package_version_asset,
                  **published.args(packageVersion="1.0", asset=filename)) == (
        "ResourceNotFoundException", 404,
        f"Asset {filename} is not available: the version is Archived")


def test_asset_of_another_revision_is_a_validation_error(published: Published) -> None:
    assert _fails(published.api.get_package_version_asset, **published.args(
        packageVersion="1.0", asset=published.wheel_10.filename,
        packageVersionRevision="not-the-revision")) == (
        "ValidationException", 400,
        "packageVersionRevision does not match the version's current revision")


@pytest.mark.parametrize(("status", "message"), [
    ("Disposed", "targetStatus cannot be Disposed: dispose of versions with "
                 "DisposePackageVersions"),
    ("Deleted", "targetStatus cannot be Deleted: delete versions with DeletePackageVersions"),
    ("Unfinished", "targetStatus cannot be Unfinished: a published version cannot become "
                   "unfinished again"),
])
def test_status_the_api_cannot_set_is_a_validation_error(published: Published, status: str,
                                                         message: str) -> None:
    assert _fails(published.api.update_package_versions_status, **published.args(),
                  versions=["1.0"], targetStatus=status) == ("ValidationException", 400, message)


def test_unserved_format_is_a_validation_error(published: Published) -> None:
    assert _fails(published.api.describe_package, **published.args(format="maven")) == (
        "ValidationException", 400,
        "Format maven is not supported by this server yet; supported: generic, npm, pypi")


def test_packages_of_a_missing_repository_are_not_found(published: Published) -> None:
    assert _fails(published.api.list_packages, domain="acme", repository="absent") == (
        "ResourceNotFoundException", 404, "Repository absent not found in domain acme")
