"""STS through botocore and the app: who the caller is, assuming roles, and what the temporary
credentials may do until they expire."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT, Credentials

ACCOUNT_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}"
ROLE_ARN = f"{ACCOUNT_ARN}:role/builder"


def _trust(principal_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}]})


@dataclass
class Setup:
    alice: Credentials
    alice_arn: str


@pytest.fixture
def setup(packyard: InProcessPackyard) -> Setup:
    """User alice with a key, and role builder (1 h default sessions, 2 h at most) that trusts
    her and may list domains."""
    iam = packyard.iam()
    arn = iam.create_user(UserName="alice")["User"]["Arn"]
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.create_role(RoleName="builder", AssumeRolePolicyDocument=_trust(arn),
                    MaxSessionDuration=7200)
    iam.put_role_policy(RoleName="builder", PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["codeartifact:ListDomains", "sts:AssumeRole"],
             "Resource": "*"}]}))
    return Setup(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), arn)


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


def test_caller_identity_of_root(packyard: InProcessPackyard) -> None:
    identity = packyard.sts().get_caller_identity()
    assert (identity["UserId"], identity["Account"], identity["Arn"]) == (
        DEFAULT_ACCOUNT, DEFAULT_ACCOUNT, f"{ACCOUNT_ARN}:root")


def test_caller_identity_of_a_user_needs_no_permission(packyard: InProcessPackyard,
                                                       setup: Setup) -> None:
    identity = packyard.sts(setup.alice).get_caller_identity()
    assert identity["Arn"] == setup.alice_arn
    assert identity["UserId"].startswith("AIDA")


def test_assume_role_gives_working_temporary_credentials(packyard: InProcessPackyard,
                                                         setup: Setup) -> None:
    assumed = packyard.sts(setup.alice).assume_role(RoleArn=ROLE_ARN, RoleSessionName="ci-42")
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/builder/ci-42"
    session = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"])
    identity = packyard.sts(session, creds["SessionToken"]).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/builder/ci-42"
    assert identity["UserId"] == assumed["AssumedRoleUser"]["AssumedRoleId"]
    # The role's own policy applies to the session.
    assert packyard.codeartifact(session, creds["SessionToken"]).list_domains()["domains"] == []


def test_session_credentials_need_their_token(packyard: InProcessPackyard, setup: Setup) -> None:
    creds = packyard.sts(setup.alice).assume_role(RoleArn=ROLE_ARN,
                                                  RoleSessionName="s1")["Credentials"]
    without = packyard.sts(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]))
    assert _fails(without.get_caller_identity) == (
        "InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    wrong = packyard.sts(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]),
                         "not-the-token")
    assert _fails(wrong.get_caller_identity)[0] == "InvalidClientTokenId"


def test_session_expires_with_its_duration(packyard_factory: PackyardFactory,
                                           packyard: InProcessPackyard, setup: Setup) -> None:
    creds = packyard.sts(setup.alice).assume_role(
        RoleArn=ROLE_ARN, RoleSessionName="short", DurationSeconds=900)["Credentials"]
    # The same data directory, served by an app whose clock is 16 minutes ahead.
    later = packyard_factory(clock_offset_seconds=16 * 60,
                             max_signature_skew_seconds=60 * 60)
    session = later.codeartifact(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]),
                                 creds["SessionToken"])
    assert _fails(session.list_domains) == (
        "ExpiredTokenException", 403, "The security token included in the request is expired")


def test_duration_beyond_the_roles_maximum_is_a_validation_error(
        packyard: InProcessPackyard, setup: Setup) -> None:
    assert _fails(packyard.sts(setup.alice).assume_role, RoleArn=ROLE_ARN,
                  RoleSessionName="long", DurationSeconds=7201) == (
        "ValidationError", 400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")


def test_role_chaining_is_limited_to_an_hour(packyard: InProcessPackyard, setup: Setup) -> None:
    packyard.iam().update_assume_role_policy(RoleName="builder", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": [setup.alice_arn, ROLE_ARN]},
            "Action": "sts:AssumeRole"}]}))
    creds = packyard.sts(setup.alice).assume_role(RoleArn=ROLE_ARN,
                                                  RoleSessionName="one")["Credentials"]
    chained = packyard.sts(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]),
                           creds["SessionToken"])
    assert _fails(chained.assume_role, RoleArn=ROLE_ARN, RoleSessionName="two",
                  DurationSeconds=3601) == (
        "ValidationError", 400, "The requested DurationSeconds exceeds the 1 hour session "
                                "limit for roles assumed by role chaining.")
    assert chained.assume_role(RoleArn=ROLE_ARN, RoleSessionName="two")["Credentials"]


def test_root_cannot_assume_roles(packyard: InProcessPackyard, setup: Setup) -> None:
    assert _fails(packyard.sts().assume_role, RoleArn=ROLE_ARN, RoleSessionName="root") == (
        "AccessDenied", 403, "Roles may not be assumed by root accounts.")


def _bob(packyard: InProcessPackyard) -> Any:
    """STS for user bob, whose own policy lets him assume any role; no trust policy names him."""
    iam = packyard.iam()
    iam.create_user(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    return packyard.sts(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def test_role_whose_trust_names_someone_else_is_refused(packyard: InProcessPackyard,
                                                        setup: Setup) -> None:
    assert _fails(_bob(packyard).assume_role, RoleArn=ROLE_ARN, RoleSessionName="x1") == (
        "AccessDenied", 403,
        f"User: {ACCOUNT_ARN}:user/bob is not authorized to perform: sts:AssumeRole on "
        f"resource: {ROLE_ARN}")


def test_unknown_role_is_refused(packyard: InProcessPackyard, setup: Setup) -> None:
    ghost = f"{ACCOUNT_ARN}:role/ghost"
    assert _fails(_bob(packyard).assume_role, RoleArn=ghost, RoleSessionName="x1") == (
        "AccessDenied", 403,
        f"User: {ACCOUNT_ARN}:user/bob is not authorized to perform: sts:AssumeRole on "
        f"resource: {ghost}")


def test_refused_and_unknown_roles_cannot_be_told_apart(packyard: InProcessPackyard,
                                                        setup: Setup) -> None:
    bob = _bob(packyard)
    ghost = f"{ACCOUNT_ARN}:role/ghost"
    refused = _fails(bob.assume_role, RoleArn=ROLE_ARN, RoleSessionName="x1")
    unknown = _fails(bob.assume_role, RoleArn=ghost, RoleSessionName="x1")
    assert refused[2].replace(ROLE_ARN, "ROLE") == unknown[2].replace(ghost, "ROLE")


def test_session_policies_are_refused_rather_than_ignored(packyard: InProcessPackyard,
                                                          setup: Setup) -> None:
    assert _fails(packyard.sts(setup.alice).assume_role, RoleArn=ROLE_ARN,
                  RoleSessionName="p1", Policy=json.dumps({"Version": "2012-10-17",
                                                           "Statement": []})) == (
        "ValidationError", 400, "Session policies (Policy, PolicyArns) are not supported by "
                                "Packyard; attach the policies to the role instead")


def test_sts_errors_are_sts_xml(packyard: InProcessPackyard, setup: Setup) -> None:
    _fails(packyard.sts().assume_role, RoleArn=ROLE_ARN, RoleSessionName="root")
    root = ET.fromstring(packyard.last_aws_response.content)
    ns = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse"
    assert root.findtext("sts:Error/sts:Code", namespaces=ns) == "AccessDenied"


# -- global condition keys of signed requests -----------------------------------------------------

def _deny_all_when(condition: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}]})


def _session(packyard: InProcessPackyard, setup: Setup, name: str) -> Any:
    creds = packyard.sts(setup.alice).assume_role(RoleArn=ROLE_ARN,
                                                  RoleSessionName=name)["Credentials"]
    return packyard.codeartifact(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]),
                                 creds["SessionToken"])


def test_regression_revoking_older_sessions_denies_them(packyard: InProcessPackyard,
                                                        setup: Setup) -> None:
    # The IAM User Guide's "Revoking IAM role temporary security credentials": the console's
    # AWSRevokeOlderSessions policy denies every session issued before it. aws:TokenIssueTime
    # was missing, so the Deny never applied and the revoked session kept working.
    session = _session(packyard, setup, "leaked")
    assert session.list_domains()["domains"] == []
    revoke_from = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    packyard.iam().put_role_policy(RoleName="builder", PolicyName="AWSRevokeOlderSessions",
                                   PolicyDocument=json.dumps({
                                       "Version": "2012-10-17", "Statement": [{
                                           "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                                           "Condition": {"DateLessThan": {
                                               "aws:TokenIssueTime": revoke_from}}}]}))
    code, status, message = _fails(session.list_domains)
    assert (code, status) == ("AccessDeniedException", 403)
    assert "with an explicit deny in an identity-based policy" in message


def test_regression_mfa_condition_denies_role_sessions_not_access_keys(
        packyard: InProcessPackyard, setup: Setup) -> None:
    # aws:MultiFactorAuthPresent is present (false) for temporary credentials obtained without
    # MFA and absent for long-term access keys ("AWS global condition context keys"). It was
    # always absent, so a Deny on "false" let role sessions through.
    iam = packyard.iam()
    no_mfa = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    iam.put_role_policy(RoleName="builder", PolicyName="list", PolicyDocument=_deny_all_when(
        no_mfa))
    assert _fails(_session(packyard, setup, "no-mfa").list_domains)[:2] == (
        "AccessDeniedException", 403)
    iam.put_user_policy(UserName="alice", PolicyName="all", PolicyDocument=_deny_all_when(
        no_mfa))
    assert packyard.codeartifact(setup.alice).list_domains()["domains"] == []


def test_regression_user_guide_source_ip_example_denies_other_addresses(
        packyard: InProcessPackyard, setup: Setup) -> None:
    # The IAM User Guide's "Denies access to AWS based on the source IP" pairs NotIpAddress with
    # "Bool": {"aws:ViaAWSService": "false"}; the key was missing, so the Deny never applied.
    iam = packyard.iam()
    iam.put_user_policy(UserName="alice", PolicyName="ip", PolicyDocument=_deny_all_when({
        "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
        "Bool": {"aws:ViaAWSService": "false"}}))
    assert _fails(packyard.codeartifact(setup.alice).list_domains)[:2] == (
        "AccessDeniedException", 403)
    iam.put_user_policy(UserName="alice", PolicyName="ip", PolicyDocument=_deny_all_when({
        "Bool": {"aws:PrincipalIsAWSService": "false"}}))
    assert _fails(packyard.iam(setup.alice).list_users)[:2] == ("AccessDenied", 403)


def test_regression_source_identity_is_refused_rather_than_ignored(packyard: InProcessPackyard,
                                                                   setup: Setup) -> None:
    # AWS sets a source identity only when the trust policy also allows sts:SetSourceIdentity
    # (this one does not: AWS refuses). It was dropped, and the role assumed without it.
    assert _fails(packyard.sts(setup.alice).assume_role, RoleArn=ROLE_ARN,
                  RoleSessionName="who", SourceIdentity="alice@example.com") == (
        "ValidationError", 400, "SourceIdentity is not supported by Packyard")


def test_regression_role_session_without_user_name_is_iams_validation_error(
        packyard: InProcessPackyard, setup: Setup) -> None:
    # A role session omitting UserName on the access key operations got InvalidInput with
    # Packyard's own text; IAM answers as it does for GetUser.
    creds = packyard.sts(setup.alice).assume_role(RoleArn=ROLE_ARN,
                                                  RoleSessionName="keys")["Credentials"]
    session = packyard.iam(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]),
                           creds["SessionToken"])
    expected = ("ValidationError", 400,
                "Must specify userName when calling with non-User credentials")
    assert _fails(session.list_access_keys) == expected
    assert _fails(session.create_access_key) == expected
    assert _fails(session.get_user) == expected
