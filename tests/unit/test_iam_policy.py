"""Policy documents: parsing, validation messages, and Action/Resource/Principal matching."""

from __future__ import annotations

import json
from typing import Any

import pytest

from packyard.errors import Invalid
from packyard.policy.conditions import RequestContext
from packyard.policy.document import (
    Effect,
    Policy,
    PolicyKind,
    PrincipalMatch,
    PrincipalType,
    RequestPrincipal,
    Statement,
    parse_policy,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
RESOURCE_ARN = f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:repository/my-domain/my-repo"


def identity(*statements: dict[str, Any], version: str | None = "2012-10-17") -> Policy:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return parse_policy(document, kind=PolicyKind.IDENTITY)


def resource_statement(principal: Any, *, not_principal: bool = False) -> Statement:
    # NotPrincipal comes only with Deny.
    element, effect = ("NotPrincipal", "Deny") if not_principal else ("Principal", "Allow")
    policy = parse_policy({"Version": "2012-10-17", "Statement": {
        "Effect": effect, element: principal, "Action": "*", "Resource": "*"}},
        kind=PolicyKind.RESOURCE)
    return policy.statements[0]


def allow(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **elements}


# ---------------------------------------------------------------------------------------------
# Parsing valid documents


def test_statement_may_be_a_single_object() -> None:
    policy = parse_policy('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", '
                          '"Action": "codeartifact:*", "Resource": "*"}}',
                          kind=PolicyKind.IDENTITY)
    assert len(policy.statements) == 1
    statement = policy.statements[0]
    assert statement.effect is Effect.ALLOW
    assert statement.actions == ("codeartifact:*",)
    assert statement.resources == ("*",)
    assert statement.index == 1


def test_parses_every_element() -> None:
    text = json.dumps({
        "Version": "2012-10-17",
        "Id": "repo-policy",
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": [ACCOUNT, f"arn:aws:iam::{OTHER}:user/bob"]},
             "Action": ["codeartifact:ReadFromRepository", "codeartifact:List*"],
             "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            {"Sid": "NoDelete", "Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "NotAction": "codeartifact:Get*", "NotResource": RESOURCE_ARN},
        ]})
    policy = parse_policy(text.encode(), kind=PolicyKind.RESOURCE, name="repository policy")
    read, no_delete = policy.statements
    assert (policy.version, policy.id, policy.label) == ("2012-10-17", "repo-policy",
                                                          "repository policy")
    assert read.sid == "Read" and read.conditions[0].key == "aws:securetransport"
    assert read.principals is not None and read.principals.accounts == frozenset({ACCOUNT})
    assert read.principals.arns == frozenset({f"arn:aws:iam::{OTHER}:user/bob"})
    assert no_delete.effect is Effect.DENY
    assert no_delete.not_action and no_delete.not_resource and no_delete.not_principal


@pytest.mark.parametrize("version", [None, "2008-10-17", "2012-10-17"])
def test_version_is_optional_or_one_of_two(version: str | None) -> None:
    policy = identity(allow(Action="s3:*", Resource="*"), version=version)
    assert policy.version == version


def test_resource_policy_may_omit_resource() -> None:
    policy = parse_policy({"Statement": [allow(Principal="*", Action="codeartifact:*")]},
                          kind=PolicyKind.RESOURCE)
    statement = policy.statements[0]
    assert statement.resources is None
    assert statement.matches_resource(RESOURCE_ARN, RequestContext({}))


def test_policy_label_falls_back_to_id() -> None:
    policy = parse_policy({"Id": "doc-id", "Statement": allow(Action="s3:*", Resource="*")},
                          kind=PolicyKind.IDENTITY)
    assert policy.label == "doc-id"


def test_size_limit_does_not_count_whitespace() -> None:
    document = {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}
    compact = json.dumps(document, separators=(",", ":"))
    spaced = json.dumps(document, indent=8)
    assert len(spaced) > len(compact)
    parse_policy(spaced, kind=PolicyKind.IDENTITY, max_size=len(compact))
    with pytest.raises(Invalid) as error:
        parse_policy(compact, kind=PolicyKind.IDENTITY, max_size=len(compact) - 1)
    assert error.value.message == (
        f"Policy document is too large: {len(compact)} characters (not counting whitespace); "
        f"the limit is {len(compact) - 1}")


def test_size_limit_applies_to_decoded_documents() -> None:
    with pytest.raises(Invalid, match="Policy document is too large"):
        parse_policy({"Statement": allow(Action="s3:*", Resource="*")},
                     kind=PolicyKind.IDENTITY, max_size=10)


