"""Domain and repository permissions policies through botocore and the app: put, get, delete,
revisions, and the documented errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import InProcessPackyard, aws_error, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT, DEFAULT_REGION

DOMAIN_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:domain/acme"
REPO_ARN = f"arn:aws:codeartifact:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:repository/acme/shelf"
DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
    "Action": "codeartifact:ReadFromRepository", "Resource": "*"}]})


@pytest.fixture
def api(packyard: InProcessPackyard) -> Any:
    client = packyard.codeartifact()
    client.create_domain(domain="acme")
    client.create_repository(domain="acme", repository="shelf")
    return client


# Each kind of policy: how to put, get and delete it, and the ARN it is about.
KINDS = {
    "domain": ("put_domain_permissions_policy", "get_domain_permissions_policy",
               "delete_domain_permissions_policy", {"domain": "acme"}, DOMAIN_ARN,
               "domain acme"),
    "repository": ("put_repository_permissions_policy", "get_repository_permissions_policy",
                   "delete_repository_permissions_policy",
                   {"domain": "acme", "repository": "shelf"}, REPO_ARN, "repository shelf"),
}


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


@pytest.mark.parametrize("kind", KINDS)
def test_policy_reads_back_as_written(api: Any, kind: str) -> None:
    put, get, _, target, arn, _ = KINDS[kind]
    written = getattr(api, put)(**target, policyDocument=DOCUMENT)["policy"]
    assert (written["resourceArn"], written["document"]) == (arn, DOCUMENT)
    assert written["revision"]
    assert getattr(api, get)(**target)["policy"] == written


@pytest.mark.parametrize("kind", KINDS)
def test_delete_returns_the_policy_and_then_there_is_none(api: Any, kind: str) -> None:
    put, get, delete, target, _, what = KINDS[kind]
    written = getattr(api, put)(**target, policyDocument=DOCUMENT)["policy"]
    deleted = getattr(api, delete)(**target, policyRevision=written["revision"])["policy"]
    assert deleted["document"] == DOCUMENT
    assert _fails(getattr(api, get), **target) == (
        "ResourceNotFoundException", 404, f"No resource policy is set on the {what}")


@pytest.mark.parametrize("kind", KINDS)
def test_each_write_makes_a_new_revision(api: Any, kind: str) -> None:
    put, _, _, target, _, _ = KINDS[kind]
    first = getattr(api, put)(**target, policyDocument=DOCUMENT)["policy"]["revision"]
    second = getattr(api, put)(**target, policyDocument=DOCUMENT,
                               policyRevision=first)["policy"]["revision"]
    assert second != first


@pytest.mark.parametrize("kind", KINDS)
def test_stale_revision_is_a_conflict(packyard: InProcessPackyard, api: Any, kind: str) -> None:
    put, _, _, target, arn, _ = KINDS[kind]
    first = getattr(api, put)(**target, policyDocument=DOCUMENT)["policy"]["revision"]
    getattr(api, put)(**target, policyDocument=DOCUMENT)
    assert _fails(getattr(api, put), **target, policyDocument=DOCUMENT,
                  policyRevision=first) == (
        "ConflictException", 409,
        f"The policy revision {first} is not the current revision of the policy on {arn}; "
        "get the policy again and retry with its revision")
    body = aws_error(packyard.last_aws_response)[2]
    assert (body["resourceId"], body["resourceType"]) == (arn, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_regression_missing_policy_names_a_resource_type_of_the_enum(
        packyard: InProcessPackyard, api: Any, kind: str) -> None:
    """A missing policy (get, delete, or a revision of none) named ``resourceType: "policy"``,
    which CodeArtifact's ResourceType enum (botocore's service model) does not have: it names
    the domain or repository the policy would be on."""
    put, get, delete, target, arn, _ = KINDS[kind]
    model = api.meta.service_model.shape_for("ResourceNotFoundException")
    allowed = model.members["resourceType"].enum
    for call, extra in ((get, {}), (delete, {}), (put, {"policyDocument": DOCUMENT,
                                                         "policyRevision": "made-up"})):
        with pytest.raises(ClientError):
            getattr(api, call)(**target, **extra)
        body = aws_error(packyard.last_aws_response)[2]
        assert body["resourceType"] in allowed
        assert (body["resourceId"], body["resourceType"]) == (arn, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_revision_of_a_policy_that_does_not_exist_is_a_conflict(api: Any, kind: str) -> None:
    put, _, _, target, arn, _ = KINDS[kind]
    assert _fails(getattr(api, put), **target, policyDocument=DOCUMENT,
                  policyRevision="made-up") == (
        "ConflictException", 409,
        f"The policy revision made-up does not match: {arn} has no resource policy")


@pytest.mark.parametrize("kind", KINDS)
def test_deleting_a_policy_that_does_not_exist_is_not_found(api: Any, kind: str) -> None:
    _, _, delete, target, arn, _ = KINDS[kind]
    assert _fails(getattr(api, delete), **target) == (
        "ResourceNotFoundException", 404, f"No resource policy is set on {arn}")


@pytest.mark.parametrize(("document", "message"), [
    pytest.param("{not json", "Policy document is not valid JSON: Expecting property name "
                 "enclosed in double quotes (line 1, column 2)", id="not-json"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "codeartifact:*", "Resource": "*"}]}),
        "Policy statement 1: Principal or NotPrincipal is required in a resource-based policy",
        id="no-principal"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Maybe", "Principal": "*", "Action": "codeartifact:*", "Resource": "*"}]}),
        "Policy statement 1: Effect must be Allow or Deny", id="bad-effect"),
])
def test_malformed_policy_is_a_validation_error(api: Any, document: str, message: str) -> None:
    assert _fails(api.put_repository_permissions_policy, domain="acme", repository="shelf",
                  policyDocument=document) == (
        "ValidationException", 400, f"The policy document is not valid: {message}")


def test_policy_of_a_missing_repository_is_not_found(api: Any) -> None:
    assert _fails(api.put_repository_permissions_policy, domain="acme", repository="absent",
                  policyDocument=DOCUMENT) == (
        "ResourceNotFoundException", 404, "Repository absent not found in domain acme")


def test_policy_of_a_missing_domain_is_not_found(api: Any) -> None:
    assert _fails(api.get_domain_permissions_policy, domain="nowhere") == (
        "ResourceNotFoundException", 404, "Domain nowhere not found")
