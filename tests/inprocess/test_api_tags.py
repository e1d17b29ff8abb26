"""Tags on domains, repositories and package groups through botocore and the app: TagResource,
UntagResource, ListTagsForResource, ``tags`` on create, AWS's limits with the messages users
see, and the tag condition keys (``aws:ResourceTag/…``, ``aws:RequestTag/…``, ``aws:TagKeys``)
in identity policies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import InProcessPackyard, aws_error, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT, DEFAULT_REGION, Credentials

CA = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}"
DOMAIN_ARN = f"{CA}:domain/acme"
REPO_ARN = f"{CA}:repository/acme/shelf"
GROUP_ARN = f"{CA}:package-group/acme/pypi//acme~"


@pytest.fixture
def api(packyard: InProcessPackyard) -> Any:
    client = packyard.codeartifact()
    client.create_domain(domain="acme", tags=[{"key": "env", "value": "prod"}])
    client.create_repository(domain="acme", repository="shelf",
                             tags=[{"key": "team", "value": "data"}])
    client.create_package_group(domain="acme", packageGroup="/pypi//acme~")
    return client


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


def _tags(api: Any, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in api.list_tags_for_resource(resourceArn=arn)["tags"]}


def test_tags_given_on_create_are_listed(api: Any) -> None:
    assert _tags(api, DOMAIN_ARN) == {"env": "prod"}
    assert _tags(api, REPO_ARN) == {"team": "data"}
    assert _tags(api, GROUP_ARN) == {}


def test_tag_resource_adds_and_replaces_untag_removes(api: Any) -> None:
    api.tag_resource(resourceArn=REPO_ARN, tags=[{"key": "team", "value": "ml"},
                                                 {"key": "cost-center", "value": "42"}])
    assert _tags(api, REPO_ARN) == {"team": "ml", "cost-center": "42"}
    api.untag_resource(resourceArn=REPO_ARN, tagKeys=["team", "not-there"])
    assert _tags(api, REPO_ARN) == {"cost-center": "42"}
    api.tag_resource(resourceArn=GROUP_ARN, tags=[{"key": "owner", "value": "sec"}])
    assert _tags(api, GROUP_ARN) == {"owner": "sec"}
    assert api.list_tags_for_resource(resourceArn=DOMAIN_ARN)["tags"] == [
        {"key": "env", "value": "prod"}]


def test_fifty_one_tags_are_refused(api: Any) -> None:
    api.tag_resource(resourceArn=REPO_ARN,
                     tags=[{"key": f"k{i}", "value": "v"} for i in range(48)])  # and team
    code, status, message = _fails(api.tag_resource, resourceArn=REPO_ARN,
                                   tags=[{"key": "k48", "value": "v"},
                                         {"key": "k49", "value": "v"}])
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert message == "A resource can have at most 50 tags; this request would give it 51"
    assert len(_tags(api, REPO_ARN)) == 49  # unchanged


def test_fifty_one_tags_on_create_are_refused(api: Any) -> None:
    code, _, message = _fails(api.create_repository, domain="acme", repository="big",
                              tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert code == "ServiceQuotaExceededException"
    assert message == "A resource can have at most 50 tags; this request would give it 51"
    assert _fails(api.describe_repository, domain="acme", repository="big")[0] == (
        "ResourceNotFoundException")


def test_a_tag_key_over_the_limit_is_refused(api: Any) -> None:
    code, status, message = _fails(api.tag_resource, resourceArn=REPO_ARN,
                                   tags=[{"key": "k" * 129, "value": "v"}])
    # botocore's model says 128 first; the server says it too when a client does not check.
    assert (code, status) == ("ValidationException", 400)
    assert "128" in message


def test_reserved_aws_keys_are_refused(api: Any) -> None:
    code, status, message = _fails(api.tag_resource, resourceArn=REPO_ARN,
                                   tags=[{"key": "aws:team", "value": "v"}])
    assert (code, status, message) == (
        "ValidationException", 400,
        'Tag key "aws:team" is not allowed: the aws: prefix is reserved for AWS')
    code, _, message = _fails(api.untag_resource, resourceArn=REPO_ARN, tagKeys=["AWS:x"])
    assert message == 'Tag key "AWS:x" cannot be removed: the aws: prefix is reserved for AWS'
    code, _, message = _fails(api.create_domain, domain="other",
                              tags=[{"key": "aws:cost", "value": "v"}])
    assert code == "ValidationException"


def test_a_refused_request_changes_none_of_its_tags(api: Any) -> None:
    """TagResource and UntagResource are all or nothing: good tags before the one refused, or
    before the one past the limit of 50, are not written; keys before a reserved one stay."""
    before = _tags(api, REPO_ARN)
    for tags, expected in [
            ([{"key": "ok-1", "value": "1"}, {"key": "ok-2", "value": "2"},
              {"key": "aws:x", "value": "3"}], "ValidationException"),
            ([{"key": "ok-1", "value": "1"}, {"key": "ok-1", "value": "2"}],
             "ValidationException"),
            ([{"key": f"k{i}", "value": "v"} for i in range(50)],  # and team: 51
             "ServiceQuotaExceededException")]:
        assert _fails(api.tag_resource, resourceArn=REPO_ARN, tags=tags)[0] == expected
        assert _tags(api, REPO_ARN) == before
    code, _, _ = _fails(api.untag_resource, resourceArn=REPO_ARN, tagKeys=["team", "aws:x"])
    assert code == "ValidationException" and _tags(api, REPO_ARN) == before


def test_an_arn_that_takes_no_tags_and_a_missing_resource(api: Any) -> None:
    code, status, message = _fails(api.tag_resource,
                                   resourceArn=f"{CA}:package/acme/shelf/pypi//pkg",
                                   tags=[{"key": "a", "value": "b"}])
    assert (code, status) == ("ValidationException", 400)
    assert message.endswith("is not the ARN of a CodeArtifact domain, repository or package "
                            "group (the resources that take tags)")
    code, status, message = _fails(api.list_tags_for_resource,
                                   resourceArn=f"{CA}:repository/acme/nope")
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, _, _ = _fails(api.tag_resource, resourceArn=f"{CA}:domain/nope",
                        tags=[{"key": "a", "value": "b"}])
    assert code == "ResourceNotFoundException"


def test_regression_list_tags_of_a_missing_resource_names_it_as_tag_resource_does(
        packyard: InProcessPackyard, api: Any) -> None:
    """ListTagsForResource of a missing repository or domain answered ResourceNotFoundException
    with its ARN as resourceId and no resourceType; TagResource names the same resource by its
    name and type."""
    for arn, named in ((f"{CA}:repository/acme/nope", ("nope", "repository")),
                       (f"{CA}:domain/nope", ("nope", "domain"))):
        for call, extra in ((api.tag_resource, {"tags": [{"key": "a", "value": "b"}]}),
                            (api.list_tags_for_resource, {})):
            with pytest.raises(ClientError):
                call(resourceArn=arn, **extra)
            body = aws_error(packyard.last_aws_response)[2]
            assert (body["resourceId"], body["resourceType"]) == named


def test_deleting_a_repository_drops_its_tags(api: Any) -> None:
    api.delete_repository(domain="acme", repository="shelf")
    api.create_repository(domain="acme", repository="shelf")
    assert _tags(api, REPO_ARN) == {}


# -- tag conditions ------------------------------------------------------------------------------

def _user(packyard: InProcessPackyard, name: str, *statements: dict[str, Any]) -> Any:
    iam = packyard.iam()
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return packyard.codeartifact(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def test_resource_tags_decide_actions_on_a_tagged_repository(packyard: InProcessPackyard,
                                                             api: Any) -> None:
    api.create_repository(domain="acme", repository="other")
    user = _user(packyard, "data-team", {
        "Effect": "Allow", "Action": "codeartifact:DescribeRepository", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "data"}}})
    assert user.describe_repository(domain="acme", repository="shelf")["repository"][
        "name"] == "shelf"
    code, status, message = _fails(user.describe_repository, domain="acme", repository="other")
    assert (code, status) == ("AccessDeniedException", 403)
    assert "codeartifact:DescribeRepository" in message
    # A change of tags applies to the next request.
    api.untag_resource(resourceArn=REPO_ARN, tagKeys=["team"])
    assert _fails(user.describe_repository, domain="acme", repository="shelf")[0] == (
        "AccessDeniedException")


def test_request_tags_decide_creates_and_tag_resource(packyard: InProcessPackyard,
                                                      api: Any) -> None:
    user = _user(packyard, "creator", {
        "Effect": "Allow",
        "Action": ["codeartifact:CreateRepository", "codeartifact:TagResource"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestTag/team": "data"}}})
    user.create_repository(domain="acme", repository="tagged",
                           tags=[{"key": "team", "value": "data"}])
    code, _, _ = _fails(user.create_repository, domain="acme", repository="untagged")
    assert code == "AccessDeniedException"
    code, _, _ = _fails(user.create_repository, domain="acme", repository="wrong",
                        tags=[{"key": "team", "value": "ml"}])
    assert code == "AccessDeniedException"
    user.tag_resource(resourceArn=REPO_ARN, tags=[{"key": "team", "value": "data"}])
    assert _fails(user.tag_resource, resourceArn=REPO_ARN,
                  tags=[{"key": "team", "value": "ml"}])[0] == "AccessDeniedException"


def test_tag_keys_decide_untag_resource(packyard: InProcessPackyard, api: Any) -> None:
    api.tag_resource(resourceArn=REPO_ARN, tags=[{"key": "cost", "value": "1"}])
    user = _user(packyard, "untagger", {
        "Effect": "Allow", "Action": "codeartifact:UntagResource", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["cost"]}}})
    assert _fails(user.untag_resource, resourceArn=REPO_ARN,
                  tagKeys=["cost", "team"])[0] == "AccessDeniedException"
    user.untag_resource(resourceArn=REPO_ARN, tagKeys=["cost"])
    assert _tags(api, REPO_ARN) == {"team": "data"}


def test_creating_with_tags_also_needs_tag_resource(packyard: InProcessPackyard,
                                                    api: Any) -> None:
    user = _user(packyard, "no-tagging", {
        "Effect": "Allow", "Action": "codeartifact:CreatePackageGroup", "Resource": "*"})
    user.create_package_group(domain="acme", packageGroup="/pypi/*")
    code, _, message = _fails(user.create_package_group, domain="acme",
                              packageGroup="/npm/*", tags=[{"key": "a", "value": "b"}])
    assert code == "AccessDeniedException" and "codeartifact:TagResource" in message


def test_resource_tags_decide_reads_through_the_package_endpoint(
        packyard: InProcessPackyard, api: Any) -> None:
    # What docs/access-control.md shows: pip reads only repositories tagged team=data.
    api.create_repository(domain="acme", repository="other")
    iam = packyard.iam()
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["codeartifact:GetAuthorizationToken",
                                           "sts:GetServiceBearerToken"], "Resource": "*"},
            {"Effect": "Allow", "Action": "codeartifact:ReadFromRepository",
             "Resource": f"{CA}:repository/acme/*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "data"}}}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    assert packyard.pypi_repo(repository="shelf", credentials=reader,
                              create=False).get("simple/").status_code == 200
    assert packyard.pypi_repo(repository="other", credentials=reader,
                              create=False).get("simple/").status_code == 403


def test_an_untag_drops_a_remembered_read_grant_at_once(packyard: InProcessPackyard,
                                                        api: Any) -> None:
    # Read grants are reused for a second (services/access.py); a tag the grant rested on,
    # removed through this server, stops the next read, as an IAM write does.
    iam = packyard.iam()
    iam.create_user(UserName="tagged-reader")
    iam.put_user_policy(UserName="tagged-reader", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["codeartifact:GetAuthorizationToken",
                                           "sts:GetServiceBearerToken"], "Resource": "*"},
            {"Effect": "Allow", "Action": "codeartifact:ReadFromRepository", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "data"}}}]}))
    key = iam.create_access_key(UserName="tagged-reader")["AccessKey"]
    repo = packyard.pypi_repo(repository="shelf", create=False,
                              credentials=Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert repo.get("simple/").status_code == 200
    api.untag_resource(resourceArn=REPO_ARN, tagKeys=["team"])
    assert repo.get("simple/").status_code == 403
