"""A small AWS KMS for tests that need one on the network (botocore's retries, timeouts and
connection pool at work); tests/relay.py stops or hangs the way to it.

Packyard's own KMS endpoint serves key management only (no ``GenerateDataKey``/``Decrypt``), so
the server under test cannot use another Packyard as its KMS. This one speaks KMS's JSON 1.1
protocol (``X-Amz-Target: TrentService.<Operation>``) for the calls ``KmsKeyProvider`` makes,
and the states a key can be put in (disabled, pending deletion, deleted, denied to these
credentials, asymmetric), answering with KMS's documented error codes. It does not check
signatures: botocore signs, nothing here verifies.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

REGION, ACCOUNT = "us-east-1", "111122223333"


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Key:
    key_id: str
    material: bytes
    spec: str = "SYMMETRIC_DEFAULT"
    state: str = "Enabled"
    denied: bool = False
    aliases: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.key_id}"


class FakeKms:
    """KMS on 127.0.0.1 (``url``); keys made with ``create_key`` and put in states by name."""

    def __init__(self, port: int = 0) -> None:
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = self.headers.get("X-Amz-Target", "").removeprefix("TrentService.")
                try:
                    status, answer = 200, fake.answer(operation, json.loads(body or b"{}"))
                except _Refusal as e:
                    status, answer = 400, {"__type": e.code, "message": e.message}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the test's side -----------------------------------------------------------------------

    def create_key(self, *, spec: str = "SYMMETRIC_DEFAULT", alias: str | None = None) -> str:
        """A new key's ARN."""
        key = _Key(str(uuid.uuid4()), os.urandom(32), spec=spec)
        if alias is not None:
            key.aliases.append(alias)
        with self._lock:
            self._keys[key.key_id] = key
        return key.arn

    def set_state(self, ref: str, state: str) -> None:
        """``Enabled``, ``Disabled`` or ``PendingDeletion``."""
        self._find(ref).state = state

    def deny(self, ref: str) -> None:
        """These credentials lose every ``kms:`` action on the key (AccessDeniedException)."""
        self._find(ref).denied = True

    def delete(self, ref: str) -> None:
        """Deleted at the end of its waiting period: KMS no longer knows it."""
        key = self._find(ref)
        with self._lock:
            del self._keys[key.key_id]

    # -- KMS's side ----------------------------------------------------------------------------

    def _find(self, ref: str) -> _Key:
        with self._lock:
            for key in self._keys.values():
                if ref in (key.key_id, key.arn, *key.aliases):
                    return key
        raise _Refusal("NotFoundException", f"Key '{ref}' does not exist")

    def _usable(self, ref: str, action: str) -> _Key:
        key = self._find(ref)
        if key.denied:
            raise _Refusal("AccessDeniedException", (
                f"User: arn:aws:iam::{ACCOUNT}:user/packyard is not authorized to perform: "
                f"kms:{action} on resource: {key.arn} because no identity-based policy allows "
                f"the kms:{action} action"))
        if key.state == "Disabled":
            raise _Refusal("DisabledException", f"{key.arn} is disabled.")
        if key.state != "Enabled":
            raise _Refusal("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        if key.spec != "SYMMETRIC_DEFAULT":
            raise _Refusal("InvalidKeyUsageException",
                           f"{key.arn} key usage is SIGN_VERIFY which is not valid for {action}.")
        return key

    @staticmethod
    def _seal(key: _Key, plaintext: bytes, context: dict[str, str]) -> str:
        nonce = os.urandom(12)
        aad = json.dumps(context, sort_keys=True).encode()
        blob = key.key_id.encode() + nonce + AESGCM(key.material).encrypt(nonce, plaintext, aad)
        return base64.b64encode(blob).decode()

    def _open(self, blob_b64: str, context: dict[str, str], action: str) -> tuple[_Key, bytes]:
        blob = base64.b64decode(blob_b64)
        key = self._usable(blob[:36].decode(errors="replace"), action)
        aad = json.dumps(context, sort_keys=True).encode()
        try:
            return key, AESGCM(key.material).decrypt(blob[36:48], blob[48:], aad)
        except Exception:  # noqa: BLE001 - InvalidTag and friends
            raise _Refusal("InvalidCiphertextException", "") from None

    def _metadata(self, key: _Key) -> dict[str, Any]:
        return {"AWSAccountId": ACCOUNT, "KeyId": key.key_id, "Arn": key.arn,
                "CreationDate": datetime.now(UTC).timestamp(),
                "Enabled": key.state == "Enabled", "KeyState": key.state,
                "KeySpec": key.spec, "CustomerMasterKeySpec": key.spec,
                "KeyUsage": "ENCRYPT_DECRYPT" if key.spec == "SYMMETRIC_DEFAULT"
                else "SIGN_VERIFY", "Description": "", "KeyManager": "CUSTOMER"}

    def answer(self, operation: str, p: dict[str, Any]) -> dict[str, Any]:
        context = p.get("EncryptionContext") or {}
        if operation == "DescribeKey":
            key = self._find(p["KeyId"])
            if key.denied:
                self._usable(p["KeyId"], "DescribeKey")
            return {"KeyMetadata": self._metadata(key)}
        if operation == "ListAliases":
            key = self._find(p["KeyId"])
            return {"Aliases": [{"AliasName": a, "TargetKeyId": key.key_id}
                                for a in key.aliases], "Truncated": False}
        if operation == "GenerateDataKey":
            key = self._usable(p["KeyId"], "GenerateDataKey")
            plaintext = os.urandom(32)
            return {"KeyId": key.arn, "Plaintext": base64.b64encode(plaintext).decode(),
                    "CiphertextBlob": self._seal(key, plaintext, context)}
        if operation == "Encrypt":
            key = self._usable(p["KeyId"], "Encrypt")
            return {"KeyId": key.arn, "CiphertextBlob": self._seal(
                key, base64.b64decode(p["Plaintext"]), context)}
        if operation == "Decrypt":
            key, plaintext = self._open(p["CiphertextBlob"], context, "Decrypt")
            if p.get("KeyId") not in (None, key.key_id, key.arn, *key.aliases):
                raise _Refusal("IncorrectKeyException", "")
            return {"KeyId": key.arn, "Plaintext": base64.b64encode(plaintext).decode()}
        if operation == "ReEncrypt":
            key, plaintext = self._open(p["CiphertextBlob"], p.get("SourceEncryptionContext")
                                        or {}, "ReEncryptFrom")
            target = self._usable(p["DestinationKeyId"], "ReEncryptTo")
            return {"KeyId": target.arn, "SourceKeyId": key.arn, "CiphertextBlob": self._seal(
                target, plaintext, p.get("DestinationEncryptionContext") or {})}
        raise _Refusal("UnsupportedOperationException", f"{operation} is not in this fake")
