"""IAM and STS services: authorization of IAM actions, AssumeRole's rules and messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from packyard.auth.authorize import Authorizer
from packyard.auth.policy_source import StorePolicySource
from packyard.auth.principal import Principal, root_principal, session_principal, user_principal
from packyard.clock import Clock
from packyard.errors import Denied, Invalid
from packyard.iam.errors import AccessDenied, InvalidInput, LimitExceeded, MalformedPolicyDocument
from packyard.iam.secrets import SecretBox
from packyard.iam.store import IamStore
from packyard.metadata.catalog import SqlCatalog
from packyard.services.iam import IamService, RootUser
from packyard.services.sts import StsService

ACCT = "000000000000"
ROOT = root_principal(ACCT)


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture()
def services(tmp_path: Path) -> tuple[IamService, StsService]:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    store = IamStore(catalog.engines, ACCT, SecretBox.generate())
    authz = Authorizer(ACCT, StorePolicySource(store), Clock(), "us-east-1")
    return IamService(store, authz, Clock()), StsService(store, authz, Clock())


def _as_user(iam: IamService, name: str, *statements: dict[str, Any]) -> Principal:
    user = iam.create_user(ROOT, name, None)
    if statements:
        iam.put_user_policy(ROOT, name, "p", _doc(*statements))
    return user_principal(ACCT, user.arn, user.id, user.name, "AKIAX")


# -- IAM -----------------------------------------------------------------------------------------

def test_a_user_manages_only_their_own_keys(services: tuple[IamService, StsService]) -> None:
    iam, _ = services
    alice = _as_user(iam, "alice", {
        "Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:ListAccessKeys"],
        "Resource": "arn:aws:iam::*:user/${aws:username}"})
    iam.create_user(ROOT, "bob", None)
    key, _ = iam.create_access_key(alice, None)  # no UserName: the caller's own
    assert key.user_name == "alice"
    assert [k.id for k in iam.list_access_keys(alice, "alice")] == [key.id]
    with pytest.raises(Denied, match="is not authorized to perform: iam:CreateAccessKey on "
                                     "resource: arn:aws:iam::000000000000:user/bob"):
        iam.create_access_key(alice, "bob")


def test_unauthorized_caller_learns_nothing_about_missing_users(
        services: tuple[IamService, StsService]) -> None:
    iam, _ = services
    nobody = _as_user(iam, "nobody")
    with pytest.raises(Denied, match="iam:GetUser on resource: "
                                     "arn:aws:iam::000000000000:user/ghost"):
        iam.get_user(nobody, "ghost")


def test_root_needs_a_user_name_for_keys(services: tuple[IamService, StsService]) -> None:
    iam, _ = services
    with pytest.raises(InvalidInput, match="Pass UserName"):
        iam.create_access_key(ROOT, None)


@pytest.mark.parametrize(("document", "error", "message"), [
    ("{", MalformedPolicyDocument, "Policy document is not valid JSON"),
    (_doc({"Effect": "Allow", "Action": "*"}), MalformedPolicyDocument,
     "Resource or NotResource is required"),
    (_doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}),
     MalformedPolicyDocument, "Principal is not allowed in an identity-based policy"),
    (_doc(*[{"Effect": "Allow", "Action": f"codeartifact:Action{i}", "Resource": "*"}
            for i in range(60)]),
     LimitExceeded, "Cannot exceed quota for inline user policy size: 2048"),
])
def test_bad_identity_policies_are_refused(services: tuple[IamService, StsService],
                                           document: str, error: type[Exception],
                                           message: str) -> None:
    iam, _ = services
    iam.create_user(ROOT, "carol", None)
    with pytest.raises(error, match=message):
        iam.put_user_policy(ROOT, "carol", "p", document)


def test_trust_policy_must_be_a_resource_policy(services: tuple[IamService, StsService]) -> None:
    iam, _ = services
    with pytest.raises(MalformedPolicyDocument, match="Principal or NotPrincipal is required"):
        iam.create_role(ROOT, "r", None, _doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
                        None, None)


def test_get_user_without_a_name(services: tuple[IamService, StsService]) -> None:
    iam, _ = services
    alice = _as_user(iam, "alice", {"Effect": "Allow", "Action": "iam:GetUser",
                                    "Resource": "*"})
    root = iam.get_user(ROOT, None)
    assert isinstance(root, RootUser)
    assert (root.user_id, root.arn) == (ROOT.user_id, ROOT.arn)
    assert iam.get_user(alice, None).arn == alice.arn
    session = session_principal(ACCT, "arn:aws:sts::0:assumed-role/r/s", "AROA:s", "s",
                                "ASIA", datetime(2030, 1, 1, tzinfo=UTC), "arn:role")
    with pytest.raises(Invalid, match="Must specify userName when calling with non-User"):
        iam.get_user(session, None)


# -- STS -----------------------------------------------------------------------------------------

def _role(iam: IamService, trusted: str, max_session: int | None = None) -> str:
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"})
    return iam.create_role(ROOT, "ci", None, trust, None, max_session).arn


def test_assume_role_issues_a_session(services: tuple[IamService, StsService]) -> None:
    iam, sts = services
    alice = _as_user(iam, "alice")
    creds = sts.assume_role(alice, _role(iam, alice.arn), "build", None)
    session = creds.session
    assert session.caller_arn == alice.arn
    lasting = session.expires_at - session.created_at
    assert lasting == timedelta(hours=1)  # the default
    identity = sts.get_caller_identity(alice)
    assert (identity.arn, identity.account) == (alice.arn, ACCT)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"duration_seconds": 7200}, Invalid,
     "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
    ({"duration_seconds": 600}, Invalid, "Member must have value greater than or equal to 900"),
    ({"session_policy": "{}"}, Invalid, "Session policies (Policy, PolicyArns) are not "
                                        "supported"),
])
def test_assume_role_refusals(services: tuple[IamService, StsService], kwargs: dict[str, Any],
                              error: type[Exception], message: str) -> None:
    iam, sts = services
    alice = _as_user(iam, "alice")
    role = _role(iam, alice.arn)
    with pytest.raises(error) as info:
        sts.assume_role(alice, role, "build", **{"duration_seconds": None, **kwargs})
    assert message in str(info.value)


def test_role_chaining_is_limited_to_an_hour(services: tuple[IamService, StsService]) -> None:
    iam, sts = services
    role = _role(iam, f"arn:aws:iam::{ACCT}:root", max_session=43200)
    # A role can trust itself once it exists (IAM refuses a principal that does not).
    iam.update_assume_role_policy(ROOT, "ci", _doc({
        "Effect": "Allow", "Principal": {"AWS": role}, "Action": "sts:AssumeRole"}))
    session = session_principal(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/ci/a", "AROA:a", "a",
                                "ASIA", datetime(2030, 1, 1, tzinfo=UTC),
                                f"arn:aws:iam::{ACCT}:role/ci")
    with pytest.raises(Invalid, match="exceeds the 1 hour session limit for roles assumed by "
                                      "role chaining"):
        sts.assume_role(session, role, "b", 7200)


def test_root_cannot_assume_roles(services: tuple[IamService, StsService]) -> None:
    iam, sts = services
    with pytest.raises(AccessDenied, match="Roles may not be assumed by root accounts."):
        sts.assume_role(ROOT, _role(iam, f"arn:aws:iam::{ACCT}:root"), "s1", None)


@pytest.mark.parametrize("role_arn", [
    f"arn:aws:iam::{ACCT}:role/missing",
    f"arn:aws:iam::{ACCT}:role/other-path/ci",  # right name, wrong path
    "arn:aws:iam::111111111111:role/ci",  # another account
    "not-an-arn",
])
def test_unknown_roles_look_like_refused_ones(services: tuple[IamService, StsService],
                                              role_arn: str) -> None:
    iam, sts = services
    alice = _as_user(iam, "alice")
    _role(iam, alice.arn)
    with pytest.raises(AccessDenied) as info:
        sts.assume_role(alice, role_arn, "s1", None)
    assert info.value.message == (f"User: {alice.arn} is not authorized to perform: "
                                  f"sts:AssumeRole on resource: {role_arn}")


def test_external_id_condition(services: tuple[IamService, StsService]) -> None:
    iam, sts = services
    alice = _as_user(iam, "alice")
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": alice.arn},
                  "Action": "sts:AssumeRole",
                  "Condition": {"StringEquals": {"sts:ExternalId": "secret-handshake"}}})
    role = iam.create_role(ROOT, "partner", None, trust, None, None).arn
    with pytest.raises(Denied):
        sts.assume_role(alice, role, "s1", None)
    sts.assume_role(alice, role, "s1", None, external_id="secret-handshake")


# -- NotPrincipal in trust policies ("AWS JSON policy elements: NotPrincipal") ----------------

_ALLOW_EVERYONE_BUT_BOB = {"Effect": "Allow",
                           "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCT}:user/bob"},
                           "Action": "sts:AssumeRole"}


def test_notprincipal_in_a_trust_policy_is_refused_when_put(
        services: tuple[IamService, StsService]) -> None:
    iam, _ = services
    for statement in (_ALLOW_EVERYONE_BUT_BOB, {**_ALLOW_EVERYONE_BUT_BOB, "Effect": "Deny"}):
        with pytest.raises(MalformedPolicyDocument) as info:
            iam.create_role(ROOT, "admin", None, _doc(statement), None, None)
        assert info.value.message == ("Policy statement 1: NotPrincipal cannot be used in a "
                                      "role trust policy; name who may assume the role in "
                                      "Principal")
    iam.create_role(ROOT, "admin", None, _doc({"Effect": "Allow", "Principal": {"AWS": ACCT},
                                               "Action": "sts:AssumeRole"}), None, None)
    with pytest.raises(MalformedPolicyDocument, match="NotPrincipal cannot be used"):
        iam.update_assume_role_policy(ROOT, "admin", _doc(_ALLOW_EVERYONE_BUT_BOB))


def test_stored_allow_notprincipal_trust_policy_lets_nobody_assume_the_role(
        services: tuple[IamService, StsService], caplog: pytest.LogCaptureFixture) -> None:
    iam, sts = services
    # As an older Packyard stored it: straight into the store, past today's checks.
    role = iam.store.create_role("admin", "/", _doc(_ALLOW_EVERYONE_BUT_BOB), None, 3600,
                                 datetime.now(UTC))
    iam.attach_role_policy(ROOT, "admin", "arn:aws:iam::aws:policy/AWSCodeArtifactAdminAccess")
    nobody = _as_user(iam, "mallory")  # no policies at all
    with caplog.at_level("WARNING", logger="packyard.auth"):
        for _ in range(3):
            with pytest.raises(Denied, match="is not authorized to perform: sts:AssumeRole"):
                sts.assume_role(nobody, role.arn, "s1", None)
    warnings = [r.getMessage() for r in caplog.records if "is ignored" in r.getMessage()]
    assert len(warnings) == 1
    assert f"the trust policy of {role.arn}: statement 1 is ignored" in warnings[0]
