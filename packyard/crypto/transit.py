"""HashiCorp Vault / OpenBao transit as the key provider, over its HTTP API (httpx).

The KEKs never leave the server: transit makes each data key (``POST transit/datakey/plaintext/
<key>``), wraps one made elsewhere (``transit/encrypt``) and unwraps (``transit/decrypt``), re-wraps (``transit/rewrap``) and rotates
(``transit/keys/<key>/rotate``) on our behalf ("Transit secrets engine (API)" in the Vault and
OpenBao docs). Keys are created *derived* (``derived=true``): transit then derives a key per
``context`` (HKDF-SHA256 of the KEK and the context), and we pass the blob's domain and sha256
as that context, so a wrapped key only unwraps for its own blob. A key that is not derived is
refused, since it would unwrap a data key copied to any blob's row.

Transit has no aliases: a key is named by its name, which ``create_key`` makes up
(``packyard-<hex>``) unless the operator made the key beforehand. The wrapped form is transit's
own ciphertext string (``vault:v<version>:<base64>``), which carries its key version.

Errors as transit answers them (``{"errors": [...]}``): 403 → ``KeyRefused`` (a
``KeyUnavailable``); "encryption key not found" (400) or 404 → ``UnknownKey``; "message
authentication failed" / "invalid ciphertext" (400) → ``TamperedKey``; no answer (refused, timed
out) → ``KeyProviderSilent`` (also ``Unavailable``: 503, try again), as is an answer that it
cannot now (429, or 5xx: sealed, a standby, failing inside); anything else →
``KeyUnavailable``. After a call gets no answer, the calls of the next few seconds fail at
once with the same reason, so requests queued behind a hung transit are not each held for a
timeout of their own; the outage's start and end are logged once (``silence.py``).
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

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
from packyard.errors import Invalid

_VERSION = re.compile(rb"vault:v(\d+):")
_MULTI_ERROR = re.compile(r"\d+ errors? occurred:\s*\n\t\* (.*)", re.DOTALL)
_KEY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _one_line(error: str) -> str:
    """One of transit's errors on one line: a multi-error ("1 error occurred:\n\t* permission
    denied\n\n") as its items, for the status line twine and pip show."""
    items = _MULTI_ERROR.fullmatch(error.strip())
    if items is not None:
        return "; ".join(item.strip() for item in items.group(1).split("\t* ") if item.strip())
    return " ".join(error.split())


