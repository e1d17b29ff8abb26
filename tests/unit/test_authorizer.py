"""The Authorizer: which policies it consults for whom, the context it adds, AssumeRole's rules."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from packyard.auth.authorize import Authorizer, request_principal, resource_account
from packyard.auth.environment import RequestEnvironmentMiddleware
from packyard.auth.policy_source import PolicySet, StorePolicySource, governing_policy_arns
from packyard.auth.principal import Principal, root_principal, session_principal, user_principal
from packyard.clock import Clock
from packyard.errors import Denied
from packyard.iam.secrets import SecretBox
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog
from packyard.policy.document import Policy, PolicyKind, PrincipalType, parse_policy

ACCT = "000000000000"
REGION = "us-east-1"
DOMAIN_ARN = f"arn:aws:codeartifact:{REGION}:{ACCT}:domain/dom"
REPO_ARN = f"arn:aws:codeartifact:{REGION}:{ACCT}:repository/dom/repo"
PKG_ARN = f"arn:aws:codeartifact:{REGION}:{ACCT}:package/dom/repo/pypi//demo"
ALICE = user_principal(ACCT, f"arn:aws:iam::{ACCT}:user/alice", "AIDAALICE", "alice",
                       "AKIAALICE")
BOB = user_principal(ACCT, f"arn:aws:iam::{ACCT}:user/bob", "AIDABOB", "bob", "AKIABOB")
ROOT = root_principal(ACCT)
SESSION = session_principal(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/ci/build", "AROACI:build",
                            "build", "ASIAX", datetime(2030, 1, 1, tzinfo=UTC),
                            f"arn:aws:iam::{ACCT}:role/ci")


def _identity(*statements: dict[str, Any]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)},
                        kind=PolicyKind.IDENTITY)


def _resource(*statements: dict[str, Any]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)},
                        kind=PolicyKind.RESOURCE)


def _allow(action: str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _deny(action: str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


class FakePolicies:
    """Identity policies by principal ARN, resource policies by governing ARN."""

    def __init__(self, identity: dict[str, list[Policy]] | None = None,
                 resource: dict[str, list[Policy]] | None = None,
                 unreadable: tuple[str, ...] = ()) -> None:
        self.identity = identity or {}
        self.resource = resource or {}
        self.unreadable = unreadable

    def identity_policies(self, principal: Principal) -> PolicySet:
        return PolicySet(tuple(self.identity.get(principal.arn, [])), self.unreadable)

    def resource_policies(self, resource_arn: str) -> PolicySet:
        found = [p for arn in governing_policy_arns(resource_arn)
                 for p in self.resource.get(arn, [])]
        return PolicySet(tuple(found))


def _authorizer(policies: FakePolicies, now: datetime | None = None) -> Authorizer:
    clock = Clock()
    if now is not None:
        clock = Clock((now - datetime.now(UTC)).total_seconds())
    return Authorizer(ACCT, policies, clock, REGION)


# -- who may do what -----------------------------------------------------------------------------

def test_root_may_do_anything_in_its_account() -> None:
    assert _authorizer(FakePolicies()).is_allowed(ROOT, "codeartifact:DeleteDomain", DOMAIN_ARN)


def test_a_user_without_policies_may_do_nothing() -> None:
    authz = _authorizer(FakePolicies())
    with pytest.raises(Denied) as info:
        authz.check(ALICE, "codeartifact:ReadFromRepository", REPO_ARN)
    assert info.value.message == (
        f"User: arn:aws:iam::{ACCT}:user/alice is not authorized to perform: "
        f"codeartifact:ReadFromRepository on resource: {REPO_ARN} because no identity-based "
        "policy allows the codeartifact:ReadFromRepository action")


def test_identity_policy_allows() -> None:
    authz = _authorizer(FakePolicies({ALICE.arn: [_identity(_allow("codeartifact:*"))]}))
    assert authz.is_allowed(ALICE, "codeartifact:ReadFromRepository", REPO_ARN)
    assert not authz.is_allowed(BOB, "codeartifact:ReadFromRepository", REPO_ARN)


def test_repository_policy_alone_allows_a_named_user() -> None:
    repo_policy = _resource({"Effect": "Allow", "Principal": {"AWS": ALICE.arn},
                             "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={REPO_ARN: [repo_policy]}))
    assert authz.is_allowed(ALICE, "codeartifact:ReadFromRepository", REPO_ARN)
    assert not authz.is_allowed(BOB, "codeartifact:ReadFromRepository", REPO_ARN)
    # The repository's policy governs its packages, not other repositories.
    assert not authz.is_allowed(ALICE, "codeartifact:ReadFromRepository",
                                REPO_ARN.replace("/repo", "/other"))


def test_domain_policy_governs_repositories_and_packages_in_it() -> None:
    domain_policy = _resource({"Effect": "Allow", "Principal": {"AWS": ALICE.arn},
                               "Action": "codeartifact:*", "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={DOMAIN_ARN: [domain_policy]}))
    for arn in (DOMAIN_ARN, REPO_ARN, PKG_ARN):
        assert authz.is_allowed(ALICE, "codeartifact:DescribeRepository", arn), arn


def test_account_principal_in_resource_policy_delegates_to_identity_policies() -> None:
    account_policy = _resource({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                                "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={REPO_ARN: [account_policy]}))
    assert not authz.is_allowed(ALICE, "codeartifact:ReadFromRepository", REPO_ARN)


def test_explicit_deny_in_resource_policy_overrides_identity_allow() -> None:
    deny = _resource({"Effect": "Deny", "Principal": {"AWS": ALICE.arn},
                      "Action": "codeartifact:PublishPackageVersion", "Resource": "*"})
    authz = _authorizer(FakePolicies({ALICE.arn: [_identity(_allow("codeartifact:*"))]},
                                     {REPO_ARN: [deny]}))
    with pytest.raises(Denied, match="with an explicit deny in a resource-based policy"):
        authz.check(ALICE, "codeartifact:PublishPackageVersion", PKG_ARN)


def test_explicit_deny_in_resource_policy_binds_root_too() -> None:
    deny = _resource({"Effect": "Deny", "Principal": "*", "Action": "codeartifact:*",
                      "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={REPO_ARN: [deny]}))
    assert not authz.is_allowed(ROOT, "codeartifact:ReadFromRepository", REPO_ARN)


def test_explicit_deny_in_identity_policy_overrides_resource_allow() -> None:
    allow = _resource({"Effect": "Allow", "Principal": {"AWS": ALICE.arn},
                       "Action": "codeartifact:*", "Resource": "*"})
    identity = _identity(_deny("codeartifact:ReadFromRepository"))
    authz = _authorizer(FakePolicies({ALICE.arn: [identity]}, {REPO_ARN: [allow]}))
    with pytest.raises(Denied, match="with an explicit deny in an identity-based policy"):
        authz.check(ALICE, "codeartifact:ReadFromRepository", REPO_ARN)


def test_get_service_bearer_token_ignores_resource_policies() -> None:
    # CodeArtifact: "the permission will have no effect in resource policies".
    everything = _resource({"Effect": "Allow", "Principal": "*", "Action": "*",
                            "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={DOMAIN_ARN: [everything]}))
    assert not authz.is_allowed(ALICE, "sts:GetServiceBearerToken", "*",
                                {"sts:AWSServiceName": "codeartifact.amazonaws.com"})


def test_put_permissions_policy_ignores_the_resources_own_policy() -> None:
    # The domain owner cannot lock themselves out of fixing the policy.
    deny = _resource({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={DOMAIN_ARN: [deny]}))
    assert authz.is_allowed(ROOT, "codeartifact:PutDomainPermissionsPolicy", DOMAIN_ARN)
    assert not authz.is_allowed(ROOT, "codeartifact:GetDomainPermissionsPolicy", DOMAIN_ARN)
    authz = _authorizer(FakePolicies(resource={REPO_ARN: [deny]}))
    assert authz.is_allowed(ROOT, "codeartifact:PutRepositoryPermissionsPolicy", REPO_ARN)
    assert not authz.is_allowed(ROOT, "codeartifact:GetRepositoryPermissionsPolicy", REPO_ARN)


def test_domain_deny_stops_put_repository_permissions_policy() -> None:
    # CodeArtifact ignores only the repository's own policy for this action.
    deny_put = _resource({"Effect": "Deny", "Principal": {"AWS": ALICE.arn},
                          "Action": "codeartifact:PutRepositoryPermissionsPolicy",
                          "Resource": "*"})
    admin = _identity(_allow("codeartifact:*"))
    authz = _authorizer(FakePolicies({ALICE.arn: [admin], BOB.arn: [admin]},
                                     resource={DOMAIN_ARN: [deny_put]}))
    with pytest.raises(Denied) as info:
        authz.check(ALICE, "codeartifact:PutRepositoryPermissionsPolicy", REPO_ARN)
    assert info.value.message.endswith("with an explicit deny in a resource-based policy")
    assert authz.is_allowed(BOB, "codeartifact:PutRepositoryPermissionsPolicy", REPO_ARN)


def test_role_session_uses_its_roles_policies() -> None:
    authz = _authorizer(FakePolicies({SESSION.arn: [_identity(_allow("codeartifact:List*"))]}))
    assert authz.is_allowed(SESSION, "codeartifact:ListPackages", REPO_ARN)
    assert not authz.is_allowed(SESSION, "codeartifact:PublishPackageVersion", PKG_ARN)


def test_resource_policy_naming_the_role_allows_its_sessions() -> None:
    policy = _resource({"Effect": "Allow", "Principal": {"AWS": SESSION.role_arn},
                        "Action": "codeartifact:ReadFromRepository", "Resource": "*"})
    authz = _authorizer(FakePolicies(resource={REPO_ARN: [policy]}))
    assert authz.is_allowed(SESSION, "codeartifact:ReadFromRepository", REPO_ARN)


def test_unreadable_stored_policy_refuses_everyone_but_root() -> None:
    authz = _authorizer(FakePolicies({ALICE.arn: [_identity(_allow("*"))]},
                                     unreadable=("broken",)))
    assert not authz.is_allowed(ALICE, "codeartifact:ListDomains", "*")
    assert authz.is_allowed(ROOT, "codeartifact:ListDomains", "*")


# -- context keys --------------------------------------------------------------------------------

def test_policy_variables_username() -> None:
    own = _identity(_allow("iam:CreateAccessKey", "arn:aws:iam::*:user/${aws:username}"))
    authz = _authorizer(FakePolicies({ALICE.arn: [own], BOB.arn: [own]}))
    assert authz.is_allowed(ALICE, "iam:CreateAccessKey", ALICE.arn)
    assert not authz.is_allowed(ALICE, "iam:CreateAccessKey", BOB.arn)


def test_current_time_condition() -> None:
    until_2026 = _identity(_allow("codeartifact:*", Condition={
        "DateLessThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}))
    policies = FakePolicies({ALICE.arn: [until_2026]})
    before = _authorizer(policies, datetime(2026, 5, 1, tzinfo=UTC))
    after = _authorizer(policies, datetime(2026, 7, 1, tzinfo=UTC))
    assert before.is_allowed(ALICE, "codeartifact:ListDomains", "*")
    assert not after.is_allowed(ALICE, "codeartifact:ListDomains", "*")


def test_requested_region_and_principal_keys() -> None:
    policy = _identity(_allow("codeartifact:*", Condition={
        "StringEquals": {"aws:RequestedRegion": REGION, "aws:PrincipalAccount": ACCT,
                         "aws:PrincipalArn": ALICE.arn}}))
    assert _authorizer(FakePolicies({ALICE.arn: [policy]})).is_allowed(
        ALICE, "codeartifact:ListDomains", "*")


def _in_request(client: tuple[str, int] | None, scheme: str, run: Any) -> Any:
    """Call ``run()`` inside an HTTP request passing through the environment middleware."""
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        outcome.append(run())

    middleware = RequestEnvironmentMiddleware(app)
    scope = {"type": "http", "client": client, "scheme": scheme}
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    return outcome[0]


def test_source_ip_and_secure_transport_come_from_the_request() -> None:
    office_only = _identity(_allow("codeartifact:*", Condition={
        "IpAddress": {"aws:SourceIp": "10.1.0.0/16"}, "Bool": {"aws:SecureTransport": "true"}}))
    authz = _authorizer(FakePolicies({ALICE.arn: [office_only]}))

    def ask() -> bool:
        return authz.is_allowed(ALICE, "codeartifact:ListDomains", "*")

    assert _in_request(("10.1.2.3", 5000), "https", ask) is True
    assert _in_request(("10.2.2.3", 5000), "https", ask) is False
    assert _in_request(("10.1.2.3", 5000), "http", ask) is False
    assert ask() is False  # outside any request, the keys are absent


# -- AssumeRole ----------------------------------------------------------------------------------

ROLE_ARN = f"arn:aws:iam::{ACCT}:role/ci"


def _trust(principal: str) -> Policy:
    return _resource({"Effect": "Allow", "Principal": {"AWS": principal},
                      "Action": "sts:AssumeRole"})


def test_trust_policy_naming_the_user_is_enough() -> None:
    _authorizer(FakePolicies()).check_assume_role(ALICE, ROLE_ARN, _trust(ALICE.arn))


def test_trust_policy_naming_the_account_needs_an_identity_allow() -> None:
    trust = _trust(f"arn:aws:iam::{ACCT}:root")
    with pytest.raises(Denied, match="because no identity-based policy allows"):
        _authorizer(FakePolicies()).check_assume_role(ALICE, ROLE_ARN, trust)
    allowed = FakePolicies({ALICE.arn: [_identity(_allow("sts:AssumeRole", ROLE_ARN))]})
    _authorizer(allowed).check_assume_role(ALICE, ROLE_ARN, trust)


def test_identity_allow_without_trust_is_not_enough() -> None:
    allowed = FakePolicies({ALICE.arn: [_identity(_allow("sts:AssumeRole"))]})
    with pytest.raises(Denied, match="because no resource-based policy allows"):
        _authorizer(allowed).check_assume_role(ALICE, ROLE_ARN, _trust(BOB.arn))


def test_identity_deny_blocks_a_trusted_user() -> None:
    denied = FakePolicies({ALICE.arn: [_identity(_deny("sts:AssumeRole"))]})
    with pytest.raises(Denied, match="explicit deny"):
        _authorizer(denied).check_assume_role(ALICE, ROLE_ARN, _trust(ALICE.arn))


# -- helpers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("arn", "expected"), [
    (DOMAIN_ARN, (DOMAIN_ARN,)),
    (REPO_ARN, (DOMAIN_ARN, REPO_ARN)),
    (PKG_ARN, (DOMAIN_ARN, REPO_ARN)),
    (f"arn:aws:codeartifact:{REGION}:{ACCT}:package-group/dom/team/*", (DOMAIN_ARN,)),
    ("*", ()),
    (f"arn:aws:iam::{ACCT}:user/alice", ()),
])
def test_governing_policy_arns(arn: str, expected: tuple[str, ...]) -> None:
    assert governing_policy_arns(arn) == expected


@pytest.mark.parametrize(("arn", "account"), [
    (REPO_ARN, ACCT),
    ("*", None),
    ("arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess", None),
])
def test_resource_account(arn: str, account: str | None) -> None:
    assert resource_account(arn) == account


def test_request_principal_of_a_session() -> None:
    seen = request_principal(SESSION)
    assert seen.type is PrincipalType.ASSUMED_ROLE
    assert seen.source_arn == ROLE_ARN and seen.user_id == "AROACI:build"


# -- the store-backed source ---------------------------------------------------------------------

def test_store_policy_source_caches_and_sees_its_own_writes(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    store = IamStore(catalog.engines, ACCT, SecretBox.generate())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    user = store.create_user("alice", "/", now)
    principal = user_principal(ACCT, user.arn, user.id, user.name, "AKIA")
    ticks = [0.0]
    source = StorePolicySource(store, ttl=4.0, monotonic=lambda: ticks[0])
    assert source.identity_policies(principal).policies == ()
    store.put_user_policy("alice", "all", json.dumps(
        {"Version": "2012-10-17", "Statement": [_allow("*")]}))
    # A write through the same store is seen at once.
    assert len(source.identity_policies(principal).policies) == 1
    # A write from elsewhere (another store on the same database) is seen after the TTL.
    other = IamStore(catalog.engines, ACCT, SecretBox.generate())
    other.delete_user_policy("alice", "all")
    assert len(source.identity_policies(principal).policies) == 1
    ticks[0] = 4.5
    assert source.identity_policies(principal).policies == ()


def test_clock_offset_helper_is_sane() -> None:
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    authz = _authorizer(FakePolicies(), moment)
    context_time = authz.request_context()["aws:CurrentTime"]
    assert isinstance(context_time, datetime)
    assert abs(context_time - moment) < timedelta(seconds=5)


def test_stored_allow_notprincipal_repository_policy_grants_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    store = IamStore(catalog.engines, ACCT, SecretBox.generate())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    domain = catalog.create_domain("dom", ACCT, "key", now)
    repo = catalog.create_repository(domain, "repo", "", ACCT, now)
    # As an older Packyard stored it: "everyone but bob may read", straight into the store.
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotPrincipal": {"AWS": BOB.arn},
         "Action": "codeartifact:ReadFromRepository", "Resource": "*"},
        {"Sid": "AliceLists", "Effect": "Allow", "Principal": {"AWS": ALICE.arn},
         "Action": "codeartifact:ListPackages", "Resource": "*"}]})
    store.put_resource_policy(REPO_ARN, domain.id, repo.id, document, None, now)
    authz = Authorizer(ACCT, StorePolicySource(store, ttl=0.0), Clock(), REGION)
    with caplog.at_level("WARNING", logger="packyard.auth"):
        for _ in range(3):
            assert not authz.is_allowed(ALICE, "codeartifact:ReadFromRepository", REPO_ARN)
    # The document's other statements still apply.
    assert authz.is_allowed(ALICE, "codeartifact:ListPackages", REPO_ARN)
    warnings = [r.getMessage() for r in caplog.records if "is ignored" in r.getMessage()]
    assert warnings == [
        f"the repository policy of {REPO_ARN}: statement 1 is ignored and grants nothing: "
        'NotPrincipal must be used with "Effect": "Deny"; with Allow it would grant every other '
        "principal, anonymous callers included; put the policy again without it"]
