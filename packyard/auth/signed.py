"""Authenticating SigV4-signed API requests (CodeArtifact, IAM and STS share one endpoint).

The access key id says whose secret signed the request:

- the root key pair from the settings (``PACKYARD_ROOT_*`` or ``credentials.json``);
- an IAM user's access key (``AKIA...``), if it is Active;
- temporary credentials from sts:AssumeRole (``ASIA...``), which also require the session token
  in ``X-Amz-Security-Token`` (signed, as botocore sends it) and stop at their expiry.

Unknown keys, inactive keys, wrong or missing session tokens all get AWS's one answer, "The
security token included in the request is invalid", so the response reveals nothing about which
keys exist. Expiry is reported only after the signature verified, to the holder of the secret.

Everything that can be checked without the body is checked before it is read (``begin``): the
signature's form, its credential scope (a region this server serves, the endpoint's service),
its time, the payload hash it declares, and the access key. An unauthenticated caller therefore
cannot make the server read, let alone hold, a request body. The body is then hashed as it
streams and the signature verified over that hash (``finish``).

``x-amz-content-sha256: UNSIGNED-PAYLOAD`` is refused: CodeArtifact, IAM and STS requests are
small, every SDK signs their bodies, and a signature that leaves the body out could be replayed
with another body (a signed ListUsers turned into CreateUser) for as long as its time is valid.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import ClassVar

from packyard.auth.credentials import RootCredentials
from packyard.auth.principal import Principal, root_principal, session_principal, user_principal
from packyard.auth.sigv4 import (
    UNSIGNED_PAYLOAD,
    CanonicalInputs,
    IncompleteSignature,
    InvalidSignature,
    ParsedSignature,
    PayloadHashMismatch,
    SignatureError,
    UnrecognizedClient,
    check_scope_and_time,
    declared_payload_hash,
    parse_request_signature,
    payload_hash_to_sign,
    verify_signature,
)
from packyard.clock import Clock
from packyard.errors import Denied
from packyard.iam.secrets import LostSecret
from packyard.iam.sessions import token_digest
from packyard.iam.store import IamStore
from packyard.settings import DEFAULT_REGION


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


class UnsignedPayload(InvalidSignature):
    """A request that declares ``x-amz-content-sha256: UNSIGNED-PAYLOAD``."""

    def __init__(self) -> None:
        super().__init__("x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted by this "
                         "service: the signature must cover the request body (sign its SHA-256, "
                         "as the AWS CLI and SDKs do).")


# IAM and STS are global services: botocore signs IAM, and STS at its global endpoint, in
# us-east-1 whatever region the client is configured with, so that scope is always theirs too.
GLOBAL_SERVICE_REGION = "us-east-1"
_GLOBAL_SERVICES = frozenset({"iam", "sts"})


@dataclass(frozen=True)
class PendingRequest:
    """A signed request checked as far as it can be before its body is read."""

    parsed: ParsedSignature
    inputs: CanonicalInputs  # with the declared payload hash, or "" until the body is hashed
    principal: Principal
    secret: str = field(repr=False)
    declared_sha256: str | None
    verified: bool  # the signature was verified already (over the declared payload hash)


class SignedRequestAuthenticator:
    """Finds the caller's secret by access key id and verifies the request's signature.

    ``regions`` are the regions a credential scope may name (the configured region and the
    allow-list; None accepts any); IAM and STS also accept ``GLOBAL_SERVICE_REGION``.
    """

    def __init__(self, root: RootCredentials, account_id: str, clock: Clock,
                 max_skew_seconds: int, store: IamStore | None = None, *,
                 regions: Collection[str] | None = (DEFAULT_REGION,)) -> None:
        self._root = root
        self._account_id = account_id
        self._clock = clock
        self._max_skew = timedelta(seconds=max_skew_seconds)
        self._store = store
        self._regions = None if regions is None else frozenset(regions)
        self._global_regions = (None if self._regions is None
                                else self._regions | {GLOBAL_SERVICE_REGION})

    def regions_for(self, service: str) -> frozenset[str] | None:
        """The regions a request to ``service`` may be signed for; None accepts any."""
        return self._global_regions if service in _GLOBAL_SERVICES else self._regions

    def _lookup(self, parsed: ParsedSignature) -> tuple[str, Principal]:
        """(secret, principal) for the request's access key, or UnrecognizedClient."""
        return self._key(parsed.access_key_id, parsed.session_token)

    def verify_secret(self, access_key_id: str, secret_access_key: str,
                      session_token: str | None = None) -> Principal:
        """The principal whose key pair this is (a console sign-in), or UnrecognizedClient:
        unknown, inactive and deleted keys and wrong secrets get the same answer; expired
        temporary credentials get ExpiredToken once their secret is proven."""
        secret, principal = self._key(access_key_id, session_token)
        if not _same(secret, secret_access_key):
            raise UnrecognizedClient()
        expires = principal.credentials_expire_at
        if expires is not None and expires <= self._clock.now():
            raise ExpiredToken()
        return principal

    def names_a_key(self, access_key_id: str) -> bool:
        """Whether ``access_key_id`` is one this server issued (the root's, a user's in any
        status, a role session's): a failed console sign-in records only such an id, since
        what was typed there may be a secret pasted into the wrong field."""
        if _same(access_key_id, self._root.access_key_id):
            return True
        if self._store is None:
            return False
        if access_key_id.startswith("ASIA"):
            return self._store.session(access_key_id) is not None
        return self._store.access_key(access_key_id) is not None

    def _key(self, key_id: str, session_token: str | None) -> tuple[str, Principal]:
        if _same(key_id, self._root.access_key_id):
            if session_token is not None:
                raise UnrecognizedClient()
            return self._root.secret_access_key, root_principal(self._account_id, key_id)
        if self._store is None:
            raise UnrecognizedClient()
        if key_id.startswith("ASIA"):
            return self._session(key_id, session_token)
        if session_token is not None:
            raise UnrecognizedClient()
        found = self._store.access_key(key_id)
        if found is None or found[0].status != "Active":
            raise UnrecognizedClient()
        try:
            secret = self._store.access_key_secret(key_id)
        except LostSecret as lost:
            # Said to whoever holds the key id (not a secret): the holder needs to know what
            # to do, and the key can do nothing else.
            raise UnrecognizedClient(
                f"The secret of access key {key_id} was lost with the server's IAM secret key "
                f"and given up on {lost.since}: this key no longer works. Ask an administrator "
                "to create a new access key for you (aws iam create-access-key) and to delete "
                "this one.") from None
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
            session.expires_at, session.role.arn, session.created_at)

    def begin(self, method: str, raw_path: str, raw_query: str,
              raw_headers: Iterable[tuple[bytes, bytes]], service: str) -> PendingRequest:
        """Every check that needs no body, the access key lookup last; raises SignatureError."""
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
        parsed = parse_request_signature(headers, raw_query)
        now = self._clock.now()
        check_scope_and_time(parsed, now, max_skew=self._max_skew,
                             region=self.regions_for(service), service=service)
        declared = declared_payload_hash(headers)
        if declared == UNSIGNED_PAYLOAD:
            raise UnsignedPayload()
        secret, principal = self._lookup(parsed)
        inputs = CanonicalInputs(method=method, raw_path=raw_path, raw_query=raw_query,
                                 headers=headers, payload_hash=declared or "")
        if declared is not None:
            # The signature covers the declared hash, so it can be verified now: a wrong
            # secret is refused before the body is read, and the body must then match.
            inputs = replace(inputs, payload_hash=payload_hash_to_sign(headers, declared))
            verify_signature(parsed, inputs, secret, now, max_skew=self._max_skew,
                             region=self.regions_for(service), service=service)
        return PendingRequest(parsed, inputs, principal, secret, declared,
                              verified=declared is not None)

    def caller_before_body(self, pending: PendingRequest) -> Principal:
        """The caller of a request whose signature is verified already (over the payload hash
        it declared), before its body is read: for bodies streamed into storage, which must be
        authorized first. The body must still match the declared hash (``finish``)."""
        if not pending.verified:
            raise IncompleteSignature(
                "A request whose body is streamed must declare its payload's SHA-256 in "
                "x-amz-content-sha256, as the AWS CLI and SDKs do")
        expires = pending.principal.credentials_expire_at
        if expires is not None and expires <= self._clock.now():
            raise ExpiredToken()
        return pending.principal

    def finish(self, pending: PendingRequest, body_sha256: str) -> Principal:
        """The caller, once the body (hashed as it streamed) matches the signature."""
        now = self._clock.now()
        if pending.verified:
            if body_sha256.lower() != pending.declared_sha256:
                raise PayloadHashMismatch()
        else:
            verify_signature(pending.parsed, replace(pending.inputs, payload_hash=body_sha256),
                             pending.secret, now, max_skew=self._max_skew,
                             region=self.regions_for(pending.parsed.service),
                             service=pending.parsed.service)
        expires = pending.principal.credentials_expire_at
        if expires is not None and expires <= now:
            raise ExpiredToken()
        return pending.principal

    def authenticate(self, method: str, raw_path: str, raw_query: str,
                     raw_headers: Iterable[tuple[bytes, bytes]], body: bytes,
                     service: str) -> Principal:
        """``begin`` and ``finish`` for a body already in memory."""
        pending = self.begin(method, raw_path, raw_query, raw_headers, service)
        return self.finish(pending, hashlib.sha256(body).hexdigest())
