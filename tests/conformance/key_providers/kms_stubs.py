"""AWS KMS for the key-provider suite, as botocore's ``Stubber`` stands in for it: no moto, no
network, no fake server.

Each call the suite makes through ``StubbedKms`` first queues the answer the AWS KMS API Reference
documents for it, then calls the real ``KmsKeyProvider`` on a real boto3 client. What this proves
and what it does not:

- proven: every request the provider sends is valid for botocore's ``kms`` model (botocore
  validates the parameters before the stub answers) and carries exactly the parameters expected
  here (``expected_params``: key id, ``KeySpec``, the encryption context); every answer the
  provider reads is one the model allows (``Stubber`` validates scripted answers against the
  output shapes); the provider turns each documented answer and error into the right result
  or error of ours.
- not proven: that KMS itself refuses a wrong context or a foreign ciphertext. The answers for
  those cases (``InvalidCiphertextException``, ``IncorrectKeyException``, ``DisabledException``)
  are scripted here from the documentation, the way ``_answer_decrypt`` reads.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from packyard.crypto.context import EncryptionContext
from packyard.crypto.keys import DataKey, KeyDescription, WrappedKey
from packyard.crypto.kms import KmsKeyProvider

REGION, ACCOUNT = "us-east-1", "111122223333"


@dataclass
class _Key:
    key_id: str
    description: str
    enabled: bool = True
    aliases: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.key_id}"


@dataclass(frozen=True)
class _Blob:
    arn: str
    plaintext: bytes
    context: dict[str, str]


class StubbedKms:
    """The provider under test plus the scripted KMS answers, one queued before each call."""

    name = "kms"

    def __init__(self) -> None:
        # Credentials are required to sign; nothing is ever sent.
        client = boto3.client("kms", region_name=REGION, aws_access_key_id="AKIDEXAMPLE",
                              aws_secret_access_key="secret")
        self.stubber = Stubber(client)
        self.stubber.activate()
        self.provider = KmsKeyProvider(client)
        self._keys: dict[str, _Key] = {}
        self._blobs: dict[bytes, _Blob] = {}

    @property
    def supports_aliases(self) -> bool:
        return True

    def _find(self, ref: str) -> _Key | None:
        for key in self._keys.values():
            if ref in (key.key_id, key.arn, *key.aliases):
                return key
        return None

    def _error(self, operation: str, code: str, params: dict[str, Any]) -> None:
        self.stubber.add_client_error(operation, service_error_code=code,
                                      service_message=f"scripted {code}", http_status_code=400,
                                      expected_params=params)

    def _metadata(self, key: _Key) -> dict[str, Any]:
        return {"KeyId": key.key_id, "Arn": key.arn, "AWSAccountId": ACCOUNT,
                "CreationDate": datetime(2025, 1, 1, tzinfo=UTC), "Enabled": key.enabled,
                "Description": key.description,
                "KeyState": "Enabled" if key.enabled else "Disabled",
                "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}

    def _new_blob(self, key: _Key, plaintext: bytes, context: EncryptionContext) -> bytes:
        blob = os.urandom(184)  # the size of a real KMS CiphertextBlob for a 32-byte key
        self._blobs[blob] = _Blob(key.arn, plaintext, context.kms_context())
        return blob

    # -- the KeyProvider calls, each after its scripted answer ---------------------------------

    def create_key(self, *, description: str = "", alias: str | None = None) -> KeyDescription:
        key = _Key(str(uuid.uuid4()), description)
        self._keys[key.key_id] = key
        self.stubber.add_response("create_key", {"KeyMetadata": self._metadata(key)},
                                  {"Description": description, "KeyUsage": "ENCRYPT_DECRYPT",
                                   "KeySpec": "SYMMETRIC_DEFAULT"})
        if alias is not None:
            key.aliases.append(alias)
            self.stubber.add_response("create_alias", {},
                                      {"AliasName": alias, "TargetKeyId": key.key_id})
        return self.provider.create_key(description=description, alias=alias)

    def _queue_describe(self, ref: str) -> None:
        key = self._find(ref)
        if key is None:
            self._error("describe_key", "NotFoundException", {"KeyId": ref})
            return
        self.stubber.add_response("describe_key", {"KeyMetadata": self._metadata(key)},
                                  {"KeyId": ref})
        self.stubber.add_response(
            "list_aliases",
            {"Aliases": [{"AliasName": a, "AliasArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:{a}",
                          "TargetKeyId": key.key_id} for a in key.aliases]},
            {"KeyId": key.key_id})

    def describe_key(self, key_ref: str) -> KeyDescription:
        self._queue_describe(key_ref)
        return self.provider.describe_key(key_ref)

    def generate_data_key(self, key_ref: str, context: EncryptionContext) -> DataKey:
        params = {"KeyId": key_ref, "KeySpec": "AES_256",
                  "EncryptionContext": context.kms_context()}
        key = self._find(key_ref)
        if key is None:
            self._error("generate_data_key", "NotFoundException", params)
        elif not key.enabled:
            self._error("generate_data_key", "DisabledException", params)
        else:
            plaintext = os.urandom(32)
            self.stubber.add_response("generate_data_key", {
                "CiphertextBlob": self._new_blob(key, plaintext, context),
                "Plaintext": plaintext, "KeyId": key.arn}, params)
        return self.provider.generate_data_key(key_ref, context)

    def wrap_data_key(self, key_ref: str, plaintext: bytes,
                      context: EncryptionContext) -> WrappedKey:
        params = {"KeyId": key_ref, "Plaintext": plaintext,
                  "EncryptionContext": context.kms_context()}
        key = self._find(key_ref)
        if key is None:
            self._error("encrypt", "NotFoundException", params)
        elif not key.enabled:
            self._error("encrypt", "DisabledException", params)
        else:
            self.stubber.add_response("encrypt", {
                "CiphertextBlob": self._new_blob(key, plaintext, context), "KeyId": key.arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, params)
        return self.provider.wrap_data_key(key_ref, plaintext, context)

    def _answer_decrypt(self, operation: str, wrapped: WrappedKey, context: EncryptionContext,
                        params: dict[str, Any]) -> _Blob | None:
        """Queue KMS's documented error for this decryption, or return the blob it opens."""
        key, blob = self._find(wrapped.key_id), self._blobs.get(wrapped.ciphertext)
        if key is None:
            self._error(operation, "NotFoundException", params)
        elif not key.enabled:
            self._error(operation, "DisabledException", params)
        elif blob is None or blob.context != context.kms_context():
            self._error(operation, "InvalidCiphertextException", params)
        elif blob.arn != key.arn:
            self._error(operation, "IncorrectKeyException", params)
        else:
            return blob
        return None

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        params = {"CiphertextBlob": wrapped.ciphertext, "KeyId": wrapped.key_id,
                  "EncryptionContext": context.kms_context()}
        blob = self._answer_decrypt("decrypt", wrapped, context, params)
        if blob is not None:
            self.stubber.add_response("decrypt", {"Plaintext": blob.plaintext, "KeyId": blob.arn,
                                                  "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                                      params)
        return self.provider.decrypt_data_key(wrapped, context)

    def rewrap(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        params = {"CiphertextBlob": wrapped.ciphertext, "SourceKeyId": wrapped.key_id,
                  "DestinationKeyId": wrapped.key_id,
                  "SourceEncryptionContext": context.kms_context(),
                  "DestinationEncryptionContext": context.kms_context()}
        blob = self._answer_decrypt("re_encrypt", wrapped, context, params)
        if blob is not None:
            key = self._find(blob.arn)
            assert key is not None
            self.stubber.add_response("re_encrypt", {
                "CiphertextBlob": self._new_blob(key, blob.plaintext, context),
                "SourceKeyId": blob.arn, "KeyId": blob.arn}, params)
        return self.provider.rewrap(wrapped, context)

    def rotate(self, key_ref: str) -> KeyDescription:
        key = self._find(key_ref)
        if key is None:
            self._error("rotate_key_on_demand", "NotFoundException", {"KeyId": key_ref})
        else:
            self.stubber.add_response("rotate_key_on_demand", {"KeyId": key.key_id},
                                      {"KeyId": key_ref})
            self._queue_describe(key_ref)
        return self.provider.rotate(key_ref)

    # -- what the suite does to a key outside the provider interface ---------------------------

    def disable(self, key_ref: str) -> None:
        key = self._find(key_ref)
        assert key is not None
        key.enabled = False

    def deny(self, operation: str, params: dict[str, Any]) -> None:
        """Script an ``AccessDeniedException`` for the next ``operation``."""
        self._error(operation, "AccessDeniedException", params)

    def close(self) -> None:
        self.stubber.assert_no_pending_responses()
        self.stubber.deactivate()
