"""The KMS API subset with the real AWS CLI, as a user runs it against ``packyard serve``:
``aws kms create-key`` makes the key that ``aws codeartifact create-domain --encryption-key``
takes, and ``describe-domain`` and ``list-domains`` show it."""

from __future__ import annotations

from tests.integration.helpers import AwsCli


def test_aws_kms_create_key_makes_a_key_create_domain_accepts(aws: AwsCli) -> None:
    key = aws.json("kms", "create-key", "--description", "kms-cli")["KeyMetadata"]
    aws.run("kms", "create-alias", "--alias-name", "alias/kms-cli", "--target-key-id",
            key["KeyId"])
    aws.run("kms", "enable-key-rotation", "--key-id", "alias/kms-cli")
    assert aws.json("kms", "get-key-rotation-status", "--key-id", key["Arn"])[
        "KeyRotationEnabled"] is True
    created = aws.json("codeartifact", "create-domain", "--domain", "kms-cli",
                       "--encryption-key", "alias/kms-cli")["domain"]
    assert created["encryptionKey"] == key["Arn"]
    assert aws.json("codeartifact", "describe-domain", "--domain", "kms-cli")["domain"][
        "encryptionKey"] == key["Arn"]
    listed = aws.json("codeartifact", "list-domains")["domains"]
    assert {d["name"]: d["encryptionKey"] for d in listed}["kms-cli"] == key["Arn"]
    assert "alias/kms-cli" in {a["AliasName"] for a in aws.json("kms", "list-aliases")[
        "Aliases"]}


def test_aws_kms_with_an_unknown_key_says_so(aws: AwsCli) -> None:
    failed = aws.fails("codeartifact", "create-domain", "--domain", "kms-cli-unknown",
                       "--encryption-key", "alias/kms-cli-nope")
    assert "ResourceNotFoundException" in failed.stderr
    assert "No key 'alias/kms-cli-nope' in the keyring" in failed.stderr
    failed = aws.fails("kms", "describe-key", "--key-id", "alias/kms-cli-nope")
    assert "NotFoundException" in failed.stderr and "is not found" in failed.stderr