# ---------------------------------------------------------------------------------------------
# Validation messages

GOOD = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}


def statement_with(**changes: Any) -> dict[str, Any]:
    statement = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return statement


INVALID_DOCUMENTS = [
    pytest.param("{", PolicyKind.IDENTITY,
                 "Policy document is not valid JSON: Expecting property name enclosed in double "
                 "quotes (line 1, column 2)", id="not-json"),
    pytest.param(b"\xff\xfe", PolicyKind.IDENTITY, "Policy document is not UTF-8 text",
                 id="not-utf8"),
    pytest.param("[]", PolicyKind.IDENTITY, "Policy document must be a JSON object",
                 id="not-an-object"),
    pytest.param('{"Statement": [], "Statement": []}', PolicyKind.IDENTITY,
                 'Policy document has the key "Statement" twice in one object',
                 id="duplicate-key"),
    pytest.param({"Version": "2012-10-17"}, PolicyKind.IDENTITY,
                 "Policy document must have a Statement", id="no-statement"),
    pytest.param({"Statement": []}, PolicyKind.IDENTITY,
                 "Policy document: Statement must be an object or a non-empty list",
                 id="empty-statement-list"),
    pytest.param({"Statement": "Allow"}, PolicyKind.IDENTITY,
                 "Policy document: Statement must be an object or a non-empty list",
                 id="statement-a-string"),
    pytest.param({"Version": "2012-10-18", "Statement": GOOD}, PolicyKind.IDENTITY,
                 'Policy document: Version must be "2012-10-17" or "2008-10-17"',
                 id="bad-version"),
    pytest.param({"Id": 5, "Statement": GOOD}, PolicyKind.IDENTITY,
                 "Policy document: Id must be a string", id="id-not-a-string"),
    pytest.param({"Statment": GOOD}, PolicyKind.IDENTITY,
                 'Policy document has an unknown element "Statment" (allowed: Version, Id, '
                 'Statement)', id="unknown-top-level-element"),
    pytest.param({"Statement": [GOOD, "Allow"]}, PolicyKind.IDENTITY,
                 "Policy statement 2 must be a JSON object", id="statement-not-an-object"),
    pytest.param({"Statement": [GOOD, statement_with(Effect="allow")]}, PolicyKind.IDENTITY,
                 "Policy statement 2: Effect must be Allow or Deny", id="effect-lowercase"),
    pytest.param({"Statement": statement_with(Effect=None)}, PolicyKind.IDENTITY,
                 "Policy statement 1: Effect must be Allow or Deny", id="effect-missing"),
    pytest.param({"Statement": statement_with(Efect="Allow")}, PolicyKind.IDENTITY,
                 'Policy statement 1: unknown element "Efect" (allowed: Sid, Effect, Principal, '
                 'NotPrincipal, Action, NotAction, Resource, NotResource, Condition)',
                 id="unknown-statement-element"),
    pytest.param({"Statement": statement_with(Sid=7)}, PolicyKind.IDENTITY,
                 "Policy statement 1: Sid must be a string", id="sid-not-a-string"),
    pytest.param({"Statement": statement_with(Sid="read only")}, PolicyKind.IDENTITY,
                 'Policy statement 1: Sid "read only" may contain only letters (A-Z, a-z) and '
                 'digits', id="identity-sid-characters"),
    pytest.param({"Statement": [statement_with(Sid="A"), statement_with(Sid="A")]},
                 PolicyKind.IDENTITY,
                 'Policy statement 2: Sid "A" is already used by statement 1; statement ids '
                 'must be unique', id="duplicate-sid"),
    pytest.param({"Statement": statement_with(Action=None)}, PolicyKind.IDENTITY,
                 "Policy statement 1: Action or NotAction is required", id="no-action"),
    pytest.param({"Statement": statement_with(NotAction="s3:Get*")}, PolicyKind.IDENTITY,
                 "Policy statement 1: Action and NotAction cannot both be present",
                 id="action-and-not-action"),
    pytest.param({"Statement": statement_with(Action=[])}, PolicyKind.IDENTITY,
                 "Policy statement 1: Action must not be an empty list", id="empty-action"),
    pytest.param({"Statement": statement_with(Action=["s3:Get*", 3])}, PolicyKind.IDENTITY,
                 "Policy statement 1: Action must be a string or a list of strings",
                 id="action-not-a-string"),
    pytest.param({"Statement": statement_with(Action="GetObject")}, PolicyKind.IDENTITY,
                 'Policy statement 1: Action "GetObject" must be "*" or "service:action" (for '
                 'example "codeartifact:ReadFromRepository")', id="action-without-service"),
    pytest.param({"Statement": statement_with(Action=None, NotAction="s3: Get")},
                 PolicyKind.IDENTITY,
                 'Policy statement 1: NotAction "s3: Get" must be "*" or "service:action" (for '
                 'example "codeartifact:ReadFromRepository")', id="not-action-with-space"),
    pytest.param({"Statement": statement_with(Resource=None)}, PolicyKind.IDENTITY,
                 "Policy statement 1: Resource or NotResource is required",
                 id="identity-needs-resource"),
    pytest.param({"Statement": statement_with(NotResource="*")}, PolicyKind.IDENTITY,
                 "Policy statement 1: Resource and NotResource cannot both be present",
                 id="resource-and-not-resource"),
    pytest.param({"Statement": statement_with(Resource="my-bucket")}, PolicyKind.IDENTITY,
                 'Policy statement 1: Resource "my-bucket" must be "*" or an ARN '
                 '(arn:partition:service:region:account:resource)', id="resource-not-an-arn"),
    pytest.param({"Statement": statement_with(Resource="arn:aws:codeartifact:*")},
                 PolicyKind.IDENTITY,
                 'Policy statement 1: Resource "arn:aws:codeartifact:*" must be "*" or an ARN '
                 '(arn:partition:service:region:account:resource)', id="resource-too-short"),
    pytest.param({"Statement": statement_with(Principal="*")}, PolicyKind.IDENTITY,
                 "Policy statement 1: Principal is not allowed in an identity-based policy (the "
                 "principal is the identity the policy is attached to)",
                 id="identity-with-principal"),
    pytest.param({"Statement": statement_with(NotPrincipal={"AWS": ACCOUNT})},
                 PolicyKind.IDENTITY,
                 "Policy statement 1: NotPrincipal is not allowed in an identity-based policy "
                 "(the principal is the identity the policy is attached to)",
                 id="identity-with-not-principal"),
    pytest.param({"Statement": GOOD}, PolicyKind.RESOURCE,
                 "Policy statement 1: Principal or NotPrincipal is required in a resource-based "
                 "policy", id="resource-without-principal"),
    pytest.param({"Statement": statement_with(Principal="*", NotPrincipal="*")},
                 PolicyKind.RESOURCE,
                 "Policy statement 1: Principal and NotPrincipal cannot both be present",
                 id="principal-and-not-principal"),
    pytest.param({"Statement": statement_with(Principal=ACCOUNT)}, PolicyKind.RESOURCE,
                 'Policy statement 1: Principal must be "*" or an object such as {"AWS": '
                 '"arn:aws:iam::123456789012:user/name"}', id="principal-bare-string"),
    pytest.param({"Statement": statement_with(Principal={})}, PolicyKind.RESOURCE,
                 'Policy statement 1: Principal must be "*" or an object such as {"AWS": '
                 '"arn:aws:iam::123456789012:user/name"}', id="principal-empty-object"),
    pytest.param({"Statement": statement_with(Principal={"AWS": "arn:aws:iam::*:root"})},
                 PolicyKind.RESOURCE,
                 'Policy statement 1: Invalid principal in policy: "AWS":"arn:aws:iam::*:root"',
                 id="principal-wildcard-account"),
    pytest.param({"Statement": statement_with(
        Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:user/dev-*"})}, PolicyKind.RESOURCE,
        f'Policy statement 1: Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:'
        'user/dev-*"', id="principal-wildcard-user"),
    pytest.param({"Statement": statement_with(Principal={"AWS": [
        f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/*"]})}, PolicyKind.RESOURCE,
        f'Policy statement 1: Invalid principal in policy: "AWS":"arn:aws:sts::{ACCOUNT}:'
        'assumed-role/admin/*"', id="principal-wildcard-session"),
    pytest.param({"Statement": statement_with(Principal={"AWS": "12345"})},
                 PolicyKind.RESOURCE,
                 'Policy statement 1: Invalid principal in policy: "AWS":"12345"',
                 id="principal-short-account"),
    pytest.param({"Statement": statement_with(
        Principal={"AWS": f"arn:aws:s3:::{ACCOUNT}"})}, PolicyKind.RESOURCE,
        f'Policy statement 1: Invalid principal in policy: "AWS":"arn:aws:s3:::{ACCOUNT}"',
        id="principal-not-an-iam-arn"),
    pytest.param({"Statement": statement_with(Principal={"Service": "*"})},
                 PolicyKind.RESOURCE,
                 'Policy statement 1: Invalid principal in policy: "Service":"*"',
                 id="principal-service-wildcard"),
    pytest.param({"Statement": statement_with(Principal={"Service": "codeartifact"})},
                 PolicyKind.RESOURCE,
                 'Policy statement 1: Invalid principal in policy: "Service":"codeartifact"',
                 id="principal-service-not-a-name"),
    pytest.param({"Statement": statement_with(Principal={"User": "bob"})},
                 PolicyKind.RESOURCE,
                 'Policy statement 1: Principal has an unknown principal type "User" (use AWS, '
                 'Service, Federated or CanonicalUser)', id="principal-unknown-type"),
    pytest.param({"Statement": statement_with(Principal={"AWS": []})}, PolicyKind.RESOURCE,
                 'Policy statement 1: Principal "AWS" must not be an empty list',
                 id="principal-empty-list"),
    pytest.param({"Statement": statement_with(Condition={"Bool": {"aws:SecureTransport": 1}})},
                 PolicyKind.IDENTITY,
                 'Policy statement 1: Condition operator "Bool" key "aws:SecureTransport": "1" '
                 'is not true or false', id="condition-error-names-statement"),
]


@pytest.mark.parametrize(("document", "kind", "message"), INVALID_DOCUMENTS)
def test_invalid_document(document: Any, kind: PolicyKind, message: str) -> None:
    with pytest.raises(Invalid) as error:
        parse_policy(document, kind=kind)
    assert error.value.message == message


def test_resource_policy_sid_may_contain_spaces() -> None:
    policy = parse_policy({"Statement": statement_with(Sid="Read only", Principal="*")},
                          kind=PolicyKind.RESOURCE)
    assert policy.statements[0].sid == "Read only"


# ---------------------------------------------------------------------------------------------
# Action matching

ACTION_CASES = [
    pytest.param("*", "codeartifact:ReadFromRepository", True, id="star"),
    pytest.param("codeartifact:*", "codeartifact:ReadFromRepository", True, id="service-star"),
    pytest.param("codeartifact:Get*", "codeartifact:GetAuthorizationToken", True,
                 id="prefix-star"),
    pytest.param("codeartifact:Get*", "codeartifact:ListPackages", False, id="prefix-star-miss"),
    pytest.param("codeartifact:get*", "codeartifact:GetAuthorizationToken", True,
                 id="ignores-case-in-policy"),
    pytest.param("CodeArtifact:ReadFromRepository", "codeartifact:readfromrepository", True,
                 id="ignores-case-both-sides"),
    pytest.param("iam:*AccessKey*", "iam:CreateAccessKey", True, id="infix-star"),
    pytest.param("codeartifact:Describe?ackage", "codeartifact:DescribePackage", True,
                 id="question-mark"),
    pytest.param("codeartifact:Describe?ackage", "codeartifact:DescribeXXackage", False,
                 id="question-mark-one-character"),
    pytest.param("codeartifact:Get*", "sts:GetServiceBearerToken", False, id="other-service"),
    pytest.param("s3:GetObject", "s3:GetObjectAcl", False, id="no-implicit-prefix-match"),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTION_CASES)
def test_action_matching(pattern: str, action: str, expected: bool) -> None:
    statement = identity(allow(Action=pattern, Resource="*")).statements[0]
    assert statement.matches_action(action) is expected


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTION_CASES)
def test_not_action_matches_everything_else(pattern: str, action: str, expected: bool) -> None:
    statement = identity(allow(NotAction=pattern, Resource="*")).statements[0]
    assert statement.matches_action(action) is not expected


def test_action_list_is_ored() -> None:
    statement = identity(allow(Action=["s3:GetObject", "codeartifact:List*"],
                               Resource="*")).statements[0]
    assert statement.matches_action("codeartifact:ListPackages")
    assert statement.matches_action("s3:getobject")
    assert not statement.matches_action("codeartifact:DeleteRepository")


# ---------------------------------------------------------------------------------------------
# Resource matching

PACKAGE = f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:package/my-domain/my-repo/pypi//requests"
BOB = {"aws:username": "bob"}

RESOURCE_CASES = [
    pytest.param("*", RESOURCE_ARN, {}, True, id="star"),
    pytest.param(RESOURCE_ARN, RESOURCE_ARN, {}, True, id="exact"),
    pytest.param(f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:repository/my-domain/*",
                 RESOURCE_ARN, {}, True, id="resource-part-star"),
    pytest.param(f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:package/my-domain/my-repo/*",
                 PACKAGE, {}, True, id="package-star-spans-slashes"),
    pytest.param(f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:package/my-domain/other/*",
                 PACKAGE, {}, False, id="other-repository"),
    pytest.param("arn:aws:codeartifact:*:*:repository/my-domain/my-repo", RESOURCE_ARN, {},
                 True, id="region-and-account-star"),
    pytest.param("arn:aws:codeartifact:us-east-?:*:repository/*", RESOURCE_ARN, {}, True,
                 id="question-mark-in-segment"),
    pytest.param(f"arn:aws:codeartifact:*:{ACCOUNT}:repository/*",
                 f"arn:aws:codeartifact:us-east-1:{OTHER}:repository/x:{ACCOUNT}:repository/y",
                 {}, False, id="star-does-not-span-colons"),
    pytest.param(RESOURCE_ARN.replace("codeartifact", "CodeArtifact"), RESOURCE_ARN, {}, False,
                 id="case-sensitive"),
    pytest.param(f"arn:aws:codeartifact:us-east-1:{ACCOUNT}:repository/my-domain/My-Repo",
                 RESOURCE_ARN, {}, False, id="case-sensitive-resource-part"),
    pytest.param("arn:aws:s3:::*log*", "arn:aws:s3:::carlossalazar-logs", {}, True,
                 id="doc-log-buckets"),
    pytest.param("arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar", {}, False,
                 id="bucket-star-needs-slash"),
    pytest.param("arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/bob/a.txt", BOB,
                 True, id="variable-in-resource-part"),
    pytest.param("arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/alice/a.txt", BOB,
                 False, id="variable-other-user"),
    pytest.param("arn:aws:s3:::home/${aws:username}/*", "arn:aws:s3:::home/bob/a.txt", {},
                 False, id="unresolvable-variable-matches-nothing"),
    pytest.param("arn:aws:s3:::home/${aws:username, 'guest'}/*",
                 "arn:aws:s3:::home/guest/a.txt", {}, True, id="variable-default"),
    pytest.param(f"arn:aws:sqs:us-east-2:{ACCOUNT}:${{aws:username}}-queue",
                 f"arn:aws:sqs:us-east-2:{ACCOUNT}:bob-queue", BOB, True,
                 id="doc-queue-per-user"),
    pytest.param("arn:aws:codeartifact:us-east-1:${aws:PrincipalAccount}:repository/*",
                 RESOURCE_ARN, {"aws:PrincipalAccount": ACCOUNT}, False,
                 id="no-variables-before-the-fifth-colon"),
    pytest.param("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*", {}, True, id="escaped-star"),
    pytest.param("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/x", {}, False,
                 id="escaped-star-is-literal"),
    pytest.param("*", "*", {}, True, id="star-matches-resourceless-request"),
    pytest.param(RESOURCE_ARN, "*", {}, False, id="arn-does-not-match-resourceless-request"),
]


@pytest.mark.parametrize(("pattern", "resource", "context", "expected"), RESOURCE_CASES)
def test_resource_matching(pattern: str, resource: str, context: dict[str, str],
                           expected: bool) -> None:
    statement = identity(allow(Action="*", Resource=pattern)).statements[0]
    assert statement.matches_resource(resource, RequestContext(context)) is expected


@pytest.mark.parametrize(("pattern", "resource", "context", "expected"), RESOURCE_CASES)
def test_not_resource_matches_everything_else(pattern: str, resource: str,
                                              context: dict[str, str], expected: bool) -> None:
    statement = identity(allow(Action="*", NotResource=pattern)).statements[0]
    assert statement.matches_resource(resource, RequestContext(context)) is not expected


def test_variables_are_literal_before_version_2012() -> None:
    literal = "arn:aws:s3:::home/${aws:username}/x"
    statement = identity(allow(Action="*", Resource=literal), version="2008-10-17").statements[0]
    assert statement.matches_resource(literal, RequestContext(BOB))
    assert not statement.matches_resource("arn:aws:s3:::home/bob/x", RequestContext(BOB))


def test_missing_version_disables_variables() -> None:
    statement = identity(allow(Action="*", Resource="arn:aws:s3:::${aws:username}"),
                         version=None).statements[0]
    assert not statement.matches_resource("arn:aws:s3:::bob", RequestContext(BOB))


def test_applies_needs_action_resource_and_conditions() -> None:
    statement = identity(allow(Action="s3:GetObject", Resource="arn:aws:s3:::b/*",
                               Condition={"Bool": {"aws:SecureTransport": "true"}})).statements[0]
    secure = RequestContext({"aws:SecureTransport": True})
    assert statement.applies("s3:GetObject", "arn:aws:s3:::b/k", secure)
    assert not statement.applies("s3:PutObject", "arn:aws:s3:::b/k", secure)
    assert not statement.applies("s3:GetObject", "arn:aws:s3:::c/k", secure)
    assert not statement.applies("s3:GetObject", "arn:aws:s3:::b/k",
                                 RequestContext({"aws:SecureTransport": False}))


# ---------------------------------------------------------------------------------------------
# Principal matching

ROOT = RequestPrincipal(arn=f"arn:aws:iam::{ACCOUNT}:root", type=PrincipalType.ROOT,
                        account=ACCOUNT)
USER = RequestPrincipal(arn=f"arn:aws:iam::{ACCOUNT}:user/bob", type=PrincipalType.USER,
                        account=ACCOUNT, user_id="AIDAJQABLZS4A3QDU576Q", username="bob")
SESSION = RequestPrincipal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-1",
                           type=PrincipalType.ASSUMED_ROLE, account=ACCOUNT,
                           user_id="AROADBQP57FF2AEXAMPLE:ci-run-1")
PATH_SESSION = RequestPrincipal(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-1", type=PrincipalType.ASSUMED_ROLE,
    account=ACCOUNT, source_arn=f"arn:aws:iam::{ACCOUNT}:role/teams/deploy")
FEDERATED = RequestPrincipal(arn=f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
                             type=PrincipalType.FEDERATED_USER, account=ACCOUNT)
STRANGER = RequestPrincipal(arn=f"arn:aws:iam::{OTHER}:user/eve", type=PrincipalType.USER,
                            account=OTHER)
ANONYMOUS = RequestPrincipal.anonymous()
SERVICE = RequestPrincipal.service("codeartifact.amazonaws.com")

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deploy"

PRINCIPAL_CASES = [
    pytest.param("*", USER, PrincipalMatch.DIRECT, id="star-user"),
    pytest.param("*", ANONYMOUS, PrincipalMatch.DIRECT, id="star-includes-anonymous"),
    pytest.param({"AWS": "*"}, ANONYMOUS, PrincipalMatch.DIRECT, id="aws-star-includes-anonymous"),
    pytest.param("*", SERVICE, PrincipalMatch.DIRECT, id="star-includes-services"),
    pytest.param({"AWS": ACCOUNT}, USER, PrincipalMatch.ACCOUNT, id="account-id-user"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, USER, PrincipalMatch.ACCOUNT,
                 id="root-arn-means-whole-account"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, SESSION, PrincipalMatch.ACCOUNT,
                 id="root-arn-includes-sessions"),
    pytest.param({"AWS": ACCOUNT}, ROOT, PrincipalMatch.ACCOUNT, id="account-id-root"),
    pytest.param({"AWS": OTHER}, USER, PrincipalMatch.NONE, id="other-account"),
    pytest.param({"AWS": ACCOUNT}, ANONYMOUS, PrincipalMatch.NONE, id="account-not-anonymous"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, USER, PrincipalMatch.DIRECT,
                 id="user-arn"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, USER, PrincipalMatch.NONE,
                 id="other-user-arn"),
    pytest.param({"AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT]}, USER,
                 PrincipalMatch.ACCOUNT, id="list-best-match"),
    pytest.param({"AWS": ["AIDAJQABLZS4A3QDU576Q"]}, USER, PrincipalMatch.DIRECT,
                 id="user-unique-id"),
    pytest.param({"AWS": ROLE_ARN}, SESSION, PrincipalMatch.SESSION_ISSUER,
                 id="role-arn-matches-its-sessions"),
    pytest.param({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-1"}, SESSION,
                 PrincipalMatch.DIRECT, id="session-arn"),
    pytest.param({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-2"}, SESSION,
                 PrincipalMatch.NONE, id="other-session-of-role"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}, SESSION, PrincipalMatch.NONE,
                 id="other-role"),
    pytest.param({"AWS": "AROADBQP57FF2AEXAMPLE"}, SESSION, PrincipalMatch.SESSION_ISSUER,
                 id="role-unique-id"),
    pytest.param({"AWS": ROLE_ARN}, PATH_SESSION, PrincipalMatch.NONE,
                 id="role-path-differs-from-source-arn"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:role/teams/deploy"}, PATH_SESSION,
                 PrincipalMatch.SESSION_ISSUER, id="role-with-path"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, FEDERATED,
                 PrincipalMatch.SESSION_ISSUER, id="user-arn-matches-federated-session"),
    pytest.param({"AWS": f"arn:aws:sts::{ACCOUNT}:federated-user/bob"}, FEDERATED,
                 PrincipalMatch.DIRECT, id="federated-user-arn"),
    pytest.param({"Service": "codeartifact.amazonaws.com"}, SERVICE, PrincipalMatch.DIRECT,
                 id="service"),
    pytest.param({"Service": ["CodeArtifact.amazonaws.com"]}, SERVICE, PrincipalMatch.DIRECT,
                 id="service-ignores-case"),
    pytest.param({"Service": "s3.amazonaws.com"}, SERVICE, PrincipalMatch.NONE,
                 id="other-service"),
    pytest.param({"Service": "codeartifact.amazonaws.com"}, USER, PrincipalMatch.NONE,
                 id="service-is-not-a-user"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, ANONYMOUS, PrincipalMatch.NONE,
                 id="user-arn-not-anonymous"),
    pytest.param({"Federated": "cognito-identity.amazonaws.com"}, USER, PrincipalMatch.NONE,
                 id="federated-provider-never-matches-iam-callers"),
    pytest.param({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
                 USER, PrincipalMatch.NONE, id="canonical-user-never-matches"),
]


@pytest.mark.parametrize(("element", "principal", "expected"), PRINCIPAL_CASES)
def test_principal_matching(element: Any, principal: RequestPrincipal,
                            expected: PrincipalMatch) -> None:
    assert resource_statement(element).principal_match(principal) is expected


# Which principals a NotPrincipal element spares: only those whose own identity it lists (the
# caller's ARN or unique id, or the role behind a session); an account entry spares the account
# principal (root) alone. Cases as PRINCIPAL_CASES: (element, caller, spared).
NOT_PRINCIPAL_CASES = [
    pytest.param("*", USER, True, id="star-spares-everyone"),
    pytest.param("*", ANONYMOUS, True, id="star-spares-anonymous"),
    pytest.param({"AWS": ACCOUNT}, USER, False, id="account-id-does-not-spare-users"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, USER, False,
                 id="root-arn-does-not-spare-users"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, SESSION, False,
                 id="root-arn-does-not-spare-sessions"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ROOT, True, id="root-arn-spares-root"),
    pytest.param({"AWS": ACCOUNT}, ROOT, True, id="account-id-spares-root"),
    pytest.param({"AWS": OTHER}, ROOT, False, id="other-account-does-not-spare-root"),
    pytest.param({"AWS": ACCOUNT}, ANONYMOUS, False, id="account-does-not-spare-anonymous"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, USER, True, id="user-arn"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, USER, False,
                 id="other-user-arn"),
    pytest.param({"AWS": [f"arn:aws:iam::{ACCOUNT}:user/bob", f"arn:aws:iam::{ACCOUNT}:root"]},
                 USER, True, id="user-and-account-spares-the-user"),
    pytest.param({"AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT]}, USER, False,
                 id="other-user-and-account-does-not-spare"),
    pytest.param({"AWS": ["AIDAJQABLZS4A3QDU576Q"]}, USER, True, id="user-unique-id"),
    pytest.param({"AWS": ROLE_ARN}, SESSION, True, id="role-arn-spares-its-sessions"),
    pytest.param({"AWS": "AROADBQP57FF2AEXAMPLE"}, SESSION, True, id="role-unique-id"),
    pytest.param({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-1"}, SESSION,
                 True, id="session-arn"),
    pytest.param({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-2"}, SESSION,
                 False, id="other-session-of-role"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}, SESSION, False,
                 id="other-role"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, FEDERATED, True,
                 id="user-arn-spares-its-federated-session"),
    pytest.param({"Service": "codeartifact.amazonaws.com"}, SERVICE, True, id="service"),
    pytest.param({"Service": "s3.amazonaws.com"}, SERVICE, False, id="other-service"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, ANONYMOUS, False,
                 id="user-arn-does-not-spare-anonymous"),
]


@pytest.mark.parametrize(("element", "principal", "spared"), NOT_PRINCIPAL_CASES)
def test_not_principal_applies_to_everyone_not_spared(element: Any, principal: RequestPrincipal,
                                                      spared: bool) -> None:
    statement = resource_statement(element, not_principal=True)
    expected = PrincipalMatch.NONE if spared else PrincipalMatch.DIRECT
    assert statement.principal_match(principal) is expected


def test_deny_notprincipal_listing_account_root_still_denies_other_users() -> None:
    # The IAM User Guide's own example: deny everyone but Bob.
    statement = resource_statement(
        {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/bob", f"arn:aws:iam::{ACCOUNT}:root"]},
        not_principal=True)
    alice = RequestPrincipal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", type=PrincipalType.USER,
                             account=ACCOUNT, user_id="AIDAALICEALICEALICE1")
    assert statement.principal_match(alice) is PrincipalMatch.DIRECT
    assert statement.principal_match(SESSION) is PrincipalMatch.DIRECT
    assert statement.principal_match(USER) is PrincipalMatch.NONE


# ---------------------------------------------------------------------------------------------
# Where NotPrincipal is refused ("AWS JSON policy elements: NotPrincipal")

ALLOW_NOT_PRINCIPAL = {"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": ACCOUNT},
                                     "Action": "codeartifact:*", "Resource": "*"}}
DENY_NOT_PRINCIPAL = {"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": ACCOUNT},
                                    "Action": "sts:AssumeRole"}}


def test_allow_with_notprincipal_is_refused() -> None:
    with pytest.raises(Invalid) as error:
        parse_policy(ALLOW_NOT_PRINCIPAL, kind=PolicyKind.RESOURCE)
    assert error.value.message == (
        'Policy statement 1: NotPrincipal must be used with "Effect": "Deny"; with Allow it '
        "would grant every other principal, anonymous callers included")


@pytest.mark.parametrize("document", [ALLOW_NOT_PRINCIPAL, DENY_NOT_PRINCIPAL],
                         ids=["allow", "deny"])
def test_notprincipal_in_a_role_trust_policy_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(Invalid) as error:
        parse_policy(document, kind=PolicyKind.RESOURCE, role_trust=True)
    assert error.value.message == (
        "Policy statement 1: NotPrincipal cannot be used in a role trust policy; name who may "
        "assume the role in Principal")


@pytest.mark.parametrize("role_trust", [False, True], ids=["resource-policy", "trust-policy"])
def test_stored_allow_with_notprincipal_is_kept_but_grants_nothing(role_trust: bool) -> None:
    policy = parse_policy(ALLOW_NOT_PRINCIPAL, kind=PolicyKind.RESOURCE, stored=True,
                          role_trust=role_trust)
    [statement] = policy.ignored_statements
    assert statement.ignored is not None and "NotPrincipal" in statement.ignored
    for caller in (USER, STRANGER, ANONYMOUS, ROOT):
        assert statement.principal_match(caller) is PrincipalMatch.NONE


def test_stored_trust_policy_deny_with_notprincipal_keeps_denying() -> None:
    policy = parse_policy(DENY_NOT_PRINCIPAL, kind=PolicyKind.RESOURCE, stored=True,
                          role_trust=True)
    assert policy.ignored_statements == ()
    assert policy.statements[0].principal_match(STRANGER) is PrincipalMatch.DIRECT


def test_identity_statement_names_its_holder() -> None:
    statement = identity(allow(Action="*", Resource="*")).statements[0]
    assert statement.principal_match(STRANGER) is PrincipalMatch.DIRECT


SESSION_ISSUERS = [
    pytest.param(SESSION, ROLE_ARN, id="assumed-role"),
    pytest.param(PATH_SESSION, f"arn:aws:iam::{ACCOUNT}:role/teams/deploy", id="given-source"),
    pytest.param(FEDERATED, f"arn:aws:iam::{ACCOUNT}:user/bob", id="federated-user"),
    pytest.param(USER, None, id="user-has-none"),
    pytest.param(RequestPrincipal(arn="garbage", type=PrincipalType.ASSUMED_ROLE), None,
                 id="malformed-session-arn"),
]


@pytest.mark.parametrize(("principal", "expected"), SESSION_ISSUERS)
def test_session_issuer_arn(principal: RequestPrincipal, expected: str | None) -> None:
    assert principal.session_issuer_arn == expected
