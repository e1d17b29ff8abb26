"""The authorization decision: explicit/implicit deny, same- and cross-account, root, anonymous.

Scenarios come from the IAM User Guide ("Policy evaluation logic", "Cross-account policy
evaluation logic", "NotPrincipal") and the CodeArtifact User Guide's tutorial policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from packyard.policy.conditions import ContextInput
from packyard.policy.document import (
    Effect,
    Policy,
    PolicyKind,
    PrincipalType,
    RequestPrincipal,
    parse_policy,
)
from packyard.policy.evaluation import (
    AuthzRequest,
    Decision,
    DecisionReason,
    StatementRef,
    denial_message,
    evaluate,
    principal_context,
)
from packyard.policy.wildcards import glob_regex

ACCOUNT = "123456789012"
OTHER = "444455556666"
REGION = "us-east-1"
DOMAIN_ARN = f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:domain/my-domain"
REPO_ARN = f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/my-domain/my-repo"
OTHER_REPO_ARN = f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/my-domain/other-repo"
PACKAGE_ARN = (f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:package/my-domain/my-repo/pypi//"
               "requests")
OTHER_PACKAGE_ARN = (f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:package/my-domain/other-repo/"
                     "pypi//requests")


def user(name: str, account: str = ACCOUNT) -> RequestPrincipal:
    return RequestPrincipal(arn=f"arn:aws:iam::{account}:user/{name}", type=PrincipalType.USER,
                            account=account, user_id=f"AIDA{name.upper():0<17}"[:21])


def root(account: str = ACCOUNT) -> RequestPrincipal:
    return RequestPrincipal(arn=f"arn:aws:iam::{account}:root", type=PrincipalType.ROOT,
                            account=account)


def session(role: str, name: str, account: str = ACCOUNT) -> RequestPrincipal:
    return RequestPrincipal(arn=f"arn:aws:sts::{account}:assumed-role/{role}/{name}",
                            type=PrincipalType.ASSUMED_ROLE, account=account,
                            user_id=f"AROAEXAMPLEROLEID1234:{name}")


TEST_USER = user("test-user")
ALICE = user("alice")
FOREIGN_USER = user("test-user", OTHER)
DEPLOY_SESSION = session("deploy", "ci-run-1")
ANONYMOUS = RequestPrincipal.anonymous()
SERVICE = RequestPrincipal.service("codeartifact.amazonaws.com")


def identity_policy(*statements: dict[str, Any], name: str = "identity") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)},
                        kind=PolicyKind.IDENTITY, name=name)


def resource_policy(*statements: dict[str, Any], name: str = "resource") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)},
                        kind=PolicyKind.RESOURCE, name=name)


def request(principal: RequestPrincipal, action: str, resource: str = REPO_ARN,
            resource_account: str | None = ACCOUNT, /,
            **context: ContextInput) -> AuthzRequest:
    return AuthzRequest(principal=principal, action=action, resource=resource,
                        resource_account=resource_account, context=context)


# ---------------------------------------------------------------------------------------------
# The CodeArtifact tutorial's policies

DOMAIN_POLICY = resource_policy({
    "Sid": "BasicDomainPolicy",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/test-user"},
    "Action": ["codeartifact:GetAuthorizationToken", "codeartifact:CreateRepository",
               "codeartifact:DescribeDomain", "codeartifact:GetDomainPermissionsPolicy",
               "codeartifact:ListRepositoriesInDomain", "sts:GetServiceBearerToken"],
    "Resource": "*",
}, name="domain policy")

REPOSITORY_POLICY = resource_policy(
    {
        "Sid": "PublishPackages",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/test-user"},
        "Action": ["codeartifact:PublishPackageVersion", "codeartifact:PutPackageMetadata"],
        "Resource": f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:package/my-domain/my-repo/*",
    },
    {
        "Sid": "InstallPackages",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/test-user"},
        "Action": ["codeartifact:ReadFromRepository", "codeartifact:DescribePackageVersion",
                   "codeartifact:DescribeRepository", "codeartifact:GetPackageVersionReadme",
                   "codeartifact:GetRepositoryEndpoint", "codeartifact:ListPackageVersionAssets",
                   "codeartifact:ListPackageVersionDependencies",
                   "codeartifact:ListPackageVersions", "codeartifact:ListPackages"],
        "Resource": "*",
    },
    name="repository policy")

BEARER_TOKEN_POLICY = identity_policy({
    "Effect": "Allow",
    "Action": "sts:GetServiceBearerToken",
    "Resource": "*",
    "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
}, name="bearer token policy")

CODEARTIFACT_ADMIN = identity_policy(
    {"Action": ["codeartifact:*"], "Effect": "Allow", "Resource": "*"},
    {"Effect": "Allow", "Action": "sts:GetServiceBearerToken", "Resource": "*",
     "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}},
    name="AWSCodeArtifactAdminAccess")


@dataclass(frozen=True)
class Scenario:
    request: AuthzRequest
    identity: Sequence[Policy] = ()
    resource: Sequence[Policy] = ()
    allowed: bool = False
    reason: DecisionReason = DecisionReason.IMPLICIT_DENY
    statement_ids: tuple[str, ...] = field(default=())


def scenario(id: str, request: AuthzRequest, *, identity: Sequence[Policy] = (),
             resource: Sequence[Policy] = (), reason: DecisionReason,
             statement_ids: tuple[str, ...] = ()) -> Any:
    return pytest.param(Scenario(request, identity, resource,
                                 reason is DecisionReason.ALLOWED, reason, statement_ids),
                        id=id)


ALLOWED = DecisionReason.ALLOWED
EXPLICIT = DecisionReason.EXPLICIT_DENY
IMPLICIT = DecisionReason.IMPLICIT_DENY

CODEARTIFACT_TUTORIAL = [
    scenario("tutorial-domain-policy-grants-token", request(
        TEST_USER, "codeartifact:GetAuthorizationToken", DOMAIN_ARN),
        resource=[DOMAIN_POLICY], reason=ALLOWED, statement_ids=("BasicDomainPolicy",)),
    scenario("tutorial-domain-policy-grants-create-repository", request(
        TEST_USER, "codeartifact:CreateRepository", DOMAIN_ARN),
        resource=[DOMAIN_POLICY], reason=ALLOWED),
    scenario("tutorial-domain-policy-not-delete-domain", request(
        TEST_USER, "codeartifact:DeleteDomain", DOMAIN_ARN),
        resource=[DOMAIN_POLICY], reason=IMPLICIT),
    scenario("tutorial-domain-policy-only-test-user", request(
        ALICE, "codeartifact:GetAuthorizationToken", DOMAIN_ARN),
        resource=[DOMAIN_POLICY], reason=IMPLICIT),
    scenario("tutorial-install", request(TEST_USER, "codeartifact:ReadFromRepository"),
             resource=[REPOSITORY_POLICY], reason=ALLOWED, statement_ids=("InstallPackages",)),
    scenario("tutorial-install-action-ignores-case", request(
        TEST_USER, "CODEARTIFACT:readfromrepository"),
        resource=[REPOSITORY_POLICY], reason=ALLOWED),
    scenario("tutorial-publish-in-repository", request(
        TEST_USER, "codeartifact:PublishPackageVersion", PACKAGE_ARN),
        resource=[REPOSITORY_POLICY], reason=ALLOWED, statement_ids=("PublishPackages",)),
    scenario("tutorial-publish-other-repository-package", request(
        TEST_USER, "codeartifact:PublishPackageVersion", OTHER_PACKAGE_ARN),
        resource=[REPOSITORY_POLICY], reason=IMPLICIT),
    scenario("tutorial-delete-repository-not-granted", request(
        TEST_USER, "codeartifact:DeleteRepository"),
        resource=[REPOSITORY_POLICY], reason=IMPLICIT),
    scenario("tutorial-other-user-cannot-install", request(
        ALICE, "codeartifact:ReadFromRepository"),
        resource=[REPOSITORY_POLICY], reason=IMPLICIT),
    scenario("tutorial-bearer-token", request(
        TEST_USER, "sts:GetServiceBearerToken", "*", None,
        **{"sts:AWSServiceName": "codeartifact.amazonaws.com"}),
        identity=[BEARER_TOKEN_POLICY], reason=ALLOWED,
        statement_ids=("bearer token policy statement 1",)),
    scenario("tutorial-bearer-token-other-service", request(
        TEST_USER, "sts:GetServiceBearerToken", "*", None,
        **{"sts:AWSServiceName": "s3.amazonaws.com"}),
        identity=[BEARER_TOKEN_POLICY], reason=IMPLICIT),
    scenario("tutorial-bearer-token-without-service-name", request(
        TEST_USER, "sts:GetServiceBearerToken", "*", None),
        identity=[BEARER_TOKEN_POLICY], reason=IMPLICIT),
    scenario("tutorial-admin-policy-any-repository", request(
        ALICE, "codeartifact:DeleteRepository", OTHER_REPO_ARN),
        identity=[CODEARTIFACT_ADMIN], resource=[REPOSITORY_POLICY], reason=ALLOWED),
    scenario("tutorial-cross-account-user-needs-identity-policy", request(
        FOREIGN_USER, "codeartifact:ReadFromRepository"),
        resource=[resource_policy({"Effect": "Allow", "Principal": {"AWS": OTHER},
                                   "Action": "codeartifact:ReadFromRepository",
                                   "Resource": "*"})], reason=IMPLICIT),
    scenario("tutorial-cross-account-user-with-identity-policy", request(
        FOREIGN_USER, "codeartifact:ReadFromRepository"),
        identity=[CODEARTIFACT_ADMIN],
        resource=[resource_policy({"Effect": "Allow", "Principal": {"AWS": OTHER},
                                   "Action": "codeartifact:ReadFromRepository",
                                   "Resource": "*"})], reason=ALLOWED),
]

# "Policy evaluation logic": Carlos's user policy and his bucket's policy.
CARLOS = RequestPrincipal(arn=f"arn:aws:iam::{ACCOUNT}:user/carlossalazar",
                          type=PrincipalType.USER, account=ACCOUNT)
CARLOS_POLICY = identity_policy(
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints",
                "s3:ListAllMyBuckets"],
     "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)
CARLOS_BUCKET_POLICY = resource_policy({
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"},
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
})

# "The difference between explicit and implicit denies".
GET_LIST_POLICY = identity_policy(
    {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"],
     "Resource": "*"},
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
)

IAM_DOC_EXAMPLES = [
    scenario("doc-carlos-logs-bucket-explicit-deny", request(
        CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/file.txt"),
        identity=[CARLOS_POLICY], resource=[CARLOS_BUCKET_POLICY], reason=EXPLICIT,
        statement_ids=("DenyS3Logs",)),
    scenario("doc-carlos-own-bucket-allowed", request(
        CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/file.txt"),
        identity=[CARLOS_POLICY], resource=[CARLOS_BUCKET_POLICY], reason=ALLOWED,
        statement_ids=("AllowS3Self", "resource statement 1")),
    scenario("doc-carlos-either-policy-suffices-resource", request(
        CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/file.txt"),
        resource=[CARLOS_BUCKET_POLICY], reason=ALLOWED),
    scenario("doc-carlos-either-policy-suffices-identity", request(
        CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/file.txt"),
        identity=[CARLOS_POLICY], reason=ALLOWED),
    scenario("doc-carlos-other-bucket-implicit", request(
        CARLOS, "s3:PutObject", "arn:aws:s3:::someone-else/file.txt"),
        identity=[CARLOS_POLICY], resource=[CARLOS_BUCKET_POLICY], reason=IMPLICIT),
    scenario("doc-get-list-allowed", request(ALICE, "iam:GetUser", "*", None),
             identity=[GET_LIST_POLICY], reason=ALLOWED, statement_ids=("AllowGetList",)),
    scenario("doc-report-explicitly-denied", request(
        ALICE, "iam:GetOrganizationsAccessReport", "*", None),
        identity=[GET_LIST_POLICY], reason=EXPLICIT, statement_ids=("DenyReports",)),
    scenario("doc-create-policy-implicitly-denied", request(
        ALICE, "iam:CreatePolicy", "*", None), identity=[GET_LIST_POLICY], reason=IMPLICIT),
    scenario("doc-deny-beats-allow-from-another-policy", request(
        ALICE, "iam:GenerateCredentialReport", "*", None),
        identity=[GET_LIST_POLICY, identity_policy({"Effect": "Allow", "Action": "iam:*",
                                                     "Resource": "*"})],
        reason=EXPLICIT, statement_ids=("DenyReports",)),
    scenario("no-policies-implicit-deny", request(ALICE, "codeartifact:ListPackages"),
             reason=IMPLICIT),
]


def allow_read(principal: Any, **extra: Any) -> Policy:
    return resource_policy({"Effect": "Allow", "Principal": principal,
                            "Action": "codeartifact:ReadFromRepository", "Resource": "*",
                            **extra})


def deny_read(principal: Any, **extra: Any) -> Policy:
    return resource_policy({"Sid": "DenyRead", "Effect": "Deny", "Principal": principal,
                            "Action": "codeartifact:ReadFromRepository", "Resource": "*",
                            **extra})


READ_IDENTITY = identity_policy({"Sid": "Read", "Effect": "Allow",
                                 "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
DENY_IDENTITY = identity_policy({"Sid": "NoRead", "Effect": "Deny",
                                 "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
READ = "codeartifact:ReadFromRepository"

SAME_ACCOUNT = [
    scenario("same-account-resource-policy-names-user", request(ALICE, READ),
             resource=[allow_read({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"})],
             reason=ALLOWED),
    scenario("same-account-resource-policy-star", request(ALICE, READ),
             resource=[allow_read("*")], reason=ALLOWED),
    scenario("same-account-account-principal-delegates-to-identity", request(ALICE, READ),
             resource=[allow_read({"AWS": ACCOUNT})], reason=IMPLICIT),
    scenario("same-account-account-principal-plus-identity", request(ALICE, READ),
             identity=[READ_IDENTITY], resource=[allow_read({"AWS": ACCOUNT})],
             reason=ALLOWED, statement_ids=("Read",)),
    scenario("same-account-identity-only", request(ALICE, READ), identity=[READ_IDENTITY],
             reason=ALLOWED, statement_ids=("Read",)),
    scenario("same-account-resource-deny-beats-identity-allow", request(ALICE, READ),
             identity=[READ_IDENTITY],
             resource=[deny_read({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"})],
             reason=EXPLICIT, statement_ids=("DenyRead",)),
    scenario("same-account-identity-deny-beats-resource-allow", request(ALICE, READ),
             identity=[DENY_IDENTITY], resource=[allow_read("*")], reason=EXPLICIT,
             statement_ids=("NoRead",)),
    scenario("account-level-deny-covers-every-user", request(ALICE, READ),
             identity=[READ_IDENTITY], resource=[deny_read({"AWS": ACCOUNT})],
             reason=EXPLICIT),
    scenario("deny-for-other-user-does-not-apply", request(ALICE, READ),
             identity=[READ_IDENTITY],
             resource=[deny_read({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"})],
             reason=ALLOWED),
    scenario("resource-deny-with-false-condition-does-not-apply", request(
        ALICE, READ, **{"aws:SecureTransport": True}),
        identity=[READ_IDENTITY],
        resource=[deny_read("*", Condition={"Bool": {"aws:SecureTransport": "false"}})],
        reason=ALLOWED),
    scenario("resource-deny-when-not-tls", request(
        ALICE, READ, **{"aws:SecureTransport": False}),
        identity=[READ_IDENTITY],
        resource=[deny_read("*", Condition={"Bool": {"aws:SecureTransport": "false"}})],
        reason=EXPLICIT),
    scenario("role-arn-grants-its-sessions", request(DEPLOY_SESSION, READ),
             resource=[allow_read({"AWS": f"arn:aws:iam::{ACCOUNT}:role/deploy"})],
             reason=ALLOWED),
    scenario("session-arn-grants-that-session", request(DEPLOY_SESSION, READ),
             resource=[allow_read({"AWS": DEPLOY_SESSION.arn})], reason=ALLOWED),
    scenario("other-session-arn-does-not-grant", request(DEPLOY_SESSION, READ),
             resource=[allow_read(
                 {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-2"})],
             reason=IMPLICIT),
    scenario("role-arn-deny-covers-its-sessions", request(DEPLOY_SESSION, READ),
             identity=[READ_IDENTITY],
             resource=[deny_read({"AWS": f"arn:aws:iam::{ACCOUNT}:role/deploy"})],
             reason=EXPLICIT),
    scenario("principal-arn-condition-sees-role-for-session", request(DEPLOY_SESSION, READ),
             resource=[allow_read("*", Condition={"ArnEquals": {
                 "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/deploy"}})],
             reason=ALLOWED),
    scenario("resourceless-request-is-same-account", request(
        ALICE, "codeartifact:ListDomains", "*", None),
        identity=[CODEARTIFACT_ADMIN], reason=ALLOWED),
]

# NotPrincipal with Deny, from "AWS JSON policy elements: NotPrincipal".
BOB = user("Bob", OTHER)
NOT_BOB = resource_policy(
    {"Sid": "DenyAllButBob", "Effect": "Deny",
     "NotPrincipal": {"AWS": [f"arn:aws:iam::{OTHER}:user/Bob", f"arn:aws:iam::{OTHER}:root"]},
     "Action": "codeartifact:*", "Resource": "*"},
    {"Sid": "AllowOther", "Effect": "Allow", "Principal": {"AWS": OTHER},
     "Action": "codeartifact:*", "Resource": "*"})
NOT_AUDIT_SESSION = resource_policy({
    "Sid": "DenyAllButAudit", "Effect": "Deny",
    "NotPrincipal": {"AWS": [
        f"arn:aws:sts::{OTHER}:assumed-role/cross-account-read-only-role/cross-account-audit-app"]},
    "Action": "codeartifact:*", "Resource": "*"})

NOT_ROLE = resource_policy({
    "Sid": "DenyAllButTheRole", "Effect": "Deny",
    "NotPrincipal": {"AWS": [f"arn:aws:iam::{OTHER}:role/cross-account-read-only-role"]},
    "Action": "codeartifact:*", "Resource": "*"})
# Documents an older Packyard accepted; today's put refuses them (test_iam_policy.py).
STORED_ALLOW_NOT_PRINCIPAL = parse_policy(
    {"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": READ,
                   "Resource": "*"}}, kind=PolicyKind.RESOURCE, stored=True)
STORED_ALLOW_NOT_PRINCIPAL_AND_ALICE = parse_policy(
    {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": READ},
                   {"Sid": "Alice", "Effect": "Allow", "Principal": {"AWS": ALICE.arn},
                    "Action": READ}]}, kind=PolicyKind.RESOURCE, stored=True)

NOT_PRINCIPAL = [
    scenario("not-principal-deny-spares-bob", request(BOB, READ),
             identity=[CODEARTIFACT_ADMIN], resource=[NOT_BOB], reason=ALLOWED,
             statement_ids=("AWSCodeArtifactAdminAccess statement 1", "AllowOther")),
    scenario("deny_notprincipal_listing_account_root_still_denies_bobs_colleagues", request(
        user("carol", OTHER), READ), identity=[CODEARTIFACT_ADMIN], resource=[NOT_BOB],
        reason=EXPLICIT, statement_ids=("DenyAllButBob",)),
    scenario("deny_notprincipal_listing_account_root_spares_that_root", request(
        root(OTHER), READ), resource=[NOT_BOB], reason=ALLOWED),
    scenario("deny_notprincipal_listing_the_role_spares_its_sessions", request(
        session("cross-account-read-only-role", "any-app", OTHER), READ),
        identity=[CODEARTIFACT_ADMIN], resource=[NOT_ROLE, allow_read({"AWS": OTHER})],
        reason=ALLOWED),
    scenario("not-principal-deny-hits-everyone-else", request(ALICE, READ),
             identity=[CODEARTIFACT_ADMIN], resource=[NOT_BOB], reason=EXPLICIT,
             statement_ids=("DenyAllButBob",)),
    scenario("not-principal-deny-hits-anonymous", request(ANONYMOUS, READ),
             resource=[NOT_BOB, allow_read("*")], reason=EXPLICIT),
    scenario("not-principal-session-only-denies-the-role-itself", request(
        session("cross-account-read-only-role", "other-app", OTHER), READ),
        identity=[CODEARTIFACT_ADMIN], resource=[NOT_AUDIT_SESSION, allow_read({"AWS": OTHER})],
        reason=EXPLICIT),
    scenario("not-principal-session-spares-that-session", request(
        session("cross-account-read-only-role", "cross-account-audit-app", OTHER), READ),
        identity=[CODEARTIFACT_ADMIN], resource=[NOT_AUDIT_SESSION, allow_read({"AWS": OTHER})],
        reason=ALLOWED),
    scenario("stored_allow_notprincipal_grants_nothing", request(ALICE, READ),
             resource=[STORED_ALLOW_NOT_PRINCIPAL], reason=IMPLICIT),
    scenario("stored_allow_notprincipal_grants_nothing_to_anonymous", request(ANONYMOUS, READ),
             resource=[STORED_ALLOW_NOT_PRINCIPAL], reason=IMPLICIT),
    scenario("stored_allow_notprincipal_leaves_the_documents_other_statements", request(
        ALICE, READ), resource=[STORED_ALLOW_NOT_PRINCIPAL_AND_ALICE], reason=ALLOWED,
        statement_ids=("Alice",)),
]

CROSS_ACCOUNT = [
    scenario("cross-account-identity-only", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY], reason=IMPLICIT, statement_ids=("Read",)),
    scenario("cross-account-resource-only", request(FOREIGN_USER, READ),
             resource=[allow_read({"AWS": FOREIGN_USER.arn})], reason=IMPLICIT,
             statement_ids=("resource statement 1",)),
    scenario("cross-account-both-user-arn", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY], resource=[allow_read({"AWS": FOREIGN_USER.arn})],
             reason=ALLOWED),
    scenario("cross-account-both-account-principal", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY], resource=[allow_read({"AWS": OTHER})], reason=ALLOWED),
    scenario("cross-account-both-root-arn-principal", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY],
             resource=[allow_read({"AWS": f"arn:aws:iam::{OTHER}:root"})], reason=ALLOWED),
    scenario("cross-account-star-still-needs-identity", request(FOREIGN_USER, READ),
             resource=[allow_read("*")], reason=IMPLICIT),
    scenario("cross-account-star-and-identity", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY], resource=[allow_read("*")], reason=ALLOWED),
    scenario("cross-account-resource-names-wrong-account", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY], resource=[allow_read({"AWS": ACCOUNT})],
             reason=IMPLICIT),
    scenario("cross-account-identity-deny", request(FOREIGN_USER, READ),
             identity=[READ_IDENTITY, DENY_IDENTITY], resource=[allow_read({"AWS": OTHER})],
             reason=EXPLICIT, statement_ids=("NoRead",)),
    scenario("cross-account-resource-policy-condition-on-principal-account", request(
        FOREIGN_USER, READ), identity=[READ_IDENTITY],
        resource=[allow_read("*", Condition={"StringEquals": {"aws:PrincipalAccount": OTHER}})],
        reason=ALLOWED),
]

ROOT_ANONYMOUS_SERVICE = [
    scenario("root-needs-no-policy-in-own-account", request(root(), READ), reason=ALLOWED),
    scenario("root-ignores-identity-policies", request(root(), READ),
             identity=[DENY_IDENTITY], reason=ALLOWED),
    scenario("root-denied-by-resource-policy", request(root(), READ),
             resource=[deny_read({"AWS": ACCOUNT})], reason=EXPLICIT,
             statement_ids=("DenyRead",)),
    scenario("root-denied-by-star-resource-policy", request(root(), READ),
             resource=[deny_read("*")], reason=EXPLICIT),
    scenario("root-cross-account-needs-resource-policy", request(root(OTHER), READ),
             reason=IMPLICIT),
    scenario("root-cross-account-with-resource-policy", request(root(OTHER), READ),
             resource=[allow_read({"AWS": OTHER})], reason=ALLOWED),
    scenario("anonymous-allowed-by-star", request(ANONYMOUS, READ),
             resource=[allow_read("*")], reason=ALLOWED),
    scenario("anonymous-allowed-by-aws-star", request(ANONYMOUS, READ),
             resource=[allow_read({"AWS": "*"})], reason=ALLOWED),
    scenario("anonymous-not-an-account-member", request(ANONYMOUS, READ),
             resource=[allow_read({"AWS": ACCOUNT})], reason=IMPLICIT),
    scenario("anonymous-ignores-identity-policies", request(ANONYMOUS, READ),
             identity=[READ_IDENTITY], reason=IMPLICIT),
    scenario("anonymous-denied-by-star", request(ANONYMOUS, READ),
             resource=[allow_read("*"), deny_read("*")], reason=EXPLICIT),
    scenario("service-allowed-by-service-principal", request(SERVICE, READ),
             resource=[allow_read({"Service": "codeartifact.amazonaws.com"})], reason=ALLOWED),
    scenario("service-not-named", request(SERVICE, READ),
             resource=[allow_read({"Service": "s3.amazonaws.com"})], reason=IMPLICIT),
]

VARIABLES_AND_CONTEXT = [
    scenario("username-variable-from-principal", request(
        ALICE, READ, f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/my-domain/alice"),
        identity=[identity_policy({"Effect": "Allow", "Action": READ, "Resource":
                                   f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/"
                                   "my-domain/${aws:username}"})],
        reason=ALLOWED),
    scenario("username-variable-other-repository", request(ALICE, READ),
             identity=[identity_policy({"Effect": "Allow", "Action": READ, "Resource":
                                        f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/"
                                        "my-domain/${aws:username}"})],
             reason=IMPLICIT),
    scenario("username-variable-unresolvable-for-sessions", request(
        DEPLOY_SESSION, READ, f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/my-domain/"),
        identity=[identity_policy({"Effect": "Allow", "Action": READ, "Resource":
                                   f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/"
                                   "my-domain/${aws:username}"})],
        reason=IMPLICIT),
    scenario("principal-type-condition", request(root(), READ, **{"x:y": "z"}),
             resource=[deny_read("*", Condition={"StringEquals": {
                 "aws:PrincipalType": "Account"}})], reason=EXPLICIT),
    scenario("resource-account-condition", request(ALICE, READ),
             identity=[identity_policy({"Effect": "Allow", "Action": READ, "Resource": "*",
                                        "Condition": {"StringEquals": {
                                            "aws:ResourceAccount": "${aws:PrincipalAccount}"}}})],
             reason=ALLOWED),
    scenario("source-ip-condition", request(ALICE, READ, **{"aws:SourceIp": "203.0.113.9"}),
             identity=[identity_policy({"Effect": "Allow", "Action": READ, "Resource": "*",
                                        "Condition": {"IpAddress": {
                                            "aws:SourceIp": "203.0.113.0/24"}}})],
             reason=ALLOWED),
    scenario("source-ip-condition-outside", request(ALICE, READ, **{"aws:SourceIp": "8.8.8.8"}),
             identity=[identity_policy({"Effect": "Allow", "Action": READ, "Resource": "*",
                                        "Condition": {"IpAddress": {
                                            "aws:SourceIp": "203.0.113.0/24"}}})],
             reason=IMPLICIT),
    scenario("service-key-condition", request(
        ALICE, "codeartifact:ListPackages", **{"codeartifact:ResourceTag/team": "blue"}),
        identity=[identity_policy({"Effect": "Allow", "Action": "codeartifact:List*",
                                   "Resource": "*", "Condition": {"StringEquals": {
                                       "codeartifact:ResourceTag/team": "blue"}}})],
        reason=ALLOWED),
]


@pytest.mark.parametrize("case", CODEARTIFACT_TUTORIAL + IAM_DOC_EXAMPLES + SAME_ACCOUNT
                         + NOT_PRINCIPAL + CROSS_ACCOUNT + ROOT_ANONYMOUS_SERVICE
                         + VARIABLES_AND_CONTEXT)
def test_decision(case: Scenario) -> None:
    decision = evaluate(case.request, case.identity, case.resource)
    assert (decision.allowed, decision.reason) == (case.allowed, case.reason)
    if case.statement_ids:
        assert decision.statement_ids == case.statement_ids


# ---------------------------------------------------------------------------------------------
# Decision details and messages

MESSAGES = [
    pytest.param(
        request(ALICE, READ), [], [],
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: "
        f"codeartifact:ReadFromRepository on resource: {REPO_ARN} because no identity-based "
        "policy allows the codeartifact:ReadFromRepository action", id="implicit-identity"),
    pytest.param(
        request(ALICE, READ), [DENY_IDENTITY], [],
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: "
        f"codeartifact:ReadFromRepository on resource: {REPO_ARN} with an explicit deny in an "
        "identity-based policy", id="explicit-identity"),
    pytest.param(
        request(ALICE, READ), [READ_IDENTITY], [deny_read("*")],
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: "
        f"codeartifact:ReadFromRepository on resource: {REPO_ARN} with an explicit deny in a "
        "resource-based policy", id="explicit-resource"),
    pytest.param(
        request(FOREIGN_USER, READ), [READ_IDENTITY], [],
        f"User: arn:aws:iam::{OTHER}:user/test-user is not authorized to perform: "
        f"codeartifact:ReadFromRepository on resource: {REPO_ARN} because no resource-based "
        "policy allows the codeartifact:ReadFromRepository action", id="implicit-resource"),
    pytest.param(
        request(FOREIGN_USER, READ), [], [allow_read({"AWS": OTHER})],
        f"User: arn:aws:iam::{OTHER}:user/test-user is not authorized to perform: "
        f"codeartifact:ReadFromRepository on resource: {REPO_ARN} because no identity-based "
        "policy allows the codeartifact:ReadFromRepository action",
        id="implicit-identity-cross-account"),
    pytest.param(
        request(ALICE, "sts:GetServiceBearerToken", "*", None), [], [],
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: "
        "sts:GetServiceBearerToken because no identity-based policy allows the "
        "sts:GetServiceBearerToken action", id="no-resource"),
    pytest.param(
        request(ANONYMOUS, READ), [], [],
        "User: anonymous is not authorized to perform: codeartifact:ReadFromRepository on "
        f"resource: {REPO_ARN} because no resource-based policy allows the "
        "codeartifact:ReadFromRepository action", id="anonymous"),
    pytest.param(
        request(DEPLOY_SESSION, READ), [], [],
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci-run-1 is not authorized to "
        f"perform: codeartifact:ReadFromRepository on resource: {REPO_ARN} because no "
        "identity-based policy allows the codeartifact:ReadFromRepository action",
        id="assumed-role-session"),
]


@pytest.mark.parametrize(("authz", "identity", "resource", "message"), MESSAGES)
def test_denial_message(authz: AuthzRequest, identity: list[Policy], resource: list[Policy],
                        message: str) -> None:
    decision = evaluate(authz, identity, resource)
    assert not decision.allowed
    assert denial_message(authz, decision) == message


def test_denial_message_refuses_an_allow() -> None:
    authz = request(ALICE, READ)
    with pytest.raises(ValueError, match="needs a decision that denies"):
        denial_message(authz, evaluate(authz, [READ_IDENTITY], []))


def test_decision_records_deciding_statements() -> None:
    authz = request(ALICE, READ)
    decision = evaluate(authz, [READ_IDENTITY, DENY_IDENTITY], [deny_read("*")])
    assert decision == Decision(
        allowed=False, reason=DecisionReason.EXPLICIT_DENY, policy_kind=PolicyKind.IDENTITY,
        statements=(StatementRef(PolicyKind.IDENTITY, "identity", 1, "NoRead", Effect.DENY),
                    StatementRef(PolicyKind.RESOURCE, "resource", 1, "DenyRead", Effect.DENY)))
    assert decision.statement_ids == ("NoRead", "DenyRead")


def test_statement_without_sid_or_policy_name() -> None:
    policy = parse_policy({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
                          kind=PolicyKind.IDENTITY)
    decision = evaluate(request(ALICE, READ), [policy], [])
    assert decision.statement_ids == ("identity policy statement 1",)


def test_reason_strings() -> None:
    assert [r.value for r in DecisionReason] == ["allowed", "explicit deny", "implicit deny"]


# Keys every signed request carries.
SIGNED: dict[str, Any] = {"aws:ViaAWSService": False, "aws:PrincipalIsAWSService": False}

PRINCIPAL_CONTEXTS = [
    pytest.param(ALICE, {"aws:PrincipalType": "User", "aws:PrincipalAccount": ACCOUNT,
                         "aws:ResourceAccount": ACCOUNT,
                         "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                         "aws:username": "alice", "aws:userid": ALICE.user_id, **SIGNED},
                 id="user"),
    pytest.param(RequestPrincipal(arn=f"arn:aws:iam::{ACCOUNT}:user/team/bob",
                                  type=PrincipalType.USER, account=ACCOUNT),
                 {"aws:PrincipalType": "User", "aws:PrincipalAccount": ACCOUNT,
                  "aws:ResourceAccount": ACCOUNT,
                  "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/team/bob",
                  "aws:username": "bob", **SIGNED}, id="user-with-path-without-id"),
    pytest.param(root(), {"aws:PrincipalType": "Account", "aws:PrincipalAccount": ACCOUNT,
                          "aws:ResourceAccount": ACCOUNT,
                          "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:root",
                          "aws:userid": ACCOUNT, **SIGNED}, id="root"),
    pytest.param(DEPLOY_SESSION, {"aws:PrincipalType": "AssumedRole",
                                  "aws:PrincipalAccount": ACCOUNT,
                                  "aws:ResourceAccount": ACCOUNT,
                                  "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
                                  "aws:userid": "AROAEXAMPLEROLEID1234:ci-run-1", **SIGNED,
                                  "aws:MultiFactorAuthPresent": False},
                 id="assumed-role"),
    pytest.param(replace(DEPLOY_SESSION, token_issued_at=datetime(2030, 1, 2, tzinfo=UTC)),
                 {"aws:PrincipalType": "AssumedRole", "aws:PrincipalAccount": ACCOUNT,
                  "aws:ResourceAccount": ACCOUNT,
                  "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
                  "aws:userid": "AROAEXAMPLEROLEID1234:ci-run-1", **SIGNED,
                  "aws:MultiFactorAuthPresent": False,
                  "aws:TokenIssueTime": datetime(2030, 1, 2, tzinfo=UTC)},
                 id="assumed-role-with-issue-time"),
    pytest.param(ANONYMOUS, {"aws:PrincipalType": "Anonymous", "aws:ResourceAccount": ACCOUNT},
                 id="anonymous"),
    pytest.param(SERVICE, {"aws:PrincipalServiceName": "codeartifact.amazonaws.com",
                           "aws:ResourceAccount": ACCOUNT, "aws:ViaAWSService": False,
                           "aws:PrincipalIsAWSService": True}, id="service"),
]


@pytest.mark.parametrize(("principal", "expected"), PRINCIPAL_CONTEXTS)
def test_principal_context(principal: RequestPrincipal, expected: dict[str, Any]) -> None:
    assert principal_context(principal, ACCOUNT) == expected


def test_request_context_overrides_derived_keys() -> None:
    policy = identity_policy({"Effect": "Allow", "Action": READ, "Resource": "*",
                              "Condition": {"StringEquals": {"aws:username": "renamed"}}})
    assert evaluate(request(ALICE, READ, **{"AWS:UserName": "renamed"}), [policy], []).allowed
    assert not evaluate(request(ALICE, READ), [policy], []).allowed


def test_repeated_evaluation_reuses_compiled_patterns() -> None:
    policy = identity_policy({"Effect": "Allow", "Action": "codeartifact:Read*",
                              "Resource": f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/"
                                          "my-domain/${aws:username}"})
    authz = request(ALICE, READ, f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/"
                                 "my-domain/alice")
    assert evaluate(authz, [policy], []).allowed
    misses = glob_regex.cache_info().misses
    for _ in range(50):
        assert evaluate(authz, [policy], []).allowed
    assert glob_regex.cache_info().misses == misses
