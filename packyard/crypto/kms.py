"""AWS KMS as the key provider, through a boto3 ``kms`` client.

Calls, as the AWS KMS API Reference defines them: ``GenerateDataKey`` (``KeySpec=AES_256`` and the
blob's ``EncryptionContext``), ``Encrypt`` (a data key made elsewhere, same context), ``Decrypt`` and ``ReEncrypt`` (with the same context, and the key id
named, which the reference recommends for symmetric keys), ``DescribeKey``, ``ListAliases``,
``CreateKey``/``CreateAlias`` and ``RotateKeyOnDemand``. KMS authenticates the encryption context
itself: a ciphertext blob decrypted with another context fails with
``InvalidCiphertextException``. KMS keeps a key's versions (backing keys) to itself and decrypts
with whichever one encrypted, so ``key_version`` is None here and rotation is AWS's.

KMS errors become ours: ``NotFoundException`` → ``UnknownKey``; ``InvalidCiphertextException`` and
``IncorrectKeyException`` → ``TamperedKey``; ``AccessDeniedException`` → ``KeyRefused`` (a
``KeyUnavailable`` that ``create-domain`` answers as the caller's ``ValidationException``);
``DisabledException``, ``KMSInvalidStateException`` (pending deletion) and every other refusal →
``KeyUnavailable``, naming the key, the fix and KMS's own message. No answer (refused, timed out)
and KMS's "try again" answers (throttling, its internal errors, any 5xx) → ``KeyProviderSilent``
(also ``Unavailable``: 503 with Retry-After). botocore's own retries are off and its timeouts
are ours (``kms_client``): its defaults (60 s read timeout, five attempts with back-off) held
each request for seconds with KMS down and for minutes with KMS hung. After a call gets no
answer, the calls of the next few seconds fail at once (``silence.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as NoConnection

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import (
    KeyProviderSilent,
    KeyRefused,
    KeyUnavailable,
    TamperedKey,
    UnknownKey,
    UnusableKey,
)
from packyard.crypto.keys import DataKey, KeyDescription, WrappedKey, check_data_key
from packyard.crypto.silence import ProviderSilence

_TAMPERED = {"InvalidCiphertextException", "IncorrectKeyException"}
# KMS's answers that mean "not now": the same request may work in a moment.
_TRY_AGAIN = {"ThrottlingException", "KMSInternalException", "DependencyTimeoutException",
              "KeyUnavailableException"}
# What the server's credentials need on a domain's key.
_ACTIONS = "kms:Decrypt, kms:GenerateDataKey, kms:Encrypt, kms:ReEncrypt* and kms:DescribeKey"


def kms_client(region: str | None, endpoint_url: str | None, *,
               timeout_seconds: float = 10.0) -> Any:
    """A botocore ``kms`` client with the credentials of botocore's chain that waits at most
    ``timeout_seconds`` for a connection or an answer, once: a request that waits on KMS is
    answered 503 (try again) after one timeout, not after botocore's back-off and retries."""
    import botocore.session

    return botocore.session.get_session().create_client(
        "kms", region_name=region, endpoint_url=endpoint_url,
        config=Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds,
                      retries={"total_max_attempts": 1, "mode": "standard"}))


def _refusal(code: str, message: str, key_ref: str) -> str:
    """What KMS's refusal says, the fix first (the status line twine and pip show is short)."""
    if code == "DisabledException":
        return (f"KMS key {key_ref} is disabled: enable it (aws kms enable-key --key-id "
                f"{key_ref}); until then its files cannot be read nor new ones written")
    if code == "KMSInvalidStateException" and "pending deletion" in message:
        return (f"KMS key {key_ref} is pending deletion: cancel that (aws kms "
                f"cancel-key-deletion --key-id {key_ref}) and enable it, or its files are lost")
    if code == "KMSInvalidStateException":
        return (f"KMS key {key_ref} is not in a state that allows this ({message}): if it is "
                f"pending deletion, cancel that (aws kms cancel-key-deletion --key-id {key_ref})")
    if code == "AccessDeniedException":
        return (f"KMS key {key_ref} may not be used by this server's AWS credentials: allow "
                f"{_ACTIONS} on it to them ({message})")
    return f"KMS key {key_ref} failed with {code or 'an error'}: {message}"


