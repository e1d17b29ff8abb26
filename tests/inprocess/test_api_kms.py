"""The KMS API subset at the server's endpoint, through botocore's ``kms`` client: keys made
with ``create-key`` are the ones ``create-domain --encryption-key`` takes; each operation's
answer, each refusal in KMS's JSON error shape, and ``kms:`` actions authorized by IAM."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import Mock

import pytest
from botocore.exceptions import ClientError

from packyard.auth.principal import root_principal
from packyard.services.kms import KmsService, UnsupportedOperation
from tests.inprocess.harness import InProcessPackyard, client_error
from tests.integration.helpers import DEFAULT_ACCOUNT, DEFAULT_REGION, Credentials

KEY_ARN = f"arn:aws:kms:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:key/"
ALIAS_ARN = f"arn:aws:kms:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:alias/"


@pytest.fixture
def kms(packyard: InProcessPackyard) -> Any:
    return packyard.aws("kms")


def _user(packyard: InProcessPackyard, *actions: str, resource: str = "*") -> Any:
    iam = packyard.iam()
    iam.create_user(UserName="alice")
    if actions:
        iam.put_user_policy(UserName="alice", PolicyName="kms", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": list(actions), "Resource": resource}]}))
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    return packyard.aws("kms", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def test_create_key_describes_a_symmetric_customer_key(kms: Any) -> None:
    metadata = kms.create_key(Description="for acme")["KeyMetadata"]
    key_id = metadata["KeyId"]
    assert {k: v for k, v in metadata.items() if k != "CreationDate"} == {
        "AWSAccountId": DEFAULT_ACCOUNT, "KeyId": key_id, "Arn": KEY_ARN + key_id,
        "Enabled": True, "Description": "for acme", "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False}
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"] == metadata
    assert kms.describe_key(KeyId=KEY_ARN + key_id)["KeyMetadata"] == metadata


def test_a_key_made_through_kms_is_one_create_domain_accepts(packyard: InProcessPackyard,
                                                             kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/acme", TargetKeyId=key["KeyId"])
    api = packyard.codeartifact()
    for domain, ref in (("by-arn", key["Arn"]), ("by-id", key["KeyId"]),
                        ("by-alias", "alias/acme")):
        assert api.create_domain(domain=domain, encryptionKey=ref)["domain"][
            "encryptionKey"] == key["Arn"]
    repo = packyard.pypi_repo(domain="by-alias")
    assert repo is not None


def test_list_keys_and_aliases(packyard: InProcessPackyard, kms: Any) -> None:
    packyard.codeartifact().create_domain(domain="acme")  # makes the default key
    first = kms.create_key()["KeyMetadata"]
    second = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/first", TargetKeyId=first["Arn"])
    keys = kms.list_keys()["Keys"]
    assert {k["KeyId"] for k in keys} >= {first["KeyId"], second["KeyId"]}
    assert all(k["KeyArn"] == KEY_ARN + k["KeyId"] for k in keys)
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/first"] == {"AliasName": "alias/first",
                                      "AliasArn": ALIAS_ARN + "first",
                                      "TargetKeyId": first["KeyId"]}
    default = aliases["alias/aws/codeartifact"]["TargetKeyId"]
    assert kms.describe_key(KeyId="alias/aws/codeartifact")["KeyMetadata"][
        "KeyManager"] == "AWS"
    assert kms.describe_key(KeyId=default)["KeyMetadata"]["KeyId"] == default
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=first["KeyId"])["Aliases"]] == [
        "alias/first"]


def test_list_keys_pages_with_limit_and_marker(kms: Any) -> None:
    made = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)}
    first = kms.list_keys(Limit=2)
    assert first["Truncated"] is True and len(first["Keys"]) == 2
    rest = kms.list_keys(Limit=2, Marker=first["NextMarker"])
    assert {k["KeyId"] for k in first["Keys"] + rest["Keys"]} >= made
    paged = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate(
        PaginationConfig={"PageSize": 1}) for k in page["Keys"]]
    assert set(paged) >= made


def test_key_rotation_status_and_rotation_on_demand(packyard: InProcessPackyard,
                                                    kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    status.pop("ResponseMetadata")
    assert status == {"KeyRotationEnabled": False, "KeyId": key["Arn"]}
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key["Arn"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 90)
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert packyard.container.encryption is not None
    described = packyard.container.encryption.provider.describe_key(key["KeyId"])
    assert (described.current_version, described.versions) == (2, (1, 2))


def test_describe_an_unknown_key_is_not_found(kms: Any) -> None:
    with pytest.raises(ClientError) as info:
        kms.describe_key(KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
    assert client_error(info) == (
        "NotFoundException", 400,
        f"Key '{KEY_ARN}1234abcd-12ab-34cd-56ef-1234567890ab' does not exist")
    with pytest.raises(ClientError) as info:
        kms.describe_key(KeyId="alias/nope")
    assert client_error(info) == ("NotFoundException", 400,
                                  f"Alias {ALIAS_ARN}nope is not found.")


def test_an_alias_is_refused_when_taken_or_reserved(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/taken", TargetKeyId=key)
    with pytest.raises(ClientError) as info:
        kms.create_alias(AliasName="alias/taken", TargetKeyId=key)
    assert client_error(info) == ("AlreadyExistsException", 400,
                                  f"An alias with the name {ALIAS_ARN}taken already exists")
    with pytest.raises(ClientError) as info:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key)
    assert client_error(info) == (
        "InvalidAliasNameException", 400,
        "Alias must not begin with 'alias/aws/'. This alias name prefix is reserved for AWS "
        "managed keys.")


def test_an_asymmetric_key_is_unsupported(kms: Any) -> None:
    with pytest.raises(ClientError) as info:
        kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    assert client_error(info) == (
        "UnsupportedOperationException", 400,
        "Packyard's keyring makes symmetric encryption keys only (KeySpec SYMMETRIC_DEFAULT, "
        "KeyUsage ENCRYPT_DECRYPT)")


def test_an_operation_outside_the_subset_is_unknown(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert client_error(info) == ("UnknownOperationException", 400,
                                  "The operation Encrypt is not supported by Packyard's KMS")


def test_a_missing_key_id_is_a_validation_error(packyard: InProcessPackyard) -> None:
    kms = packyard.aws("kms", validate=False)
    with pytest.raises(ClientError) as info:
        kms.describe_key(KeyId="")
    assert client_error(info) == (
        "ValidationException", 400,
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1")


def test_a_user_without_kms_permissions_is_denied(packyard: InProcessPackyard,
                                                  kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    alice = _user(packyard)
    with pytest.raises(ClientError) as info:
        alice.create_key()
    code, status, message = client_error(info)
    assert (code, status) == ("AccessDeniedException", 400)
    assert "kms:CreateKey" in message
    with pytest.raises(ClientError) as info:
        alice.describe_key(KeyId=key["KeyId"])
    assert client_error(info)[0] == "AccessDeniedException"
    assert key["Arn"] in client_error(info)[2]
    with pytest.raises(ClientError) as info:
        alice.describe_key(KeyId="no-such-key")  # denied, not told it does not exist
    assert client_error(info)[0] == "AccessDeniedException"


def test_a_user_allowed_kms_actions_on_one_key_may_use_that_key_only(
        packyard: InProcessPackyard, kms: Any) -> None:
    mine = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]
    alice = _user(packyard, "kms:DescribeKey", "kms:RotateKeyOnDemand", resource=mine["Arn"])
    assert alice.describe_key(KeyId=mine["KeyId"])["KeyMetadata"]["Arn"] == mine["Arn"]
    assert alice.rotate_key_on_demand(KeyId=mine["Arn"])["KeyId"] == mine["Arn"]
    with pytest.raises(ClientError) as info:
        alice.describe_key(KeyId=other["KeyId"])
    assert client_error(info)[0] == "AccessDeniedException"


def test_an_unsigned_kms_request_is_refused_before_its_body_is_read(
        packyard: InProcessPackyard) -> None:
    response = packyard.http.post("/", headers={"X-Amz-Target": "TrentService.ListKeys",
                                                "Content-Type": "application/x-amz-json-1.1"},
                                  content=b"{}")
    assert response.status_code == 400
    assert response.json()["__type"] == "MissingAuthenticationTokenException"


def test_a_kms_body_over_64_kib_is_refused(packyard: InProcessPackyard) -> None:
    body = json.dumps({"Description": "x" * 70_000}).encode()
    response = packyard.signed("POST", "/", body=body, service="kms", headers={
        "X-Amz-Target": "TrentService.CreateKey",
        "Content-Type": "application/x-amz-json-1.1"})
    assert response.status_code == 400
    assert response.json() == {"__type": "ValidationException",
                               "message": "Request body larger than 65536 bytes"}


def test_iam_still_answers_at_the_same_path(packyard: InProcessPackyard, kms: Any) -> None:
    kms.list_keys()
    assert packyard.iam().list_users()["Users"] == []


def test_without_the_local_keyring_kms_says_where_keys_are_made() -> None:
    principal = root_principal(DEFAULT_ACCOUNT)
    off = KmsService.on(None, Mock(), DEFAULT_ACCOUNT, DEFAULT_REGION)
    with pytest.raises(UnsupportedOperation) as info:
        off.list_keys(principal)
    assert info.value.message == ("PACKYARD_ENCRYPTION=off: this server keeps no keys (set it "
                                  "to on, the default)")
    transit = KmsService.on(Mock(name="transit", spec=["name"]), Mock(), DEFAULT_ACCOUNT,
                            DEFAULT_REGION)
    transit._keyring = None  # noqa: SLF001 - what on() makes of a provider that is not local
    with pytest.raises(UnsupportedOperation):
        transit.create_key(principal, "", None, None)