def _read_token(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def _refusal(method: str, path: str, status: int, reason: str, key: str,
             token_file: Path | None) -> str:
    """What a refusal says, with the fix for those an operator meets (short enough for the
    status line twine and pip show)."""
    if status == 403 and token_file is not None:
        return (f"Transit refused {method} {path} (403 {reason}): the token in "
                f"PACKYARD_TRANSIT_TOKEN_FILE expired, was revoked or may not use key {key}; "
                "write a new one there (read again on the next refusal)")
    if status == 403:
        return (f"Transit refused {method} {path} (403 {reason}): PACKYARD_TRANSIT_TOKEN "
                f"expired, was revoked or may not use key {key}; give the server a new token "
                "(read at start; PACKYARD_TRANSIT_TOKEN_FILE is read again)")
    if "disallowed by policy (too old)" in reason:
        return (f"Transit key {key} no longer decrypts this data key's version "
                "(min_decryption_version was raised past it): lower it again, then run "
                "`packyard keys rotate --domain <domain> --resume` to re-wrap every data key")
    return f"Transit refused {method} {path} ({status}): {reason}"


class TransitKeyProvider:
    """KEKs in a Vault or OpenBao transit mount."""

    name = "transit"
    supports_aliases = False

    def __init__(self, url: str, token: str, *, mount: str = "transit",
                 namespace: str | None = None, timeout_seconds: float = 10.0,
                 client: httpx.Client | None = None, token_file: Path | None = None) -> None:
        # A token file (a Vault / OpenBao agent's sink) is read now and again whenever transit
        # refuses the token it held: a renewed token is taken up without a restart.
        self._token_file = token_file
        if token_file is not None:
            token = _read_token(token_file)
        headers = {"X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._headers = headers
        self._base = f"{url.rstrip('/')}/v1/{mount.strip('/')}"
        self._silence = ProviderSilence("the transit server", self._base,
                                        quiet_seconds=min(3.0, timeout_seconds))

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, key: str, body: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        if not _KEY_NAME.fullmatch(key):
            raise UnknownKey(f"No transit key {key!r}", resource_id=key, resource_type="key")
        self._silence.check()
        try:
            response = self._client.request(method, f"{self._base}/{path}", json=body,
                                            headers=self._headers)
            if response.status_code == 403 and self._token_renewed():
                response = self._client.request(method, f"{self._base}/{path}", json=body,
                                                headers=self._headers)
        except httpx.HTTPError as e:
            raise self._silence.no_answer(str(e) or type(e).__name__) from None
        finally:
            self._silence.done()
        self._silence.answered()
        if response.is_success:
            answer: dict[str, Any] = response.json() if response.content else {}
            return answer.get("data") or {}
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = []
        reason = "; ".join(_one_line(str(e)) for e in errors) or response.reason_phrase
        if response.status_code == 404 or "encryption key not found" in reason:
            raise UnknownKey(f"No transit key {key!r}", resource_id=key, resource_type="key")
        if "message authentication failed" in reason or "invalid ciphertext" in reason:
            raise TamperedKey(f"A wrapped key of transit key {key} does not unwrap: {reason}")
        if response.status_code == 429 or response.status_code >= 500:
            # Sealed (503: a restarted Vault or OpenBao is sealed until unsealed), a standby
            # or one in maintenance, rate-limited (429) or failing inside: an outage of the
            # provider, as one that does not answer is, not a fault of this key.
            raise KeyProviderSilent(f"The transit server cannot answer now ({method} {path}: "
                                    f"{response.status_code} {reason}); try again shortly")
        refused = KeyRefused if response.status_code == 403 else KeyUnavailable
        raise refused(_refusal(method, path, response.status_code, reason, key,
                               self._token_file),
                      resource_id=key, resource_type="key")

    def _token_renewed(self) -> bool:
        """Whether the token file now holds another token than the one refused (then taken)."""
        if self._token_file is None:
            return False
        try:
            token = _read_token(self._token_file)
        except OSError:
            return False
        if token == self._headers["X-Vault-Token"]:
            return False
        self._headers = {**self._headers, "X-Vault-Token": token}
        return True

    def _describe(self, key: str, data: dict[str, Any]) -> KeyDescription:
        if not data.get("derived"):
            raise UnusableKey(
                f"Transit key {key} is not a derived key, so it cannot bind a data key to its "
                "blob: make one with derived=true", resource_id=key, resource_type="key")
        versions = tuple(sorted(int(v) for v in data.get("keys", {})))
        created = data.get("keys", {}).get("1")
        return KeyDescription(
            key_id=key, provider=self.name, enabled=bool(data.get("supports_encryption", True)),
            current_version=int(data["latest_version"]), versions=versions,
            created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None)

    def create_key(self, *, description: str = "", alias: str | None = None) -> KeyDescription:
        if alias is not None:
            raise Invalid("Transit keys have no aliases: a transit key is named by its name")
        key = f"packyard-{uuid.uuid4().hex[:16]}"
        # aes256-gcm96 is transit's AES-256-GCM key type; derived keys require a context.
        self._call("POST", f"keys/{key}", key, {"type": "aes256-gcm96", "derived": True})
        return self.describe_key(key)

    def describe_key(self, key_ref: str) -> KeyDescription:
        return self._describe(key_ref, self._call("GET", f"keys/{key_ref}", key_ref))

    def generate_data_key(self, key_ref: str, context: EncryptionContext) -> DataKey:
        data = self._call("POST", f"datakey/plaintext/{key_ref}", key_ref,
                          {"context": context.transit_context(), "bits": 256})
        plaintext = check_data_key(base64.b64decode(data["plaintext"]), self.name)
        return DataKey(plaintext, WrappedKey(key_ref, int(data["key_version"]),
                                             data["ciphertext"].encode("ascii")))

    def wrap_data_key(self, key_ref: str, plaintext: bytes,
                      context: EncryptionContext) -> WrappedKey:
        # transit/encrypt of the key's bytes: the same ciphertext form datakey/plaintext answers
        # (a data key is transit's encryption of it), so transit/decrypt opens either.
        data = self._call("POST", f"encrypt/{key_ref}", key_ref, {
            "plaintext": base64.b64encode(check_data_key(plaintext, self.name)).decode("ascii"),
            "context": context.transit_context()})
        return WrappedKey(key_ref, int(data["key_version"]), data["ciphertext"].encode("ascii"))

    def _request(self, wrapped: WrappedKey, context: EncryptionContext) -> dict[str, Any]:
        """The body of a decrypt or rewrap call for ``wrapped``, once it looks like transit's."""
        version = _VERSION.match(wrapped.ciphertext)
        if (version is None or not wrapped.ciphertext.isascii()
                or wrapped.key_version not in (None, int(version.group(1)))):
            raise TamperedKey(f"A wrapped key of transit key {wrapped.key_id} is not one "
                              "transit made for this version")
        return {"ciphertext": wrapped.ciphertext.decode("ascii"),
                "context": context.transit_context()}

    def decrypt_data_key(self, wrapped: WrappedKey, context: EncryptionContext) -> bytes:
        data = self._call("POST", f"decrypt/{wrapped.key_id}", wrapped.key_id,
                          self._request(wrapped, context))
        return check_data_key(base64.b64decode(data["plaintext"]), self.name)

    def rewrap(self, wrapped: WrappedKey, context: EncryptionContext) -> WrappedKey:
        data = self._call("POST", f"rewrap/{wrapped.key_id}", wrapped.key_id,
                          self._request(wrapped, context))
        return WrappedKey(wrapped.key_id, int(data["key_version"]),
                          data["ciphertext"].encode("ascii"))

    def rotate(self, key_ref: str) -> KeyDescription:
        self._call("POST", f"keys/{key_ref}/rotate", key_ref)
        return self.describe_key(key_ref)

    def retire_versions_below(self, key_ref: str, version: int) -> KeyDescription:
        """Transit's ``min_decryption_version``: older versions stop decrypting (transit
        keeps their material until trimmed, which is the operator's call)."""
        self._call("POST", f"keys/{key_ref}/config", key_ref,
                   {"min_decryption_version": version})
        return self.describe_key(key_ref)
