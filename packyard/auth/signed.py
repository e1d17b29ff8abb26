"""Authenticating SigV4-signed API requests (CodeArtifact now; IAM and STS at the same endpoint later)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import timedelta

from packyard.auth.credentials import RootCredentials
from packyard.auth.principal import Principal, root_principal
from packyard.auth.sigv4 import (
    CanonicalInputs,
    UnrecognizedClient,
    parse_request_signature,
    payload_hash_to_sign,
    verify_signature,
)
from packyard.clock import Clock


class SignedRequestAuthenticator:
    """Finds the caller's secret by access key id and verifies the request's signature."""

    def __init__(self, root: RootCredentials, account_id: str, clock: Clock,
                 max_skew_seconds: int) -> None:
        self._root = root
        self._account_id = account_id
        self._clock = clock
        self._max_skew = timedelta(seconds=max_skew_seconds)

    def _lookup(self, access_key_id: str) -> tuple[str, Principal]:
        if hmac.compare_digest(access_key_id.encode(), self._root.access_key_id.encode()):
            return (self._root.secret_access_key,
                    root_principal(self._account_id, access_key_id))
        raise UnrecognizedClient()

    def authenticate(self, method: str, raw_path: str, raw_query: str,
                     raw_headers: Iterable[tuple[bytes, bytes]], body: bytes,
                     service: str) -> Principal:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
        parsed = parse_request_signature(headers, raw_query)
        secret, principal = self._lookup(parsed.access_key_id)
        inputs = CanonicalInputs(
            method=method, raw_path=raw_path, raw_query=raw_query, headers=headers,
            payload_hash=payload_hash_to_sign(headers, hashlib.sha256(body).hexdigest()))
        # Any region is accepted: the AWS CLI's configured region need not match ours.
        verify_signature(parsed, inputs, secret, self._clock.now(), max_skew=self._max_skew,
                         service=service)
        return principal
