"""Authenticating SigV4-signed API requests (CodeArtifact, IAM and STS share one endpoint).

The access key id says whose secret signed the request:

- the root key pair from the settings (``PACKYARD_ROOT_*`` or ``credentials.json``);
- an IAM user's access key (``AKIA...``), if it is Active;
- temporary credentials from sts:AssumeRole (``ASIA...``), which also require the session token
  in ``X-Amz-Security-Token`` (signed, as botocore sends it) and stop at their expiry.

Unknown keys, inactive keys, wrong or missing session tokens all get AWS's one answer, "The
security token included in the request is invalid", so the response reveals nothing about which
keys exist. Expiry is reported only after the signature verified, to the holder of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import timedelta
from typing import ClassVar

from packyard.auth.credentials import RootCredentials
from packyard.auth.principal import Principal, root_principal, session_principal, user_principal
from packyard.auth.sigv4 import (
    CanonicalInputs,
    ParsedSignature,
    SignatureError,
    UnrecognizedClient,
    parse_request_signature,
    payload_hash_to_sign,
    verify_signature,
)
from packyard.clock import Clock
from packyard.errors import Denied
from packyard.iam.sessions import token_digest
from packyard.iam.store import IamStore


class ExpiredToken(SignatureError, Denied):
    """Temporary credentials used after their expiry (CodeArtifact's ExpiredTokenException)."""

    code: ClassVar[str] = "ExpiredTokenException"
    http_status: ClassVar[int] = 403

    def __init__(self, message: str = "The security token included in the request is expired"
                 ) -> None:
        super().__init__(message)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"),
                               b.encode("utf-8", "surrogateescape"))


class SignedRequestAuthenticator:
    """Finds the caller's secret by access key id and verifies the request's signature."""

    def __init__(self, root: RootCredentials, account_id: str, clock: Clock,
                 max_skew_seconds: int, store: IamStore | None = None) -> None:
        self._root = root
        self._account_id = account_id
        self._clock = clock
        self._max_skew = timedelta(seconds=max_skew_seconds)
        self._store = store

    def _lookup(self, parsed: ParsedSignature) -> tuple[str, Principal]:
        """(secret, principal) for the request's access key, or UnrecognizedClient."""
        key_id = parsed.access_key_id
        if _same(key_id, self._root.access_key_id):
            if parsed.session_token is not None:
                raise UnrecognizedClient()
            return self._root.secret_access_key, root_principal(self._account_id, key_id)
        if self._store is None:
            raise UnrecognizedClient()
        if key_id.startswith("ASIA"):
            return self._session(key_id, parsed.session_token)
        if parsed.session_token is not None:
            raise UnrecognizedClient()
        found = self._store.access_key(key_id)
        if found is None or found[0].status != "Active":
            raise UnrecognizedClient()
        secret = self._store.access_key_secret(key_id)
        if secret is None:
            raise UnrecognizedClient()
        _, user = found
        return secret, user_principal(self._account_id, user.arn, user.id, user.name, key_id)

    def _session(self, key_id: str, token: str | None) -> tuple[str, Principal]:
        assert self._store is not None
        session = self._store.session(key_id)
        secrets = self._store.session_secrets(key_id) if session else None
        if session is None or secrets is None or token is None:
            raise UnrecognizedClient()
        secret, token_sha256 = secrets
        if not _same(token_digest(token), token_sha256):
            raise UnrecognizedClient()
        return secret, session_principal(
            self._account_id, session.arn, session.user_id, session.session_name, key_id,
            session.expires_at, session.role.arn)

    def authenticate(self, method: str, raw_path: str, raw_query: str,
                     raw_headers: Iterable[tuple[bytes, bytes]], body: bytes,
                     service: str) -> Principal:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
        parsed = parse_request_signature(headers, raw_query)
        secret, principal = self._lookup(parsed)
        inputs = CanonicalInputs(
            method=method, raw_path=raw_path, raw_query=raw_query, headers=headers,
            payload_hash=payload_hash_to_sign(headers, hashlib.sha256(body).hexdigest()))
        now = self._clock.now()
        # Any region is accepted: the AWS CLI's configured region need not match ours.
        verify_signature(parsed, inputs, secret, now, max_skew=self._max_skew, service=service)
        expires = principal.credentials_expire_at
        if expires is not None and expires <= now:
            raise ExpiredToken()
        return principal
