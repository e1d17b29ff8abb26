"""aws:ResourceTag, aws:RequestTag and aws:TagKeys, evaluated by the policy engine.

Policies are the CodeArtifact User Guide's four examples ("Using tags to control access to
CodeArtifact resources") and the IAM User Guide's multivalued examples ("Multivalued context key
examples"), decided by ``evaluate`` with the context ``tag_context`` builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from packyard.policy.document import (
    Policy,
    PolicyKind,
    PrincipalType,
    RequestPrincipal,
    parse_policy,
)
from packyard.policy.evaluation import AuthzRequest, DecisionReason, evaluate
from packyard.policy.tags import tag_context

ACCOUNT = "123456789012"
REPO_ARN = f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:repository/my-domain/my-repo"
ALICE = RequestPrincipal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", type=PrincipalType.USER,
                         account=ACCOUNT, user_id="AIDAALICE0000000000000")


def policy(*statements: dict[str, Any]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)},
                        kind=PolicyKind.IDENTITY, name="tags")


ADMIN = {"Effect": "Allow", "Action": "codeartifact:*", "Resource": "*"}


def decide(policies: list[Policy], action: str, *,
           resource_tags: Mapping[str, str] | None = None,
           request_tags: Mapping[str, str] | None = None,
           tag_keys: list[str] | None = None) -> DecisionReason:
    context = tag_context(resource_tags=resource_tags, request_tags=request_tags,
                          tag_keys=tag_keys)
    request = AuthzRequest(principal=ALICE, action=action, resource=REPO_ARN,
                           resource_account=ACCOUNT, context=context)
    return evaluate(request, policies, []).reason


ALLOWED, EXPLICIT, IMPLICIT = (DecisionReason.ALLOWED, DecisionReason.EXPLICIT_DENY,
                               DecisionReason.IMPLICIT_DENY)

# Example 1: deny CreateRepository unless the request tags costcenter with 1 or 2.
EXAMPLE_1 = [policy(ADMIN), policy(
    {"Effect": "Deny", "Action": "codeartifact:CreateRepository", "Resource": "*",
     "Condition": {"Null": {"aws:RequestTag/costcenter": "true"}}},
    {"Effect": "Deny", "Action": "codeartifact:CreateRepository", "Resource": "*",
     "Condition": {"ForAnyValue:StringNotEquals": {"aws:RequestTag/costcenter": ["1", "2"]}}})]


@pytest.mark.parametrize(("tags", "expected"), [
    ({"costcenter": "1"}, ALLOWED),
    ({"costcenter": "2", "team": "x"}, ALLOWED),
    ({"costcenter": "3"}, EXPLICIT),
    ({}, EXPLICIT),
    ({"team": "x"}, EXPLICIT),
])
def test_example_1_tags_required_in_the_request(tags: dict[str, str],
                                                expected: DecisionReason) -> None:
    assert decide(EXAMPLE_1, "codeartifact:CreateRepository", request_tags=tags) is expected


# Example 2: deny some actions on resources tagged Key1 = Value1 or Value2.
EXAMPLE_2 = [policy(ADMIN), policy(
    {"Effect": "Deny",
     "Action": ["codeartifact:TagResource", "codeartifact:UntagResource",
                "codeartifact:DescribeRepository", "codeartifact:ReadFromRepository",
                "codeartifact:ListPackages", "codeartifact:ListTagsForResource"],
     "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/Key1": ["Value1", "Value2"]}}})]


@pytest.mark.parametrize(("resource_tags", "expected"), [
    ({"Key1": "Value1"}, EXPLICIT),
    ({"Key1": "Value2", "Other": "x"}, EXPLICIT),
    ({"Key1": "Value3"}, ALLOWED),
    ({"Key1": "value1"}, ALLOWED),  # values are case sensitive
    ({"key1": "Value1"}, EXPLICIT),  # condition key names are not
    ({}, ALLOWED),
])
def test_example_2_resource_tags_deny(resource_tags: dict[str, str],
                                      expected: DecisionReason) -> None:
    assert decide(EXAMPLE_2, "codeartifact:ReadFromRepository",
                  resource_tags=resource_tags) is expected


# Example 3: allow actions on repositories tagged Key1 = Value1, with only Key1 in the request.
EXAMPLE_3 = [policy(
    {"Effect": "Allow",
     "Action": ["codeartifact:UpdateRepository", "codeartifact:DeleteRepository",
                "codeartifact:ListPackages", "codeartifact:ListPackageVersions"],
     "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/Key1": "Value1"},
                   "ForAllValues:StringEquals": {"aws:TagKeys": ["Key1"]}}})]


@pytest.mark.parametrize(("resource_tags", "request_tags", "expected"), [
    ({"Key1": "Value1"}, None, ALLOWED),  # ForAllValues holds for a request without tags
    ({"Key1": "Value1", "Key2": "x"}, None, ALLOWED),
    ({"Key1": "Value2"}, None, IMPLICIT),
    ({}, None, IMPLICIT),
    ({"Key1": "Value1"}, {"Key1": "new"}, ALLOWED),
    ({"Key1": "Value1"}, {"Key2": "new"}, IMPLICIT),
])
def test_example_3_resource_tags_allow(resource_tags: dict[str, str],
                                       request_tags: dict[str, str] | None,
                                       expected: DecisionReason) -> None:
    assert decide(EXAMPLE_3, "codeartifact:ListPackages", resource_tags=resource_tags,
                  request_tags=request_tags) is expected


# Example 4: allow CreateRepository and TagResource when the request tags Key1 = Value1 and
# nothing else; aws:TagKeys holds the key's case.
EXAMPLE_4 = [policy(
    {"Effect": "Allow", "Action": ["codeartifact:CreateRepository", "codeartifact:TagResource"],
     "Resource": "*",
     "Condition": {"StringEquals": {"aws:RequestTag/Key1": "Value1"},
                   "ForAllValues:StringEquals": {"aws:TagKeys": ["Key1"]}}})]


@pytest.mark.parametrize(("request_tags", "expected"), [
    ({"Key1": "Value1"}, ALLOWED),
    ({"Key1": "Value2"}, IMPLICIT),
    ({"key1": "Value1"}, IMPLICIT),  # aws:RequestTag/Key1 matches, aws:TagKeys does not
    ({"Key1": "Value1", "Key2": "x"}, IMPLICIT),
    ({}, IMPLICIT),
])
def test_example_4_request_tags_allow(request_tags: dict[str, str],
                                      expected: DecisionReason) -> None:
    assert decide(EXAMPLE_4, "codeartifact:TagResource", request_tags=request_tags) is expected


# IAM User Guide: deny tagging when every key in the request starts with key1, key2 or key3 (and
# there is at least one: the Null test).
FOR_ALL_VALUES_DENY = [policy(ADMIN), policy(
    {"Sid": "DenyRestrictedTags", "Effect": "Deny",
     "Action": ["codeartifact:TagResource", "codeartifact:UntagResource"], "Resource": "*",
     "Condition": {"Null": {"aws:TagKeys": "false"},
                   "ForAllValues:StringLike": {"aws:TagKeys": ["key1*", "key2*", "key3*"]}}})]

# IAM User Guide: deny when any key in the request is environment or webserver.
FOR_ANY_VALUE_DENY = [policy(ADMIN), policy(
    {"Effect": "Deny", "Action": "codeartifact:TagResource", "Resource": "*",
     "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "webserver"]}}})]


@pytest.mark.parametrize(("policies", "action", "keys", "expected"), [
    (FOR_ALL_VALUES_DENY, "codeartifact:TagResource", ["key1a", "key2b"], EXPLICIT),
    (FOR_ALL_VALUES_DENY, "codeartifact:TagResource", ["key1a", "other"], ALLOWED),
    (FOR_ALL_VALUES_DENY, "codeartifact:TagResource", [], ALLOWED),
    (FOR_ALL_VALUES_DENY, "codeartifact:UntagResource", ["key3"], EXPLICIT),
    (FOR_ANY_VALUE_DENY, "codeartifact:TagResource", ["team", "webserver"], EXPLICIT),
    (FOR_ANY_VALUE_DENY, "codeartifact:TagResource", ["team"], ALLOWED),
    (FOR_ANY_VALUE_DENY, "codeartifact:TagResource", [], ALLOWED),
])
def test_tag_keys_is_multivalued(policies: list[Policy], action: str, keys: list[str],
                                 expected: DecisionReason) -> None:
    # TagResource names the keys it sets, UntagResource the keys it removes.
    if action == "codeartifact:TagResource":
        result = decide(policies, action, request_tags={k: "v" for k in keys})
    else:
        result = decide(policies, action, tag_keys=keys)
    assert result is expected


def test_resource_tags_as_a_policy_variable() -> None:
    # A single-valued key can be a variable: a user may read repositories of their own team.
    policies = [policy({"Effect": "Allow", "Action": "codeartifact:ReadFromRepository",
                        "Resource": "*",
                        "Condition": {"StringEquals": {
                            "aws:ResourceTag/owner": "${aws:username}"}}})]
    assert decide(policies, "codeartifact:ReadFromRepository",
                  resource_tags={"owner": "alice"}) is ALLOWED
    assert decide(policies, "codeartifact:ReadFromRepository",
                  resource_tags={"owner": "bob"}) is IMPLICIT


def test_tag_context_keys() -> None:
    assert tag_context(resource_tags={"Team": "blue", "team": "red", "env": ""},
                       request_tags={"Env": "prod"}) == {
        "aws:resourcetag/team": ["blue", "red"],  # two keys that differ only in case
        "aws:resourcetag/env": "",  # an empty value is a value
        "aws:requesttag/env": "prod",
        "aws:TagKeys": ["Env"],
    }
    assert tag_context(tag_keys=["a", "b", "a"]) == {"aws:TagKeys": ["a", "b"]}
    assert tag_context() == {}
