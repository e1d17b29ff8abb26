"""IAM over the AWS Query protocol through botocore and the app: users, access keys, inline and
managed policies, roles, and IAM's XML errors."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from tests.inprocess.harness import InProcessPackyard, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT, Credentials

ACCOUNT_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}"
READ_ONLY = "arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess"
DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "codeartifact:List*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"{ACCOUNT_ARN}:root"}, "Action": "sts:AssumeRole"}]})
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture
def iam(packyard: InProcessPackyard) -> Any:
    return packyard.iam()


def _fails(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return client_error(info)


# -- users and keys ------------------------------------------------------------------------------

def test_user_lifecycle(iam: Any) -> None:
    created = iam.create_user(UserName="alice", Path="/team/")["User"]
    assert (created["UserName"], created["Path"], created["Arn"]) == (
        "alice", "/team/", f"{ACCOUNT_ARN}:user/team/alice")
    assert created["UserId"].startswith("AIDA")
    assert iam.get_user(UserName="alice")["User"]["UserId"] == created["UserId"]
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == ["alice"]
    assert iam.list_users(PathPrefix="/other/")["Users"] == []
    iam.delete_user(UserName="alice")
    assert iam.list_users()["Users"] == []


def test_get_user_without_a_name_is_the_caller(packyard: InProcessPackyard, iam: Any) -> None:
    root = iam.get_user()["User"]
    assert {k: v for k, v in root.items() if k != "CreateDate"} == {
        "UserId": DEFAULT_ACCOUNT, "Arn": f"{ACCOUNT_ARN}:root"}
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = packyard.iam(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert alice.get_user()["User"]["UserName"] == "alice"


def test_regression_root_get_user_has_the_accounts_create_date(packyard: InProcessPackyard,
                                                                iam: Any) -> None:
    """GetUser for the root caller had no CreateDate, which botocore's User shape requires
    (AWS gives the account's creation date): it has one, the same on every call, and no later
    than users created since."""
    required = iam.meta.service_model.shape_for("User").required_members
    assert "CreateDate" in required
    first = iam.get_user()["User"]
    assert set(required) - {"Path", "UserName"} <= set(first)  # AWS leaves these out for root
    created = iam.create_user(UserName="later")["User"]["CreateDate"]
    assert first["CreateDate"] <= created
    assert iam.get_user()["User"]["CreateDate"] == first["CreateDate"]


def test_access_key_lifecycle(packyard: InProcessPackyard, iam: Any) -> None:
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) >= 40
    assert key["Status"] == "Active"
    listed = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]
    assert "SecretAccessKey" not in listed[0]
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName="alice")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    iam.delete_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"])
    assert iam.list_access_keys(UserName="alice")["AccessKeyMetadata"] == []


def test_a_new_key_signs_requests_at_once(packyard: InProcessPackyard, iam: Any) -> None:
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    sts = packyard.sts(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert sts.get_caller_identity()["Arn"] == f"{ACCOUNT_ARN}:user/alice"


def test_list_users_paginates_with_marker(iam: Any) -> None:
    for name in ("u1", "u2", "u3"):
        iam.create_user(UserName=name)
    first = iam.list_users(MaxItems=2)
    assert (len(first["Users"]), first["IsTruncated"]) == (2, True)
    rest = iam.list_users(MaxItems=2, Marker=first["Marker"])
    assert (len(rest["Users"]), rest["IsTruncated"]) == (1, False)


# -- policies ------------------------------------------------------------------------------------

def test_inline_user_policy_reads_back_decoded(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="list", PolicyDocument=DOCUMENT)
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == ["list"]
    got = iam.get_user_policy(UserName="alice", PolicyName="list")
    # IAM sends documents URL-encoded; botocore decodes them into a dict.
    assert got["PolicyDocument"] == json.loads(DOCUMENT)
    iam.delete_user_policy(UserName="alice", PolicyName="list")
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []


def test_managed_policy_lifecycle(iam: Any) -> None:
    created = iam.create_policy(PolicyName="lister", PolicyDocument=DOCUMENT,
                                Description="lists")["Policy"]
    arn = created["Arn"]
    assert arn == f"{ACCOUNT_ARN}:policy/lister"
    assert (created["DefaultVersionId"], created["AttachmentCount"]) == ("v1", 0)
    iam.create_user(UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    attached = iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]
    assert attached == [{"PolicyName": "lister", "PolicyArn": arn}]
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert (version["Document"], version["IsDefaultVersion"]) == (json.loads(DOCUMENT), True)
    iam.detach_user_policy(UserName="alice", PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    assert [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]] == []


def test_aws_managed_codeartifact_policies_are_listed(iam: Any) -> None:
    arns = {p["Arn"] for p in iam.list_policies(Scope="AWS")["Policies"]}
    assert {READ_ONLY, "arn:aws:iam::aws:policy/AWSCodeArtifactAdminAccess"} <= arns


def test_role_lifecycle(iam: Any) -> None:
    created = iam.create_role(RoleName="builder", AssumeRolePolicyDocument=TRUST,
                              Description="CI", MaxSessionDuration=7200)["Role"]
    assert (created["Arn"], created["MaxSessionDuration"]) == (
        f"{ACCOUNT_ARN}:role/builder", 7200)
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST)
    iam.put_role_policy(RoleName="builder", PolicyName="list", PolicyDocument=DOCUMENT)
    assert iam.list_role_policies(RoleName="builder")["PolicyNames"] == ["list"]
    assert iam.get_role_policy(RoleName="builder", PolicyName="list")["PolicyDocument"] == \
        json.loads(DOCUMENT)
    iam.attach_role_policy(RoleName="builder", PolicyArn=READ_ONLY)
    assert iam.list_attached_role_policies(RoleName="builder")["AttachedPolicies"] == [
        {"PolicyName": "AWSCodeArtifactReadOnlyAccess", "PolicyArn": READ_ONLY}]
    iam.update_assume_role_policy(RoleName="builder", PolicyDocument=TRUST)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["builder"]
    iam.detach_role_policy(RoleName="builder", PolicyArn=READ_ONLY)
    iam.delete_role_policy(RoleName="builder", PolicyName="list")
    iam.delete_role(RoleName="builder")
    assert iam.list_roles()["Roles"] == []


# -- errors ----------------------------------------------------------------------------------------

def test_missing_user_is_no_such_entity_in_xml(packyard: InProcessPackyard, iam: Any) -> None:
    assert _fails(iam.get_user, UserName="ghost") == (
        "NoSuchEntity", 404, "The user with name ghost cannot be found.")
    response = packyard.last_aws_response
    assert response.headers["content-type"].startswith("text/xml")
    ns = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
    root = ET.fromstring(response.content)
    assert root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ErrorResponse"
    assert [root.findtext(f"iam:Error/iam:{k}", namespaces=ns) for k in
            ("Type", "Code", "Message")] == [
        "Sender", "NoSuchEntity", "The user with name ghost cannot be found."]
    assert root.findtext("iam:RequestId", namespaces=ns) == response.headers["x-amzn-requestid"]


@pytest.mark.parametrize(("call", "kwargs", "expected"), [
    pytest.param("get_role", {"RoleName": "ghost"},
                 ("NoSuchEntity", 404, "The role with name ghost cannot be found."),
                 id="role"),
    pytest.param("get_policy", {"PolicyArn": f"{ACCOUNT_ARN}:policy/ghost"},
                 ("NoSuchEntity", 404,
                  f"Policy {ACCOUNT_ARN}:policy/ghost does not exist or is not attachable."),
                 id="policy"),
    pytest.param("get_user_policy", {"UserName": "alice", "PolicyName": "ghost"},
                 ("NoSuchEntity", 404, "The user policy with name ghost cannot be found."),
                 id="inline-policy"),
    pytest.param("delete_access_key", {"UserName": "alice",
                                       "AccessKeyId": "AKIAGHOSTGHOSTGHOST0"},
                 ("NoSuchEntity", 404,
                  "The Access Key with id AKIAGHOSTGHOSTGHOST0 cannot be found."), id="key"),
])
def test_missing_entities_are_no_such_entity(iam: Any, call: str, kwargs: dict[str, str],
                                             expected: tuple[str, int, str]) -> None:
    iam.create_user(UserName="alice")
    assert _fails(getattr(iam, call), **kwargs) == expected


def test_existing_user_is_entity_already_exists(iam: Any) -> None:
    iam.create_user(UserName="alice")
    assert _fails(iam.create_user, UserName="alice") == (
        "EntityAlreadyExists", 409, "User with name alice already exists.")


def test_existing_role_is_entity_already_exists(iam: Any) -> None:
    iam.create_role(RoleName="builder", AssumeRolePolicyDocument=TRUST)
    assert _fails(iam.create_role, RoleName="builder", AssumeRolePolicyDocument=TRUST) == (
        "EntityAlreadyExists", 409, "Role with name builder already exists.")


def test_existing_managed_policy_is_entity_already_exists(iam: Any) -> None:
    iam.create_policy(PolicyName="lister", PolicyDocument=DOCUMENT)
    assert _fails(iam.create_policy, PolicyName="lister", PolicyDocument=DOCUMENT) == (
        "EntityAlreadyExists", 409,
        "A policy called lister already exists. Duplicate names are not allowed.")


def test_user_with_keys_cannot_be_deleted(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.create_access_key(UserName="alice")
    assert _fails(iam.delete_user, UserName="alice") == (
        "DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")


def test_role_with_policies_cannot_be_deleted(iam: Any) -> None:
    iam.create_role(RoleName="builder", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="builder", PolicyName="list", PolicyDocument=DOCUMENT)
    assert _fails(iam.delete_role, RoleName="builder") == (
        "DeleteConflict", 409, "Cannot delete entity, must delete policies first.")


def test_attached_policy_cannot_be_deleted(iam: Any) -> None:
    arn = iam.create_policy(PolicyName="lister", PolicyDocument=DOCUMENT)["Policy"]["Arn"]
    iam.create_user(UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    assert _fails(iam.delete_policy, PolicyArn=arn) == (
        "DeleteConflict", 409, "Cannot delete a policy attached to entities.")


def test_aws_managed_policy_cannot_be_deleted(iam: Any) -> None:
    assert _fails(iam.delete_policy, PolicyArn=READ_ONLY) == (
        "InvalidInput", 400, "AWS managed policies cannot be deleted.")


def test_third_access_key_exceeds_the_quota(iam: Any) -> None:
    iam.create_user(UserName="alice")
    iam.create_access_key(UserName="alice")
    iam.create_access_key(UserName="alice")
    assert _fails(iam.create_access_key, UserName="alice") == (
        "LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")


def test_root_must_name_the_user_of_a_key(iam: Any) -> None:
    assert _fails(iam.create_access_key) == (
        "InvalidInput", 400, "Pass UserName (--user-name): the root user's keys come from the "
                             "server settings")


@pytest.mark.parametrize(("document", "message"), [
    pytest.param("{nope", "Policy document is not valid JSON: Expecting property name enclosed "
                 "in double quotes (line 1, column 2)", id="not-json"),
    pytest.param(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}),
        "Policy statement 1: Principal is not allowed in an identity-based policy (the "
        "principal is the identity the policy is attached to)", id="principal-in-identity-policy"),
])
def test_malformed_identity_policy(iam: Any, document: str, message: str) -> None:
    iam.create_user(UserName="alice")
    assert _fails(iam.put_user_policy, UserName="alice", PolicyName="bad",
                  PolicyDocument=document) == ("MalformedPolicyDocument", 400, message)


@pytest.mark.parametrize("tagged", ["create_user", "create_role", "create_policy"])
def test_tags_are_refused_rather_than_dropped(iam: Any, tagged: str) -> None:
    kwargs: dict[str, Any] = {"Tags": [{"Key": "team", "Value": "a"}]}
    kwargs.update({"create_user": {"UserName": "alice"},
                   "create_role": {"RoleName": "builder", "AssumeRolePolicyDocument": TRUST},
                   "create_policy": {"PolicyName": "p", "PolicyDocument": DOCUMENT}}[tagged])
    assert _fails(getattr(iam, tagged), **kwargs) == (
        "InvalidInput", 400, "Tags is not supported by Packyard")


def test_user_name_breaking_the_model_is_a_validation_error(packyard: InProcessPackyard) -> None:
    iam = packyard.iam(validate=False)  # botocore would stop it before sending
    assert _fails(iam.create_user, UserName="") == (
        "ValidationError", 400, "1 validation error detected: Value '' at 'userName' failed to "
                                "satisfy constraint: Member must have length greater than or "
                                "equal to 1")


def test_unknown_action_is_invalid_action(packyard: InProcessPackyard) -> None:
    body = urlencode({"Action": "CreateGroup", "Version": "2010-05-08",
                      "GroupName": "g"}).encode()
    response = packyard.signed("POST", "/", body=body, headers=FORM, service="iam")
    assert response.status_code == 400
    root = ET.fromstring(response.content)
    ns = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
    assert root.findtext("iam:Error/iam:Code", namespaces=ns) == "InvalidAction"
    assert root.findtext("iam:Error/iam:Message", namespaces=ns) == (
        "Could not find operation CreateGroup for version 2010-05-08")


def test_request_without_action_is_invalid_action(packyard: InProcessPackyard) -> None:
    response = packyard.signed("POST", "/", body=b"Version=2010-05-08", headers=FORM,
                               service="iam")
    assert response.status_code == 400
    assert b"<Code>InvalidAction</Code>" in response.content
    assert b"The request must contain the parameter Action." in response.content


def test_unsigned_iam_request_is_missing_authentication_token(
        packyard: InProcessPackyard) -> None:
    response = packyard.http.post("/", content=b"Action=ListUsers&Version=2010-05-08",
                                  headers=FORM)
    assert response.status_code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in response.content


def test_wrong_secret_is_signature_does_not_match(packyard: InProcessPackyard) -> None:
    iam = packyard.iam(Credentials("AKIAPACKYARDTESTROOT", "wrong-secret"))
    assert _fails(iam.list_users) == (
        "SignatureDoesNotMatch", 403,
        "The request signature we calculated does not match the signature you provided. Check "
        "your AWS Secret Access Key and signing method. Consult the service documentation for "
        "details.")


def test_unknown_key_is_invalid_client_token_id(packyard: InProcessPackyard) -> None:
    iam = packyard.iam(Credentials("AKIAUNKNOWNUNKNOWN00", "secret"))
    assert _fails(iam.list_users) == (
        "InvalidClientTokenId", 403, "The security token included in the request is invalid.")


def test_unexpected_failure_is_a_service_failure(packyard: InProcessPackyard,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> object:
        raise RuntimeError("boom")

    assert packyard.container.iam_store is not None
    monkeypatch.setattr(packyard.container.iam_store, "list_users", broken)
    assert _fails(packyard.iam().list_users) == (
        "ServiceFailure", 500, "Packyard hit an internal error; see the server log")


def test_regression_iam_requests_are_made_to_us_east_1(packyard_factory: Any) -> None:
    # aws:RequestedRegion was the server's region for IAM too, so the User Guide's "Denies
    # access to AWS based on the requested Region" without its NotAction exemption for iam:*
    # let IAM calls through on a server in eu-west-1, where AWS denies them: IAM's one endpoint
    # is in us-east-1.
    packyard = packyard_factory(region="eu-west-1")
    iam = packyard.iam()
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="region", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}}]}))
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = packyard.iam(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert _fails(alice.list_users) == (
        "AccessDenied", 403, f"User: {ACCOUNT_ARN}:user/alice is not authorized to perform: "
                             "iam:ListUsers with an explicit deny in an identity-based policy")
    iam.put_user_policy(UserName="alice", PolicyName="region", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:List*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]}))
    assert [u["UserName"] for u in alice.list_users()["Users"]] == ["alice"]


def test_regression_sts_requests_are_made_to_the_region_they_are_signed_for(
        packyard_factory: Any) -> None:
    # aws:RequestedRegion was the server's region for STS, so a client configured for
    # us-east-1 (botocore signs for, and on AWS calls, sts.us-east-1.amazonaws.com) got through
    # a Deny outside eu-west-1 on a server in eu-west-1 (which accepts us-east-1 for STS).
    packyard = packyard_factory(region="eu-west-1")
    iam = packyard.iam()
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=TRUST)
    iam.create_user(UserName="alice")

    def only_in(region: str) -> None:
        iam.put_user_policy(UserName="alice", PolicyName="region", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
                {"Effect": "Deny", "Action": "*", "Resource": "*",
                 "Condition": {"StringNotEquals": {"aws:RequestedRegion": region}}}]}))

    only_in("eu-west-1")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = packyard.sts(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert alice.meta.region_name == "us-east-1"
    assert _fails(alice.assume_role, RoleArn=f"{ACCOUNT_ARN}:role/ci",
                  RoleSessionName="build") == (
        "AccessDenied", 403, f"User: {ACCOUNT_ARN}:user/alice is not authorized to perform: "
                             f"sts:AssumeRole on resource: {ACCOUNT_ARN}:role/ci")
    only_in("us-east-1")
    assert alice.assume_role(RoleArn=f"{ACCOUNT_ARN}:role/ci",
                             RoleSessionName="build")["Credentials"]["AccessKeyId"]


@pytest.mark.parametrize(("principal", "element"), [
    (f"{ACCOUNT_ARN}:user/ghost", None),
    (f"{ACCOUNT_ARN}:role/ghost", None),
    (f"{ACCOUNT_ARN}:user/other-path/alice", None),  # right name, wrong path
    (f"{ACCOUNT_ARN}:root", "Resource"),
])
def test_regression_trust_policy_is_checked_as_iam_checks_it(iam: Any, principal: str,
                                                             element: str | None) -> None:
    # A trust policy naming a user or role that does not exist was stored, so whoever later
    # made a user of that name could assume the role; IAM refuses it (and any Resource
    # element) as MalformedPolicyDocument.
    iam.create_user(UserName="alice")
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if element:
        statement[element] = "*"
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    expected = (f'Invalid principal in policy: "AWS":"{principal}"' if element is None
                else "Policy statement 1: Has prohibited field Resource (a role trust policy "
                     "applies to its role)")
    assert _fails(iam.create_role, RoleName="ci", AssumeRolePolicyDocument=document) == (
        "MalformedPolicyDocument", 400, expected)
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=TRUST)
    assert _fails(iam.update_assume_role_policy, RoleName="ci", PolicyDocument=document) == (
        "MalformedPolicyDocument", 400, expected)
    assert iam.update_assume_role_policy(RoleName="ci", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": [f"{ACCOUNT_ARN}:user/ALICE",
                                                     f"{ACCOUNT_ARN}:role/ci"]},
            "Action": "sts:AssumeRole"}]}))


def test_regression_attached_managed_policies_are_limited_to_ten(iam: Any) -> None:
    # IAM's default quota: ten managed policies attached to a user or a role. An eleventh was
    # attached, so a set-up that fails on AWS passed against Packyard.
    iam.create_user(UserName="alice")
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=TRUST)
    arns = [iam.create_policy(PolicyName=f"p{i}", PolicyDocument=DOCUMENT)["Policy"]["Arn"]
            for i in range(11)]
    for arn in arns[:10]:
        iam.attach_user_policy(UserName="alice", PolicyArn=arn)
        iam.attach_role_policy(RoleName="ci", PolicyArn=arn)
    iam.attach_user_policy(UserName="alice", PolicyArn=arns[0])  # again: still a no-op
    assert _fails(iam.attach_user_policy, UserName="alice", PolicyArn=arns[10]) == (
        "LimitExceeded", 409, "Cannot exceed quota for PoliciesPerUser: 10")
    assert _fails(iam.attach_role_policy, RoleName="ci", PolicyArn=arns[10]) == (
        "LimitExceeded", 409, "Cannot exceed quota for PoliciesPerRole: 10")
    assert len(iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]) == 10


def test_regression_deleting_what_each_page_lists_skips_nothing(iam: Any) -> None:
    # The Marker was a position: a clean-up deleting the users of each page (boto3's paginator
    # asks for the next page after the loop body ran) skipped as many users as it had deleted.
    names = [f"user{i}" for i in range(7)]
    for name in names:
        iam.create_user(UserName=name)
    seen: list[str] = []
    page = iam.list_users(MaxItems=2)
    while True:
        for user in page["Users"]:
            seen.append(user["UserName"])
            iam.delete_user(UserName=user["UserName"])
        if not page["IsTruncated"]:
            break
        page = iam.list_users(MaxItems=2, Marker=page["Marker"])
    assert seen == names
    assert iam.list_users()["Users"] == []
    assert _fails(iam.list_users, Marker="bm90IGEgbWFya2Vy") == (
        "InvalidInput", 400, "Invalid Marker: pass the Marker of a previous response")


def test_regression_markers_fit_iams_model_with_the_longest_paths_and_names(iam: Any) -> None:
    # A Marker held the last item's whole sort key: a policy ARN with a long path made one of
    # some 900 characters, which the server itself then refused (markerType: at most 320), so
    # boto3's paginator and the AWS CLI's automatic pagination stopped at the first page.
    path = "/" + "/".join(["p" * 99] * 5) + "/"
    assert len(path) == 501  # IAM allows up to 512
    arns = [iam.create_policy(PolicyName=f"{i}" + "x" * 127, Path=path,
                              PolicyDocument=DOCUMENT)["Policy"]["Arn"] for i in range(4)]
    iam.create_user(UserName="u" * 64, Path=path)
    iam.create_role(RoleName="r" * 64, Path=path, AssumeRolePolicyDocument=TRUST)
    for arn in arns:
        iam.attach_user_policy(UserName="u" * 64, PolicyArn=arn)
        iam.attach_role_policy(RoleName="r" * 64, PolicyArn=arn)
    walks = {"list_attached_user_policies": ({"UserName": "u" * 64}, "AttachedPolicies"),
             "list_attached_role_policies": ({"RoleName": "r" * 64}, "AttachedPolicies"),
             "list_policies": ({"Scope": "Local", "PathPrefix": path}, "Policies")}
    for operation, (params, key) in walks.items():
        markers: list[str] = []
        seen: list[str] = []
        for response in iam.get_paginator(operation).paginate(
                **params, PaginationConfig={"PageSize": 1}):
            seen += [item["PolicyArn" if key == "AttachedPolicies" else "Arn"]
                     for item in response[key]]
            if response["IsTruncated"]:
                markers.append(response["Marker"])
        assert sorted(seen) == sorted(arns), operation
        assert len(markers) == 3 and all(1 <= len(m) <= 320 for m in markers), operation
        assert all(re.fullmatch(r"[\u0020-\u00FF]+", m) for m in markers), operation


def test_regression_no_policy_is_listed_as_a_permissions_boundary(iam: Any) -> None:
    # PolicyUsageFilter was ignored: asked for the policies used as permissions boundaries
    # (there are none: Packyard has no boundaries), ListPolicies listed every policy.
    iam.create_policy(PolicyName="p", PolicyDocument=DOCUMENT)
    assert iam.list_policies(PolicyUsageFilter="PermissionsBoundary")["Policies"] == []
    assert "p" in [p["PolicyName"] for p in iam.list_policies(
        PolicyUsageFilter="PermissionsPolicy")["Policies"]]


@pytest.mark.parametrize("call", ["attach_user_policy", "detach_user_policy", "get_policy",
                                  "delete_policy"])
def test_regression_a_policy_name_for_its_arn_is_invalid_input(iam: Any, call: str) -> None:
    # A policy's bare name passed as --policy-arn (a common slip) was NoSuchEntity (404), as if
    # the ARN were well-formed; IAM answers InvalidInput and says the ARN is not valid.
    iam.create_user(UserName="alice")
    kwargs = {"PolicyArn": "AWSCodeArtifactReadOnlyAccess"}
    if call.endswith("user_policy"):
        kwargs["UserName"] = "alice"
    assert _fails(getattr(iam, call), **kwargs) == (
        "InvalidInput", 400, "ARN AWSCodeArtifactReadOnlyAccess is not valid.")


@pytest.mark.parametrize("kind", ["user", "role"])
def test_regression_a_recreated_entity_is_not_trusted_by_its_namesakes_policy(
        packyard: InProcessPackyard, iam: Any, kind: str) -> None:
    # A trust policy naming a user (or a role) still trusted a new user made with that name
    # after the first was deleted; IAM shows the deleted one's unique id there instead, which
    # trusts nobody.
    iam.create_user(UserName="bob")
    if kind == "user":
        old_id = iam.create_user(UserName="alice")["User"]["UserId"]
    else:
        old_id = iam.create_role(RoleName="alice", AssumeRolePolicyDocument=TRUST)["Role"]["RoleId"]
    arn = f"{ACCOUNT_ARN}:{kind}/alice"
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": [arn, f"{ACCOUNT_ARN}:user/bob"]},
            "Action": "sts:AssumeRole"}]}))
    (iam.delete_user if kind == "user" else iam.delete_role)(**{
        "UserName" if kind == "user" else "RoleName": "alice"})
    trust = iam.get_role(RoleName="ci")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["AWS"] == [old_id, f"{ACCOUNT_ARN}:user/bob"]
    allow_assume = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    if kind == "user":
        iam.create_user(UserName="alice")
        iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=allow_assume)
        key = iam.create_access_key(UserName="alice")["AccessKey"]
        caller = packyard.sts(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    else:
        iam.create_role(RoleName="alice", AssumeRolePolicyDocument=TRUST)
        iam.put_role_policy(RoleName="alice", PolicyName="assume", PolicyDocument=allow_assume)
        iam.put_user_policy(UserName="bob", PolicyName="assume", PolicyDocument=allow_assume)
        key = iam.create_access_key(UserName="bob")["AccessKey"]
        bob = packyard.sts(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        creds = bob.assume_role(RoleArn=arn, RoleSessionName="first")["Credentials"]
        caller = packyard.sts(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]),
                              creds["SessionToken"])
    code, status, _ = _fails(caller.assume_role, RoleArn=f"{ACCOUNT_ARN}:role/ci",
                             RoleSessionName="later")
    assert (code, status) == ("AccessDenied", 403)


# The CodeArtifact User Guide's "Allow a user to view their own permissions" example, verbatim
# (https://docs.aws.amazon.com/codeartifact/latest/ug/security_iam_id-based-policy-examples.html).
VIEW_OWN_PERMISSIONS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "ViewOwnUserInfo", "Effect": "Allow",
     "Action": ["iam:GetUserPolicy", "iam:ListGroupsForUser", "iam:ListAttachedUserPolicies",
                "iam:ListUserPolicies", "iam:GetUser"],
     "Resource": ["arn:aws:iam::*:user/${aws:username}"]},
    {"Sid": "NavigateInConsole", "Effect": "Allow",
     "Action": ["iam:GetGroupPolicy", "iam:GetPolicyVersion", "iam:GetPolicy",
                "iam:ListAttachedGroupPolicies", "iam:ListGroupPolicies",
                "iam:ListPolicyVersions", "iam:ListPolicies", "iam:ListUsers"],
     "Resource": "*"}]})


def test_regression_view_own_permissions_lists_groups_and_policy_versions(
        packyard: InProcessPackyard, iam: Any) -> None:
    """The User Guide's "view their own permissions" policy grants ListGroupsForUser and
    ListPolicyVersions, but both (and ListGroups) were InvalidAction ("Could not find operation
    ..."). They answer as IAM does for an account without groups and with one version of each
    policy, authorized as IAM authorizes them."""
    for name in ("alice", "bob"):
        iam.create_user(UserName=name)
    iam.put_user_policy(UserName="alice", PolicyName="view-own", PolicyDocument=VIEW_OWN_PERMISSIONS)
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = packyard.iam(Credentials(key["AccessKeyId"], key["SecretAccessKey"]))

    own = alice.list_groups_for_user(UserName="alice")
    assert (own["Groups"], own["IsTruncated"]) == ([], False)
    assert _fails(alice.list_groups_for_user, UserName="bob") == (
        "AccessDenied", 403,
        f"User: {ACCOUNT_ARN}:user/alice is not authorized to perform: iam:ListGroupsForUser on "
        f"resource: {ACCOUNT_ARN}:user/bob because no identity-based policy allows the "
        "iam:ListGroupsForUser action")
    assert _fails(alice.list_groups) == (
        "AccessDenied", 403,
        f"User: {ACCOUNT_ARN}:user/alice is not authorized to perform: iam:ListGroups because no "
        "identity-based policy allows the iam:ListGroups action")
    assert iam.list_groups()["Groups"] == []

    versions = alice.list_policy_versions(PolicyArn=READ_ONLY)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"], "Document" in v) for v in versions] == [
        ("v1", True, False)]
    assert alice.get_policy_version(PolicyArn=READ_ONLY, VersionId="v1")["PolicyVersion"][
        "VersionId"] == "v1"
    assert _fails(iam.list_policy_versions, PolicyArn=f"{ACCOUNT_ARN}:policy/ghost") == (
        "NoSuchEntity", 404,
        f"Policy {ACCOUNT_ARN}:policy/ghost does not exist or is not attachable.")
    assert _fails(iam.list_groups_for_user, UserName="ghost") == (
        "NoSuchEntity", 404, "The user with name ghost cannot be found.")
