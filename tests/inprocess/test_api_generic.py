"""The generic format through botocore and the app: PublishPackageVersion with its streamed
asset, several assets per version with ``unfinished``, reading them back, and each refusal
(with nothing stored)."""

from __future__ import annotations

import hashlib
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, aws_error, client_error
from tests.inprocess.test_access_decisions import CA, _denied, _user

CONTENT = b"generic payload\n" * 100
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def api(packyard: InProcessPackyard) -> Any:
    client = packyard.codeartifact()
    client.create_domain(domain="acme")
    client.create_repository(domain="acme", repository="shelf")
    return client


def _publish(api: Any, content: bytes = CONTENT, **extra: Any) -> Any:
    args = {"domain": "acme", "repository": "shelf", "format": "generic", "namespace": "tools",
            "package": "cli", "packageVersion": "1.0.0", "assetName": "cli.tar.gz",
            "assetContent": content, "assetSHA256": hashlib.sha256(content).hexdigest(),
            **extra}
    return api.publish_package_version(**args)


def _fails(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return client_error(info)


def _versions(api: Any) -> dict[str, str]:
    listed = api.list_package_versions(domain="acme", repository="shelf", format="generic",
                                       namespace="tools", package="cli")
    return {v["version"]: v["status"] for v in listed["versions"]}


def test_publish_answers_the_version_and_its_asset(api: Any) -> None:
    out = _publish(api)
    out.pop("ResponseMetadata")
    assert out == {
        "format": "generic", "namespace": "tools", "package": "cli", "version": "1.0.0",
        "versionRevision": out["versionRevision"], "status": "Published",
        "asset": {"name": "cli.tar.gz", "size": len(CONTENT),
                  "hashes": out["asset"]["hashes"]}}
    assert out["asset"]["hashes"]["SHA-256"] == SHA
    asset = api.get_package_version_asset(domain="acme", repository="shelf", format="generic",
                                          namespace="tools", package="cli",
                                          packageVersion="1.0.0", asset="cli.tar.gz")
    assert asset["asset"].read() == CONTENT
    listed = api.list_package_version_assets(domain="acme", repository="shelf",
                                             format="generic", namespace="tools",
                                             package="cli", packageVersion="1.0.0")
    assert [a["name"] for a in listed["assets"]] == ["cli.tar.gz"]
    described = api.describe_package_version(domain="acme", repository="shelf",
                                             format="generic", namespace="tools",
                                             package="cli", packageVersion="1.0.0")
    assert described["packageVersion"]["status"] == "Published"


def test_unfinished_versions_take_assets_until_the_last(api: Any) -> None:
    first = _publish(api, b"one", assetName="a.bin", unfinished=True)
    assert first["status"] == "Unfinished"
    assert _versions(api) == {"1.0.0": "Unfinished"}
    _publish(api, b"two", assetName="b.bin", unfinished=True)
    last = _publish(api, b"three", assetName="c.bin")
    assert last["status"] == "Published"
    listed = api.list_package_version_assets(domain="acme", repository="shelf",
                                             format="generic", namespace="tools",
                                             package="cli", packageVersion="1.0.0")
    assert sorted(a["name"] for a in listed["assets"]) == ["a.bin", "b.bin", "c.bin"]
    assert _fails(_publish, api, b"four", assetName="d.bin") == (
        "ConflictException", 409,
        "Version 1.0.0 of cli is Published, so it takes no new asset: publish every asset of "
        "a version but the last with --unfinished (unfinished=true), or publish a new version")


def test_the_same_asset_again_is_accepted_and_other_bytes_are_a_conflict(api: Any) -> None:
    _publish(api, unfinished=True)
    again = _publish(api, unfinished=True)
    assert again["asset"]["hashes"]["SHA-256"] == SHA
    code, status, _ = _fails(_publish, api, b"other bytes", unfinished=True)
    assert (code, status) == ("ConflictException", 409)


def test_an_asset_whose_sha256_is_not_the_declared_one_stores_nothing(
        packyard: InProcessPackyard, api: Any) -> None:
    response = packyard.signed(
        "POST", "/v1/package/version/publish?domain=acme&repository=shelf&format=generic"
                "&namespace=tools&package=cli&version=1.0.0&asset=cli.tar.gz",
        body=CONTENT, headers={"x-amz-content-sha256": "0" * 64,
                               "content-type": "application/octet-stream"})
    status, code, body = aws_error(response)
    assert (status, code) == (400, "ValidationException")
    assert body["message"] == (
        f"The assetContent sent does not match the SHA-256 the request declared ({'0' * 64}): "
        f"its SHA-256 is {SHA}; nothing was stored")
    assert _fails(api.list_package_versions, domain="acme", repository="shelf",
                  format="generic", namespace="tools", package="cli")[:2] == (
        "ResourceNotFoundException", 404)


def test_publish_is_authorized_before_the_body_is_read(packyard: InProcessPackyard,
                                                       api: Any) -> None:
    reader = _user(packyard, "reader", {"Effect": "Allow", "Resource": "*",
                                        "Action": "codeartifact:ReadFromRepository"})
    assert _fails(_publish, packyard.codeartifact(reader.credentials)) == (
        "AccessDeniedException", 403,
        _denied(reader.arn, "codeartifact:PublishPackageVersion",
                f"{CA}:package/acme/shelf/generic/tools/cli"))


def test_generic_packages_need_a_namespace(api: Any) -> None:
    args = {"domain": "acme", "repository": "shelf", "format": "generic", "package": "cli",
            "packageVersion": "1.0.0", "assetName": "cli.tar.gz", "assetContent": CONTENT,
            "assetSHA256": SHA}
    assert _fails(api.publish_package_version, **args) == (
        "ValidationException", 400, "A generic package needs a namespace: give --namespace")


@pytest.mark.parametrize(("asset", "message"), [
    ("..", "An asset cannot be named '..'"),
    (" lead", "The asset name ' lead' starts or ends with a space"),
    ("two  spaces", "The asset name 'two  spaces' has two spaces in a row"),
    ("a*b", "The asset name 'a*b' has the character '*' (U+002A): asset names may use "
            "letters, numbers, spaces and ~!@^&()-_+[]{};,. only"),
    ("tab\there", "assetName 'tab\\there' does not match the pattern \\P{C}+"),
])
def test_asset_names_codeartifact_refuses(api: Any, asset: str, message: str) -> None:
    assert _fails(_publish, api, assetName=asset) == ("ValidationException", 400, message)


def test_publish_of_another_format_says_to_use_its_tools(api: Any) -> None:
    assert _fails(_publish, api, format="pypi") == (
        "ValidationException", 400,
        "PublishPackageVersion publishes generic packages only; publish pypi packages with "
        "pypi's own tools to the repository's pypi endpoint (get-repository-endpoint)")


def test_a_deleted_generic_version_can_be_published_again(api: Any) -> None:
    _publish(api)
    args = {"domain": "acme", "repository": "shelf", "format": "generic", "namespace": "tools",
            "package": "cli"}
    out = api.delete_package_versions(**args, versions=["1.0.0"])
    assert out["successfulVersions"]["1.0.0"]["status"] == "Deleted"
    assert _publish(api)["status"] == "Published"


def test_an_asset_over_the_size_limit_is_refused_and_nothing_is_stored(
        packyard_factory: PackyardFactory) -> None:
    packyard = packyard_factory(max_upload_bytes=1000)
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="shelf")
    assert _fails(_publish, api) == (
        "ValidationException", 400,
        "Asset too large: assets may be at most 1000 bytes (PACKYARD_MAX_UPLOAD_BYTES)")
    assert _fails(api.list_package_versions, domain="acme", repository="shelf",
                  format="generic", namespace="tools", package="cli")[:2] == (
        "ResourceNotFoundException", 404)
    assert _publish(api, b"small")["status"] == "Published"


