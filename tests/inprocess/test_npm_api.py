"""The CodeArtifact API for npm packages (namespaces are scopes), and who may do what on the
npm endpoint: reads, publishes, tags, deprecations and unpublishes, each authorized before its
body is read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from packyard.audit.query import AuditFilter
from packyard.audit.trail import open_trail
from packyard.storage.backends import staging_dir
from tests.inprocess.harness import BASE_URL, CLIENT_ADDRESS, InProcessPackyard, client_error
from tests.inprocess.npm_support import NpmRepo, npm_repo
from tests.integration.helpers import Credentials
from tests.unit.npm_samples import publish_document

CA = "arn:aws:codeartifact:us-east-1:000000000000"
BEARER = {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*"}
READ = {"Effect": "Allow", "Action": ["codeartifact:GetAuthorizationToken",
                                      "codeartifact:ReadFromRepository",
                                      "codeartifact:GetRepositoryEndpoint"], "Resource": "*"}


@pytest.fixture
def repo(packyard: InProcessPackyard) -> NpmRepo:
    found = npm_repo(packyard)
    found.publish("@acme/util", "1.0.0", readme="# util\n", manifest={
        "description": "Scoped utilities", "homepage": "https://example.com/util",
        "repository": {"type": "git", "url": "git+https://example.com/util.git"},
        "license": "MIT", "dependencies": {"left-pad": "^1.3.0", "@acme/core": "1.x"},
        "devDependencies": {"tap": "^18"}, "peerDependencies": {"react": ">=17"},
        "optionalDependencies": {"fsevents": "^2"}})
    for version in ("1.10.0", "1.2.0", "1.2.0-beta.1"):
        found.publish("@acme/util", version)
    found.publish("left-pad", "1.3.0")
    return found


def _call(api: Any, operation: str, **kwargs: Any) -> Any:
    args = {"domain": "acme", "repository": "npmrepo", "format": "npm", **kwargs}
    return getattr(api, operation)(**args)


def test_endpoint_ends_with_a_slash(repo: NpmRepo) -> None:
    assert repo.endpoint == "http://packyard.test/acme-000000000000/npm/npmrepo/"


def test_list_packages_with_namespaces(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    listed = api.list_packages(domain="acme", repository="npmrepo", format="npm")["packages"]
    assert [(p.get("namespace"), p["package"]) for p in listed] == [(None, "left-pad"),
                                                                    ("acme", "util")]
    scoped = api.list_packages(domain="acme", repository="npmrepo", format="npm",
                               namespace="acme")["packages"]
    assert [p["package"] for p in scoped] == ["util"]


def test_versions_sorted_by_semver_and_described(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    versions = _call(api, "list_package_versions", namespace="acme", package="util")
    assert [v["version"] for v in versions["versions"]] == [
        "1.0.0", "1.2.0-beta.1", "1.2.0", "1.10.0"]
    described = _call(api, "describe_package_version", namespace="acme", package="util",
                      packageVersion="1.0.0")["packageVersion"]
    assert (described["displayName"], described["summary"], described["homePage"],
            described["sourceCodeRepository"], described["licenses"]) == (
        "@acme/util", "Scoped utilities", "https://example.com/util",
        "git+https://example.com/util.git", [{"name": "MIT"}])
    assert _call(api, "describe_package", namespace="acme", package="util")["package"][
        "name"] == "util"


def test_asset_readme_and_dependencies(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    args = {"namespace": "acme", "package": "util", "packageVersion": "1.0.0"}
    assets = _call(api, "list_package_version_assets", **args)["assets"]
    assert [a["name"] for a in assets] == ["package.tgz"]
    assert set(assets[0]["hashes"]) == {"MD5", "SHA-1", "SHA-256", "SHA-512"}
    body = _call(api, "get_package_version_asset", asset="package.tgz", **args)["asset"].read()
    assert body == repo.get("@acme/util/-/util-1.0.0.tgz").content
    assert _call(api, "get_package_version_readme", **args)["readme"] == "# util\n"
    dependencies = _call(api, "list_package_version_dependencies", **args)["dependencies"]
    assert [(d.get("namespace"), d["package"], d["dependencyType"], d["versionRequirement"])
            for d in dependencies] == [
        (None, "left-pad", "regular", "^1.3.0"), ("acme", "core", "regular", "1.x"),
        (None, "tap", "dev", "^18"), (None, "react", "peer", ">=17"),
        (None, "fsevents", "optional", "^2")]


def test_namespace_with_an_at_sign_is_the_scope(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    assert _call(api, "describe_package", namespace="@acme", package="util")["package"][
        "namespace"] == "acme"


def test_list_packages_namespace_with_or_without_its_at(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    for given in ("@acme", "acme", "@ac"):
        listed = api.list_packages(domain="acme", repository="npmrepo", format="npm",
                                   namespace=given)["packages"]
        assert [(p["namespace"], p["package"]) for p in listed] == [("acme", "util")], given


def test_regression_default_display_version_is_the_latest_tag(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    repo.publish("@acme/util", "2.0.0-rc.1", tag="next")

    def default(**filters: str) -> str | None:
        listed = _call(api, "list_package_versions", namespace="acme", package="util",
                       **filters)
        return listed.get("defaultDisplayVersion")

    latest = repo.packument("@acme/util")["dist-tags"]["latest"]
    assert latest != "2.0.0-rc.1" and default() == latest
    assert repo.put_json("-/package/@acme%2futil/dist-tags/latest", "1.0.0").status_code == 201
    assert default() == "1.0.0"
    # Whatever the filters leave: it is the package's, not the page's.
    _call(api, "update_package_versions_status", namespace="acme", package="util",
          versions=["1.10.0"], targetStatus="Unlisted")
    assert default(status="Unlisted") == "1.0.0"
    assert default(originType="EXTERNAL") == "1.0.0"


def test_regression_npm_publish_tag_next_leaves_latest_alone(repo: NpmRepo) -> None:
    assert repo.publish("tagged", "1.0.0").status_code == 201
    assert repo.publish("tagged", "2.0.0", tag="next").status_code == 201
    assert repo.packument("tagged")["dist-tags"] == {"latest": "1.0.0", "next": "2.0.0"}
    # The default tag moves it on again.
    assert repo.publish("tagged", "2.1.0").status_code == 201
    assert repo.packument("tagged")["dist-tags"] == {"latest": "2.1.0", "next": "2.0.0"}


def test_origin_configuration_blocks_publishing(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    _call(api, "put_package_origin_configuration", namespace="acme", package="util",
          restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    response = repo.publish("@acme/util", "3.0.0")
    assert response.status_code == 403
    assert "blocked by the package's origin configuration" in response.json()["error"]


def test_update_status_changes_the_packument(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    result = _call(api, "update_package_versions_status", namespace="acme", package="util",
                   versions=["1.10.0"], targetStatus="Unlisted")
    assert result["successfulVersions"]["1.10.0"]["status"] == "Unlisted"
    assert repo.packument("@acme/util")["dist-tags"]["latest"] == "1.2.0"


# -- who may do what ------------------------------------------------------------------------------

def _user(app: InProcessPackyard, name: str, *statements: dict[str, Any]) -> Credentials:
    iam = app.iam()
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def _denied(user: str, action: str, resource: str) -> str:
    return (f"User: arn:aws:iam::000000000000:user/{user} is not authorized to perform: "
            f"{action} on resource: {resource} because no identity-based policy allows the "
            f"{action} action")


def test_a_reader_cannot_publish_and_costs_no_disk(repo: NpmRepo) -> None:
    app = repo.app
    reader = npm_repo(app, create=False, credentials=_user(app, "alice", BEARER, READ))
    assert reader.packument("@acme/util")["name"] == "@acme/util"
    assert reader.get("-/whoami").json() == {"username": "alice"}
    response = reader.publish("@acme/new", "1.0.0")
    assert response.status_code == 403
    assert response.json() == {"error": _denied(
        "alice", "codeartifact:PublishPackageVersion", f"{CA}:package/acme/npmrepo/npm/acme/new")}
    staging = staging_dir(app.settings)
    assert not staging.exists() or list(staging.iterdir()) == []
    tag = reader.put_json("-/package/@acme%2futil/dist-tags/beta", "1.0.0")
    assert tag.status_code == 403
    rev = reader.get("@acme%2futil?write=true").json()["_rev"]
    unpublish = reader.request("DELETE", f"@acme%2futil/-rev/{rev}")
    assert unpublish.status_code == 403
    assert unpublish.json() == {"error": _denied(
        "alice", "codeartifact:DeletePackageVersions",
        f"{CA}:package/acme/npmrepo/npm/acme/util")}


def test_publish_rights_for_one_scope_only(repo: NpmRepo) -> None:
    app = repo.app
    writer = npm_repo(app, create=False, credentials=_user(
        app, "bob", BEARER, READ,
        {"Effect": "Allow", "Action": "codeartifact:PublishPackageVersion",
         "Resource": f"{CA}:package/acme/npmrepo/npm/acme/*"}))
    assert writer.publish("@acme/mine", "1.0.0").status_code == 201
    assert writer.publish("@other/theirs", "1.0.0").status_code == 403
    assert writer.publish("unscoped", "1.0.0").status_code == 403


def test_api_refuses_a_name_with_a_slash(repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    with pytest.raises(ClientError) as info:
        _call(api, "describe_package", package="@acme/util")
    code, status, message = client_error(info)
    assert (code, status) == ("ValidationException", 400)
    assert message == "package '@acme/util' does not match the pattern [^#/\\s]+"


def test_a_publish_the_package_group_blocks_is_refused_and_nothing_stored(
        repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    api.create_package_group(domain="acme", packageGroup="/npm/acme/*")
    api.update_package_group_origin_configuration(domain="acme", packageGroup="/npm/acme/*",
                                                  restrictions={"PUBLISH": "BLOCK"})
    response = repo.publish("@acme/blocked", "1.0.0")
    assert response.status_code == 403
    assert response.json() == {"error": (
        "Publishing @acme/blocked to repository npmrepo is blocked: package group /npm/acme/* "
        "blocks publishing (PUBLISH: BLOCK)")}
    assert repo.get("@acme%2fblocked").status_code == 404
    staging = staging_dir(repo.app.settings)
    assert not staging.exists() or list(staging.iterdir()) == []
    assert repo.publish("unscoped", "1.0.0").status_code == 201  # another group's package


def test_a_publish_the_package_group_blocks_is_refused_before_its_tarball_is_read(
        repo: NpmRepo) -> None:
    # The hole: the group's refusal came from the catalog transaction, after the whole body
    # had been read, decoded, hashed and staged. A body with a tarball can only be a publish,
    # so the refusal now comes when the tarball's first bytes arrive; the rest is never read.
    api = repo.app.codeartifact()
    api.create_package_group(domain="acme", packageGroup="/npm/acme/*")
    api.update_package_group_origin_configuration(domain="acme", packageGroup="/npm/acme/*",
                                                  restrictions={"PUBLISH": "BLOCK"})
    status, answer, pulled, total = _stream_publish(repo, "@acme/blocked", mib=8)
    assert status == 403
    assert answer == {"error": (
        "Publishing @acme/blocked to repository npmrepo is blocked: package group /npm/acme/* "
        "blocks publishing (PUBLISH: BLOCK)")}
    assert pulled < total // 2, f"the server read {pulled} of the body's {total} chunks"
    staging = staging_dir(repo.app.settings)
    assert not staging.exists() or list(staging.iterdir()) == []


def test_a_publish_the_origin_configuration_blocks_is_refused_before_its_tarball_is_read(
        repo: NpmRepo) -> None:
    api = repo.app.codeartifact()
    api.put_package_origin_configuration(
        domain="acme", repository="npmrepo", format="npm", namespace="acme", package="util",
        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    status, answer, pulled, total = _stream_publish(repo, "@acme/util", mib=8)
    assert status == 403
    assert answer == {"error": (
        "Publishing @acme/util to repository npmrepo is blocked by the package's origin "
        "configuration (publish: BLOCK); an administrator can allow it with "
        "put-package-origin-configuration")}
    assert pulled < total // 2, f"the server read {pulled} of the body's {total} chunks"


def _stream_publish(repo: NpmRepo, name: str, mib: int) -> tuple[int, Any, int, int]:
    """PUT an npm publish body whose tarball is ``mib`` MiB (of base64 zeros), sent in 64 KiB
    chunks as a socket would deliver them: (status, answer, chunks the app read, chunks)."""
    tarball = b"placeholder"
    document = publish_document(name, "9.0.0", tarball, attachment=f"{name}-9.0.0.tgz")
    document["_attachments"][f"{name}-9.0.0.tgz"]["data"] = "@DATA@"
    head, tail = json.dumps(document).split('"@DATA@"')
    piece = b"A" * (64 * 1024)
    chunks = [head.encode() + b'"', *[piece] * (mib * 16), b'"' + tail.encode()]
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for chunk in chunks:
            pulled += 1
            yield chunk

    async def send() -> tuple[int, Any]:
        transport = httpx.ASGITransport(app=repo.app.app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            response = await client.put(
                repo.path + name.replace("/", "%2f"), content=body(),
                headers={"Authorization": f"Bearer {repo.token}",
                         "Content-Type": "application/json"})
            return response.status_code, response.json()

    status, answer = repo.app.portal.call(send)
    return status, answer, pulled, len(chunks)


def test_publishes_and_unpublishes_are_in_the_audit_trail_refused_ones_too(
        repo: NpmRepo) -> None:
    app = repo.app
    repo.publish("@acme/util", "1.0.0", manifest={"description": "other bytes"})  # 409
    rev = repo.get("left-pad?write=true").json()["_rev"]
    assert repo.request("DELETE", f"left-pad/-rev/{rev}").status_code == 200
    trail = open_trail(app.settings, app.container.catalog.engines)
    try:
        refused = list(trail.events(AuditFilter(name="PublishPackageVersion",
                                                errors_only=True)))
        deleted = list(trail.events(AuditFilter(name="DeletePackageVersions")))
    finally:
        trail.close()
    assert [e["errorMessage"] for e in refused] == [
        "You cannot publish over the previously published versions: 1.0.0."]
    assert len(deleted) == 1 and "errorCode" not in deleted[0]
    assert deleted[0]["requestParameters"]["repositoryName"] == "npmrepo"


def test_regression_npm_writes_name_their_package_in_the_audit_trail(repo: NpmRepo) -> None:
    # npm publish, dist-tag and unpublish events named only the domain and repository (a twine
    # upload names its project and file): `packyard audit --resource left-pad` found none of
    # them, and a refused publish did not say of what.
    app = repo.app
    repo.publish("@acme/util", "1.0.0", manifest={"description": "other bytes"})  # 409
    assert repo.request("PUT", "-/package/left-pad/dist-tags/beta", content=b'"1.3.0"',
                        headers={"Content-Type": "application/json"}).status_code == 201
    rev = repo.get("left-pad?write=true").json()["_rev"]
    assert repo.request("DELETE", f"left-pad/-rev/{rev}").status_code == 200
    trail = open_trail(app.settings, app.container.catalog.engines)
    try:
        about_left_pad = list(trail.events(AuditFilter(resource="left-pad")))
        about_util = list(trail.events(AuditFilter(resource="@acme/util")))
    finally:
        trail.close()
    assert [(e["eventName"], e["requestParameters"].get("packageVersion"),
             e["requestParameters"].get("tag")) for e in about_left_pad] == [
        ("PublishPackageVersion", "1.3.0", None), ("PublishPackageVersion", None, "beta"),
        ("DeletePackageVersions", None, None)]
    assert all(e["requestParameters"]["packageFormat"] == "npm" for e in about_left_pad)
    refused = [e for e in about_util if "errorCode" in e]
    assert len(refused) == 1 and refused[0]["requestParameters"]["packageNamespace"] == "acme"
    assert [e["requestParameters"]["packageVersion"] for e in about_util
            if "errorCode" not in e] == ["1.0.0", "1.10.0", "1.2.0", "1.2.0-beta.1"]


def test_regression_a_deny_on_a_scoped_package_holds_when_the_namespace_has_its_at(
        repo: NpmRepo) -> None:
    """``--namespace @acme`` (which the API takes, as awscli users write scopes) names the
    package ``acme/util``; its ARN is the one a Deny names, not ``npm/@acme/util``, which
    let every package action and copy through."""
    app = repo.app
    app.codeartifact().create_repository(domain="acme", repository="other")
    creds = _user(app, "mallory", {"Effect": "Allow", "Action": "codeartifact:*",
                                   "Resource": "*"},
                  {"Effect": "Deny", "Action": "codeartifact:*",
                   "Resource": f"{CA}:package/acme/*/npm/acme/util"})
    api = app.codeartifact(creds)
    version = {"packageVersion": "1.0.0"}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("describe_package", {}), ("list_package_versions", {}),
        ("describe_package_version", version), ("list_package_version_assets", version),
        ("get_package_version_readme", version),
        ("list_package_version_dependencies", version),
        ("get_package_version_asset", {**version, "asset": "package.tgz"}),
        ("update_package_versions_status", {"versions": ["1.0.0"], "targetStatus": "Unlisted"}),
        ("put_package_origin_configuration",
         {"restrictions": {"publish": "ALLOW", "upstream": "ALLOW"}}),
        ("delete_package_versions", {"versions": ["1.0.0"]}),
        ("delete_package", {})]
    for scope in ("acme", "@acme"):
        for operation, extra in calls:
            with pytest.raises(ClientError) as info:
                _call(api, operation, namespace=scope, package="util", **extra)
            code, status, message = client_error(info)
            assert (code, status, operation) == ("AccessDeniedException", 403, operation)
            assert message.endswith(f"{CA}:package/acme/npmrepo/npm/acme/util with an "
                                    "explicit deny in an identity-based policy"), message
        with pytest.raises(ClientError) as info:
            api.copy_package_versions(domain="acme", sourceRepository="npmrepo",
                                      destinationRepository="other", format="npm",
                                      namespace=scope, package="util", versions=["1.0.0"])
        assert f"{CA}:package/acme/other/npm/acme/util with" in client_error(info)[2]
    listed = app.codeartifact().list_package_versions(
        domain="acme", repository="npmrepo", format="npm", namespace="acme",
        package="util")["versions"]
    assert sorted(v["version"] for v in listed if v["status"] == "Published") == [
        "1.0.0", "1.10.0", "1.2.0", "1.2.0-beta.1"]