class KmsKeyProvider:
    """KEKs in AWS KMS (or anything that speaks its API)."""

    name = "kms"
    supports_aliases = True

    def __init__(self, client: Any, *, quiet_seconds: float = 3.0) -> None:
        self._client = client
        endpoint = getattr(getattr(client, "meta", None), "endpoint_url", "its endpoint")
        self._silence = ProviderSilence("KMS", endpoint, quiet_seconds=quiet_seconds)

    def _call(self, operation: str, key_ref: str, **params: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)
        self._silence.check()
        try:
            return self._ask(method, key_ref, **params)
        finally:
            self._silence.done()

    def _ask(self, method: Callable[..., dict[str, Any]], key_ref: str,
             **params: Any) -> dict[str, Any]:
        try:
            answer = method(**params)
        except ClientError as e:
            self._silence.answered()
            error = e.response.get("Error", {})
            code, message = error.get("Code", ""), " ".join(error.get("Message", "").split())
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code == "NotFoundException":
                raise UnknownKey(f"No KMS key {key_ref!r}", resource_id=key_ref,
                                 resource_type="key") from None
            if code in _TAMPERED:
                raise TamperedKey(f"A wrapped key of KMS key {key_ref} does not decrypt under "
                                  f"its encryption context ({code})") from None
            if code in _TRY_AGAIN or status >= 500:
                raise KeyProviderSilent(f"KMS could not answer for key {key_ref} now "
                                        f"({code or status}: {message})") from None
            refused = KeyRefused if code == "AccessDeniedException" else KeyUnavailable
            raise refused(_refusal(code, message, key_ref), resource_id=key_ref,
                          resource_type="key") from None
        except (NoConnection, HTTPClientError) as e:  # refused, reset, timed out
            raise self._silence.no_answer(str(e)) from None
        except NoCredentialsError:
            raise KeyUnavailable("KMS cannot be called: botocore found no AWS credentials; give "
                                 "the server some (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                 "AWS_PROFILE, or an instance or task role)") from None
        except BotoCoreError as e:
            raise KeyUnavailable(f"KMS could not be called for key {key_ref}: {e}") from None
        self._silence.answered()
        return answer

    def _describe(self, metadata: dict[str, Any], aliases: tuple[str, ...]) -> KeyDescription:
        spec = metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
        usage = metadata.get("KeyUsage")
        if spec not in (None, "SYMMETRIC_DEFAULT") or usage not in (None, "ENCRYPT_DECRYPT"):
            raise UnusableKey(
                f"KMS key {metadata['Arn']} is not a symmetric encryption key ({spec}, {usage}), "
                "so it cannot make data keys: use one made with KeySpec SYMMETRIC_DEFAULT and "
                "KeyUsage ENCRYPT_DECRYPT", resource_id=metadata["Arn"], resource_type="key")
        return KeyDescription(
            key_id=metadata["Arn"], provider=self.name,
            enabled=bool(metadata.get("Enabled")) and metadata.get("KeyState") == "Enabled",
            current_version=None, versions=(), aliases=aliases, arn=metadata["Arn"],
            description=metadata.get("Description", ""), created_at=metadata.get("CreationDate"),
            state=metadata.get("KeyState"))

    def create_key(self, *, description: str = "", alias: str | None = None) -> KeyDescription:
        metadata = self._call("create_key", "(new)", Description=description,
                              KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
        if alias is not None:
            self._call("create_alias", alias, AliasName=alias, TargetKeyId=metadata["KeyId"])
        return self._describe(metadata, (alias,) if alias else ())

    def describe_key(self, key_ref: str) -> KeyDescription:
        metadata = self._call("describe_key", key_ref, KeyId=key_ref)["KeyMetadata"]
        aliases = self._call("list_aliases", key_ref, KeyId=metadata["KeyId"]).get("Aliases", [])
        return self._describe(metadata, tuple(sorted(a["AliasName"] for a in aliases)))

    def generate_data_key(self, key_ref: str, context: EncryptionContext) -> DataKey:
        answer = self._call("generate_data_key", key_ref, KeyId=key_ref, KeySpec="AES_256",
                            EncryptionContext=context.kms_context())
        # KMS answers with the key's ARN whatever named it: that is what the catalog keeps.
        return DataKey(check_data_key(answer["Plaintext"], self.name),
                       WrappedKey(answer["KeyId"], None, answer["CiphertextBlob"]))

    def wrap_data_key(self, key_ref: str, plaintext: bytes,
                      context: EncryptionContext) -> WrappedKey:
        answer = self._call("encrypt", key_ref, KeyId=key_ref,
                            Plaintext=check_data_key(plaintext, self.name),
                            EncryptionContext=context.kms_context())
        return WrappedKey(answer["KeyId"], None, answer["CiphertextBlob"])

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        answer = self._call("decrypt", wrapped.key_id, CiphertextBlob=wrapped.ciphertext,
                            EncryptionContext=context.kms_context(), KeyId=wrapped.key_id)
        return check_data_key(answer["Plaintext"], self.name)

    def rewrap(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        # ReEncrypt to the same key re-encrypts under its current backing key, inside KMS.
        answer = self._call("re_encrypt", wrapped.key_id, CiphertextBlob=wrapped.ciphertext,
                            SourceEncryptionContext=context.kms_context(),
                            SourceKeyId=wrapped.key_id, DestinationKeyId=wrapped.key_id,
                            DestinationEncryptionContext=context.kms_context())
        return WrappedKey(answer["KeyId"], None, answer["CiphertextBlob"])

    def rotate(self, key_ref: str) -> KeyDescription:
        self._call("rotate_key_on_demand", key_ref, KeyId=key_ref)
        return self.describe_key(key_ref)
