"""CodeArtifact's package group operations through botocore and the app: each one's answer and
each documented error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import InProcessPackyard, client_error
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    Credentials,
    DistFactory,
    DistSpec,
    upload_ok,
)

GROUP_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:package-group/acme"


@pytest.fixture
def api(packyard: InProcessPackyard) -> Any:
    client = packyard.codeartifact()
    client.create_domain(domain="acme")
    return client


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


def test_every_domain_has_the_root_group(api: Any) -> None:
    root = api.describe_package_group(domain="acme", packageGroup="/*")["packageGroup"]
    assert root["arn"] == GROUP_ARN + "/*" and root["pattern"] == "/*"
    assert (root["domainName"], root["domainOwner"]) == ("acme", DEFAULT_ACCOUNT)
    assert "parent" not in root
    assert root["originConfiguration"]["restrictions"] == {
        kind: {"mode": "ALLOW", "effectiveMode": "ALLOW", "repositoriesCount": 0}
        for kind in ("PUBLISH", "EXTERNAL_UPSTREAM", "INTERNAL_UPSTREAM")}


def test_create_package_group_inherits_from_its_parent(api: Any) -> None:
    created = api.create_package_group(domain="acme", packageGroup="/pypi//acme~",
                                       description="Acme's own", contactInfo="ops@acme.test",
                                       tags=[{"key": "team", "value": "platform"}]
                                       )["packageGroup"]
    assert created["arn"] == GROUP_ARN + "/pypi//acme~"
    assert (created["description"], created["contactInfo"]) == ("Acme's own", "ops@acme.test")
    assert created["parent"] == {"arn": GROUP_ARN + "/*", "pattern": "/*"}
    assert created["originConfiguration"]["restrictions"]["PUBLISH"] == {
        "mode": "INHERIT", "effectiveMode": "ALLOW", "repositoriesCount": 0,
        "inheritedFrom": {"arn": GROUP_ARN + "/*", "pattern": "/*"}}
    assert api.list_tags_for_resource(resourceArn=created["arn"])["tags"] == [
        {"key": "team", "value": "platform"}]


def test_create_package_group_twice_is_a_conflict(api: Any) -> None:
    api.create_package_group(domain="acme", packageGroup="/pypi/*")
    code, status, message = _fails(api.create_package_group, domain="acme",
                                   packageGroup="/pypi/*")
    assert (code, status) == ("ConflictException", 409)
    assert message == "Package group /pypi/* already exists in domain acme"
    assert _fails(api.create_package_group, domain="acme", packageGroup="/*")[0] == (
        "ConflictException")


@pytest.mark.parametrize(("pattern", "reason"), [
    ("/pypi/acme/*", "pypi packages have no namespace: leave it empty, as in /pypi//*"),
    ("/pypi//Acme_Tools$", 'pypi package names are stored and matched normalized: write '
                           '"acme-tools" instead of "Acme_Tools"'),
    ("/rust/*", '"rust" is not a package format'),
    ("/pypi//acme-~", "~ matches at a word boundary"),
    ("pypi/*", "a pattern is a package path: it starts with / and the package format"),
])
def test_a_pattern_that_does_not_parse_is_refused(api: Any, pattern: str, reason: str) -> None:
    code, status, message = _fails(api.create_package_group, domain="acme",
                                   packageGroup=pattern)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f'Invalid package group pattern "{pattern}": {reason}')


def test_create_package_group_in_a_missing_domain(api: Any) -> None:
    code, status, message = _fails(api.create_package_group, domain="nope",
                                   packageGroup="/pypi/*")
    assert (code, status, message) == ("ResourceNotFoundException", 404, "Domain nope not found")


def test_list_and_sub_groups_follow_the_hierarchy(api: Any) -> None:
    for pattern in ("/pypi/*", "/pypi//*", "/pypi//acme~", "/pypi//acme-internal~",
                    "/npm/*"):
        api.create_package_group(domain="acme", packageGroup=pattern)
    listed = api.list_package_groups(domain="acme")["packageGroups"]
    assert [g["pattern"] for g in listed] == ["/*", "/npm/*", "/pypi/*", "/pypi//*",
                                              "/pypi//acme-internal~", "/pypi//acme~"]
    assert [g["pattern"] for g in api.list_package_groups(domain="acme", prefix="/pypi//")[
        "packageGroups"]] == ["/pypi//*", "/pypi//acme-internal~", "/pypi//acme~"]
    children = api.list_sub_package_groups(domain="acme", packageGroup="/pypi/*")
    assert [g["pattern"] for g in children["packageGroups"]] == ["/pypi//*"]
    children = api.list_sub_package_groups(domain="acme", packageGroup="/pypi//acme~")
    assert [g["pattern"] for g in children["packageGroups"]] == ["/pypi//acme-internal~"]
    # Deleting a group moves its children up to its parent.
    deleted = api.delete_package_group(domain="acme", packageGroup="/pypi//acme~")
    assert deleted["packageGroup"]["pattern"] == "/pypi//acme~"
    child = api.describe_package_group(domain="acme", packageGroup="/pypi//acme-internal~")
    assert child["packageGroup"]["parent"]["pattern"] == "/pypi//*"


def test_get_associated_package_group_names_the_most_specific(api: Any) -> None:
    api.create_package_group(domain="acme", packageGroup="/pypi/*")
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    found = api.get_associated_package_group(domain="acme", format="pypi",
                                              package="Acme_Tools")
    assert found["packageGroup"]["pattern"] == "/pypi//acme~"
    assert found["associationType"] == "STRONG"
    other = api.get_associated_package_group(domain="acme", format="pypi", package="requests")
    assert other["packageGroup"]["pattern"] == "/pypi/*"
    npm = api.get_associated_package_group(domain="acme", format="npm", package="left-pad")
    assert npm["packageGroup"]["pattern"] == "/*"


def test_list_associated_packages_and_preview(packyard: InProcessPackyard,
                                              dists: DistFactory) -> None:
    repo = packyard.pypi_repo()
    for name in ("acme-tools", "acme", "requests"):
        upload_ok(repo, dists.wheel(DistSpec(name=name, version="1.0")))
    api = packyard.codeartifact()
    previewed = api.list_associated_packages(domain="acme", packageGroup="/pypi//acme~",
                                             preview=True)["packages"]
    assert [(p["package"], p["associationType"]) for p in previewed] == [
        ("acme", "STRONG"), ("acme-tools", "STRONG")]
    assert all(p["format"] == "pypi" and "namespace" not in p for p in previewed)
    code, _, message = _fails(api.list_associated_packages, domain="acme",
                              packageGroup="/pypi//acme~")
    assert code == "ResourceNotFoundException"
    assert message == "Package group /pypi//acme~ not found in domain acme"
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    assert [p["package"] for p in api.list_associated_packages(
        domain="acme", packageGroup="/*")["packages"]] == ["requests"]


def test_update_package_group_changes_what_it_is_given(api: Any) -> None:
    api.create_package_group(domain="acme", packageGroup="/pypi/*", description="d",
                             contactInfo="c")
    updated = api.update_package_group(domain="acme", packageGroup="/pypi/*",
                                       contactInfo="new")["packageGroup"]
    assert (updated["description"], updated["contactInfo"]) == ("d", "new")
    code, _, _ = _fails(api.update_package_group, domain="acme", packageGroup="/npm/*",
                        description="x")
    assert code == "ResourceNotFoundException"


def test_update_origin_configuration_and_allowed_repositories(api: Any) -> None:
    for name in ("internal", "proxy"):
        api.create_repository(domain="acme", repository=name)
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    answer = api.update_package_group_origin_configuration(
        domain="acme", packageGroup="/pypi//acme~",
        restrictions={"PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES", "EXTERNAL_UPSTREAM": "BLOCK"},
        addAllowedRepositories=[
            {"originRestrictionType": "PUBLISH", "repositoryName": "internal"},
            {"originRestrictionType": "INTERNAL_UPSTREAM", "repositoryName": "proxy"}])
    assert answer["allowedRepositoryUpdates"] == {"PUBLISH": {"ADDED": ["internal"]},
                                                  "INTERNAL_UPSTREAM": {"ADDED": ["proxy"]}}
    restrictions = answer["packageGroup"]["originConfiguration"]["restrictions"]
    assert restrictions["PUBLISH"] == {"mode": "ALLOW_SPECIFIC_REPOSITORIES",
                                       "effectiveMode": "ALLOW_SPECIFIC_REPOSITORIES",
                                       "repositoriesCount": 1}
    assert restrictions["EXTERNAL_UPSTREAM"]["effectiveMode"] == "BLOCK"
    assert api.list_allowed_repositories_for_group(
        domain="acme", packageGroup="/pypi//acme~", originRestrictionType="PUBLISH"
    )["allowedRepositories"] == ["internal"]
    removed = api.update_package_group_origin_configuration(
        domain="acme", packageGroup="/pypi//acme~",
        removeAllowedRepositories=[{"originRestrictionType": "PUBLISH",
                                    "repositoryName": "internal"}])
    assert removed["allowedRepositoryUpdates"] == {"PUBLISH": {"REMOVED": ["internal"]}}


def test_update_origin_configuration_errors(api: Any) -> None:
    code, status, message = _fails(
        api.update_package_group_origin_configuration, domain="acme", packageGroup="/*",
        restrictions={"PUBLISH": "INHERIT"})
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("The root package group /* cannot inherit PUBLISH")
    code, status, message = _fails(
        api.update_package_group_origin_configuration, domain="acme", packageGroup="/*",
        addAllowedRepositories=[{"originRestrictionType": "PUBLISH",
                                 "repositoryName": "nope"}])
    assert (code, status, message) == ("ResourceNotFoundException", 404,
                                       "Repository nope not found in domain acme")


@pytest.mark.parametrize("entry, missing", [
    ({"originRestrictionType": "PUBLISH"}, "repositoryName"),
    ({"repositoryName": "team"}, "originRestrictionType"),
    ({}, "originRestrictionType and repositoryName"),
])
@pytest.mark.parametrize("change", ["addAllowedRepositories", "removeAllowedRepositories"])
def test_regression_an_allowed_repository_missing_a_member_is_a_validation_error_not_a_500(
        api: Any, change: str, entry: dict[str, str], missing: str) -> None:
    api.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    code, status, message = _fails(
        api.update_package_group_origin_configuration, domain="acme",
        packageGroup="/pypi//acme~", **{change: [entry]})
    assert (code, status) == ("ValidationException", 400)
    assert message == f"Each allowed repository to add or remove needs {missing}"


def test_delete_package_group(api: Any) -> None:
    code, status, message = _fails(api.delete_package_group, domain="acme", packageGroup="/*")
    assert (code, status) == ("ValidationException", 400)
    assert message == "The root package group /* cannot be deleted: every domain has it"
    code, _, _ = _fails(api.delete_package_group, domain="acme", packageGroup="/pypi/*")
    assert code == "ResourceNotFoundException"


def _user(packyard: InProcessPackyard, name: str, *statements: dict[str, Any]) -> Any:
    iam = packyard.iam()
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return packyard.codeartifact(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def test_package_group_arns_in_policies(packyard: InProcessPackyard, api: Any) -> None:
    for pattern in ("/pypi//acme~", "/npm/*"):
        api.create_package_group(domain="acme", packageGroup=pattern)
    user = _user(packyard, "groups-admin", {
        "Effect": "Allow",
        "Action": ["codeartifact:UpdatePackageGroupOriginConfiguration",
                   "codeartifact:DescribePackageGroup"],
        "Resource": GROUP_ARN + "/pypi/*"})
    user.update_package_group_origin_configuration(
        domain="acme", packageGroup="/pypi//acme~", restrictions={"PUBLISH": "BLOCK"})
    code, status, message = _fails(user.update_package_group_origin_configuration,
                                   domain="acme", packageGroup="/npm/*",
                                   restrictions={"PUBLISH": "BLOCK"})
    assert (code, status) == ("AccessDeniedException", 403)
    assert message.startswith("User: arn:aws:iam::000000000000:user/groups-admin is not "
                              "authorized to perform: "
                              "codeartifact:UpdatePackageGroupOriginConfiguration on resource: "
                              f"{GROUP_ARN}/npm/*")
    # The domain's policy governs its package groups too.
    api.put_domain_permissions_policy(domain="acme", policyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "codeartifact:DescribePackageGroup",
            "Resource": GROUP_ARN + "/pypi//acme~"}]}))
    assert _fails(user.describe_package_group, domain="acme",
                  packageGroup="/pypi//acme~")[0] == "AccessDeniedException"


def test_authorization_comes_before_any_lookup(packyard: InProcessPackyard, api: Any) -> None:
    nobody = _user(packyard, "nobody")
    for call, kwargs in (
            (nobody.describe_package_group, {"domain": "ghost", "packageGroup": "/pypi/*"}),
            (nobody.list_package_groups, {"domain": "ghost"}),
            (nobody.delete_package_group, {"domain": "acme", "packageGroup": "/npm/*"}),
            (nobody.list_tags_for_resource,
             {"resourceArn": GROUP_ARN.replace("acme", "ghost") + "/*"})):
        assert _fails(call, **kwargs)[0] == "AccessDeniedException"
