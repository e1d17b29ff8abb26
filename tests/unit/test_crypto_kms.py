"""The AWS KMS provider's own handling of KMS's answers, through botocore's ``Stubber`` (every
case here is stub-based: botocore checks our requests against its ``kms`` model and the scripted
answers against the output shapes; the answers themselves are KMS's documented ones)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyRefused, KeyUnavailable, TamperedKey, UnknownKey
from packyard.crypto.keys import WrappedKey
from packyard.crypto.kms import KmsKeyProvider

CONTEXT = EncryptionContext("d1", "e5" * 32)
ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GENERATE = {"KeyId": "alias/d1", "KeySpec": "AES_256",
            "EncryptionContext": {"packyard:domain": "d1", "packyard:sha256": "e5" * 32}}
WRAPPED = WrappedKey(ARN, None, b"\x01" * 184)
DECRYPT = {"CiphertextBlob": WRAPPED.ciphertext, "KeyId": ARN,
           "EncryptionContext": GENERATE["EncryptionContext"]}


@pytest.fixture()
def kms() -> Iterator[tuple[KmsKeyProvider, Stubber]]:
    client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret")
    with Stubber(client) as stubber:
        yield KmsKeyProvider(client), stubber
        stubber.assert_no_pending_responses()


def _error(stubber: Stubber, operation: str, code: str, params: dict[str, Any]) -> None:
    stubber.add_client_error(operation, service_error_code=code, service_message=f"KMS: {code}",
                             http_status_code=400, expected_params=params)


def test_generate_data_key_sends_the_spec_and_context_and_keeps_the_arn(
        kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    stubber.add_response("generate_data_key", {"CiphertextBlob": b"\x02" * 184,
                                               "Plaintext": b"k" * 32, "KeyId": ARN}, GENERATE)
    data_key = provider.generate_data_key("alias/d1", CONTEXT)
    assert data_key.wrapped == WrappedKey(ARN, None, b"\x02" * 184)
    assert data_key.plaintext == b"k" * 32


def test_a_data_key_that_is_not_256_bits_is_refused(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    stubber.add_response("generate_data_key", {"CiphertextBlob": b"\x02" * 184,
                                               "Plaintext": b"k" * 16, "KeyId": ARN}, GENERATE)
    with pytest.raises(KeyUnavailable, match="16-byte data key"):
        provider.generate_data_key("alias/d1", CONTEXT)


def test_access_denied_is_key_unavailable_naming_the_key(kms: tuple[KmsKeyProvider, Stubber]
                                                         ) -> None:
    provider, stubber = kms
    _error(stubber, "generate_data_key", "AccessDeniedException", GENERATE)
    with pytest.raises(KeyRefused, match=r"alias/d1 may not be used by this server's AWS "
                                         r"credentials: allow kms:Decrypt, .* \(KMS: "
                                         r"AccessDeniedException\)"):
        provider.generate_data_key("alias/d1", CONTEXT)


def test_access_denied_on_decrypt_too(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    _error(stubber, "decrypt", "AccessDeniedException", DECRYPT)
    with pytest.raises(KeyUnavailable, match="credentials"):
        provider.decrypt_data_key(WRAPPED, CONTEXT)


def test_a_disabled_key_is_key_unavailable(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    _error(stubber, "decrypt", "DisabledException", DECRYPT)
    with pytest.raises(KeyUnavailable, match="is disabled"):
        provider.decrypt_data_key(WRAPPED, CONTEXT)


def test_a_key_pending_deletion_is_key_unavailable(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    _error(stubber, "generate_data_key", "KMSInvalidStateException", GENERATE)
    with pytest.raises(KeyUnavailable, match="pending deletion"):
        provider.generate_data_key("alias/d1", CONTEXT)


@pytest.mark.parametrize("code", ["InvalidCiphertextException", "IncorrectKeyException"])
def test_a_ciphertext_kms_refuses_is_a_tampered_key(kms: tuple[KmsKeyProvider, Stubber],
                                                    code: str) -> None:
    provider, stubber = kms
    _error(stubber, "decrypt", code, DECRYPT)
    with pytest.raises(TamperedKey, match=code):
        provider.decrypt_data_key(WRAPPED, CONTEXT)


def test_an_unknown_key_is_unknown(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    _error(stubber, "describe_key", "NotFoundException", {"KeyId": "alias/none"})
    with pytest.raises(UnknownKey):
        provider.describe_key("alias/none")


def test_an_unreachable_kms_is_key_unavailable() -> None:
    class Unreachable:
        def decrypt(self, **params: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com/")

    with pytest.raises(KeyUnavailable, match="did not answer"):
        KmsKeyProvider(Unreachable()).decrypt_data_key(WRAPPED, CONTEXT)


def test_describe_reports_state_and_aliases(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    provider, stubber = kms
    stubber.add_response("describe_key", {"KeyMetadata": {
        "KeyId": ARN.rsplit("/", 1)[1], "Arn": ARN, "Enabled": False, "KeyState": "Disabled",
        "Description": "domain d1"}}, {"KeyId": ARN})
    stubber.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/d1"}]},
                         {"KeyId": ARN.rsplit("/", 1)[1]})
    described = provider.describe_key(ARN)
    assert (described.key_id, described.enabled, described.aliases, described.description) == (
        ARN, False, ("alias/d1",), "domain d1")
    assert described.current_version is None and described.versions == ()


# -- the default key with PACKYARD_KEY_PROVIDER=kms ------------------------------------------


def test_kms_with_the_aws_managed_default_key_is_refused_at_start() -> None:
    from packyard.settings import load_settings

    with pytest.raises(ValueError) as refused:
        load_settings({"PACKYARD_KEY_PROVIDER": "kms"})
    assert str(refused.value) == (
        "PACKYARD_KEY_PROVIDER=kms needs PACKYARD_DEFAULT_ENCRYPTION_KEY set to a customer "
        "managed KMS key (its ARN, alias or id) that these credentials may use for "
        "GenerateDataKey and Decrypt: alias/aws/codeartifact is an AWS managed key, usable "
        "only by the AWS service that owns it")


def test_kms_with_any_aws_managed_alias_as_default_is_refused() -> None:
    from packyard.settings import load_settings

    with pytest.raises(ValueError, match="alias/aws/s3 is an AWS managed key"):
        load_settings({"PACKYARD_KEY_PROVIDER": "kms",
                       "PACKYARD_DEFAULT_ENCRYPTION_KEY": "alias/aws/s3"})


def test_kms_with_a_customer_managed_default_key_starts() -> None:
    from packyard.settings import load_settings

    settings = load_settings({"PACKYARD_KEY_PROVIDER": "kms",
                              "PACKYARD_DEFAULT_ENCRYPTION_KEY": "alias/packyard"})
    assert settings.default_encryption_key == "alias/packyard"
    assert load_settings({"PACKYARD_KEY_PROVIDER": "kms", "PACKYARD_DEFAULT_ENCRYPTION_KEY":
                          ARN}).default_encryption_key == ARN


def test_kms_default_key_is_not_checked_with_encryption_off() -> None:
    from packyard.settings import load_settings

    settings = load_settings({"PACKYARD_KEY_PROVIDER": "kms", "PACKYARD_ENCRYPTION": "off"})
    assert settings.encryption == "off"


def test_regression_no_aws_credentials_is_said_as_such_not_as_kms_silent() -> None:
    # Was: "KMS did not answer for key …: Unable to locate credentials": botocore never called
    # KMS, and with KMS's silence now a 503 (try again) the client would retry in vain.
    from botocore.exceptions import NoCredentialsError

    from packyard.crypto.errors import KeyProviderSilent

    class NoCredentials:
        def decrypt(self, **params: Any) -> dict[str, Any]:
            raise NoCredentialsError()

    with pytest.raises(KeyUnavailable, match="found no AWS credentials") as refused:
        KmsKeyProvider(NoCredentials()).decrypt_data_key(WRAPPED, CONTEXT)
    assert not isinstance(refused.value, KeyProviderSilent)


def test_kms_throttling_is_a_try_again(kms: tuple[KmsKeyProvider, Stubber]) -> None:
    from packyard.crypto.errors import KeyProviderSilent

    provider, stubber = kms
    _error(stubber, "decrypt", "ThrottlingException", DECRYPT)
    with pytest.raises(KeyProviderSilent, match="ThrottlingException"):
        provider.decrypt_data_key(WRAPPED, CONTEXT)
