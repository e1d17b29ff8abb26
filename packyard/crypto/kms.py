"""AWS KMS as the key provider, through a boto3 ``kms`` client.

Calls, as the AWS KMS API Reference defines them: ``GenerateDataKey`` (``KeySpec=AES_256`` and the
blob's ``EncryptionContext``), ``Encrypt`` (a data key made elsewhere, same context), ``Decrypt`` and ``ReEncrypt`` (with the same context, and the key id
named, which the reference recommends for symmetric keys), ``DescribeKey``, ``ListAliases``,
``CreateKey``/``CreateAlias`` and ``RotateKeyOnDemand``. KMS authenticates the encryption context
itself: a ciphertext blob decrypted with another context fails with
``InvalidCiphertextException``. KMS keeps a key's versions (backing keys) to itself and decrypts
with whichever one encrypted, so ``key_version`` is None here and rotation is AWS's.

KMS errors become ours: ``NotFoundException`` → ``UnknownKey``; ``InvalidCiphertextException`` and
``IncorrectKeyException`` → ``TamperedKey``; ``DisabledException``, ``AccessDeniedException``,
``KMSInvalidStateException`` (pending deletion, unavailable) and every other failure, answered or
not → ``KeyUnavailable``, naming the key and KMS's own message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from packyard.crypto.context import EncryptionContext
from packyard.crypto.errors import KeyUnavailable, TamperedKey, UnknownKey
from packyard.crypto.keys import DataKey, KeyDescription, WrappedKey, check_data_key

_TAMPERED = {"InvalidCiphertextException", "IncorrectKeyException"}
_WHY = {
    "DisabledException": "is disabled",
    "AccessDeniedException": "may not be used by this server's AWS credentials",
    "KMSInvalidStateException": "is not in a state that allows this (pending deletion?)",
    "KeyUnavailableException": "is unavailable right now",
}


class KmsKeyProvider:
    """KEKs in AWS KMS (or anything that speaks its API)."""

    name = "kms"
    supports_aliases = True

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, key_ref: str, **params: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)
        try:
            return method(**params)
        except ClientError as e:
            error = e.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            if code == "NotFoundException":
                raise UnknownKey(f"No KMS key {key_ref!r}", resource_id=key_ref,
                                 resource_type="key") from None
            if code in _TAMPERED:
                raise TamperedKey(f"A wrapped key of KMS key {key_ref} does not decrypt under "
                                  f"its encryption context ({code})") from None
            why = _WHY.get(code, f"failed with {code or 'an error'}")
            raise KeyUnavailable(f"KMS key {key_ref} {why}: {message}", resource_id=key_ref,
                                 resource_type="key") from None
        except BotoCoreError as e:
            raise KeyUnavailable(f"KMS did not answer for key {key_ref}: {e}") from None

    def _describe(self, metadata: dict[str, Any], aliases: tuple[str, ...]) -> KeyDescription:
        return KeyDescription(
            key_id=metadata["Arn"], provider=self.name,
            enabled=bool(metadata.get("Enabled")) and metadata.get("KeyState") == "Enabled",
            current_version=None, versions=(), aliases=aliases, arn=metadata["Arn"],
            description=metadata.get("Description", ""), created_at=metadata.get("CreationDate"))

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