def test_an_asset_that_would_fill_the_disk_is_refused_before_its_body(
        packyard_factory: PackyardFactory) -> None:
    packyard = packyard_factory(min_free_disk_bytes=2 ** 60)
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="shelf")
    code, status, message = _fails(_publish, api)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert message.startswith("Not enough free disk space on the server for this upload")


def test_too_many_uploads_at_once_is_throttled_with_retry_after(
        packyard_factory: PackyardFactory) -> None:
    packyard = packyard_factory(max_concurrent_uploads=2)
    api = packyard.codeartifact()
    api.create_domain(domain="acme")
    api.create_repository(domain="acme", repository="shelf")
    capacity = packyard.container.api._ops.assets._capacity  # type: ignore[attr-defined]
    # Two uploads in flight already (this process's count, which every upload shares).
    with mock.patch.object(capacity, "_active", 2):
        code, status, message = _fails(_publish, api)
    assert (code, status) == ("ThrottlingException", 429)
    assert message == ("Too many uploads in progress on this server (at most 2 at once); "
                       "try again in a few seconds")
    assert packyard.last_aws_response.headers["retry-after"] == "5"


def test_a_publish_that_does_not_sign_its_payload_hash_is_refused_unread(
        packyard: InProcessPackyard, api: Any) -> None:
    response = packyard.signed(
        "POST", "/v1/package/version/publish?domain=acme&repository=shelf&format=generic"
                "&namespace=tools&package=cli&version=1.0.0&asset=cli.tar.gz",
        body=CONTENT, headers={"content-type": "application/octet-stream"})
    status, code, body = aws_error(response)
    assert (status, code, body["message"]) == (
        400, "ValidationException", "assetSHA256 is required")


def test_an_unfinished_version_is_finished_by_a_status_update(api: Any) -> None:
    _publish(api, unfinished=True)
    out = api.update_package_versions_status(
        domain="acme", repository="shelf", format="generic", namespace="tools", package="cli",
        versions=["1.0.0"], expectedStatus="Unfinished", targetStatus="Published")
    assert out["successfulVersions"]["1.0.0"]["status"] == "Published"
    assert _versions(api) == {"1.0.0": "Published"}
    assert _fails(_publish, api, b"late", assetName="late.bin")[:2] == ("ConflictException", 409)


def test_a_package_whose_origin_configuration_blocks_publishing_is_refused_unread(
        api: Any) -> None:
    api.put_package_origin_configuration(
        domain="acme", repository="shelf", format="generic", namespace="tools", package="cli",
        restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    assert _fails(_publish, api) == (
        "AccessDeniedException", 403,
        "Publishing cli to repository shelf is blocked by the package's origin configuration "
        "(publish: BLOCK); an administrator can allow it with put-package-origin-configuration")
    assert _versions(api) == {}


def test_a_package_group_that_blocks_publishing_refuses_the_asset_unread(api: Any) -> None:
    api.create_package_group(domain="acme", packageGroup="/generic/tools/*")
    api.update_package_group_origin_configuration(
        domain="acme", packageGroup="/generic/tools/*", restrictions={"PUBLISH": "BLOCK"})
    code, status, message = _fails(_publish, api)
    assert (code, status) == ("AccessDeniedException", 403)
    assert message.startswith("Publishing cli to repository shelf is blocked: package group "
                              "/generic/tools/* blocks publishing")
    assert _fails(api.list_package_versions, domain="acme", repository="shelf",
                  format="generic", namespace="tools", package="cli")[:2] == (
        "ResourceNotFoundException", 404)
