"""Authenticating package-endpoint requests (pip, uv, twine, npm) by their authorization token."""

from __future__ import annotations

import base64
import binascii

from packyard.auth.principal import Principal, root_principal
from packyard.auth.tokens import TokenService
from packyard.clock import Clock
from packyard.errors import Unauthenticated
from packyard.model import Domain


def token_from_authorization(header: str | None) -> str:
    """The token in ``Basic base64(aws:TOKEN)`` (as CodeArtifact) or ``Bearer TOKEN``."""
    if not header:
        raise Unauthenticated("Authentication required: use the token from "
                              "get-authorization-token as the password of user 'aws'")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("Malformed Basic authorization header") from None
        _user, sep, password = decoded.partition(":")
        if not sep or not password:
            raise Unauthenticated("Basic authorization needs a password (the token)")
        # CodeArtifact expects user "aws", but clients such as uv send other names; the token
        # alone identifies the caller.
        return password
    raise Unauthenticated("Unsupported authorization scheme; use Basic or Bearer")


class PackageAuthenticator:
    """Turns a presented token into the principal that minted it, for one domain."""

    def __init__(self, tokens: TokenService, account_id: str, clock: Clock) -> None:
        self._tokens = tokens
        self._account_id = account_id
        self._clock = clock

    def authenticate(self, authorization: str | None, domain: Domain) -> Principal:
        token = token_from_authorization(authorization)
        record = self._tokens.resolve(token, self._clock.now())
        if record.domain_id != domain.id:
            raise Unauthenticated("This token is for another domain")
        if record.principal_arn == f"arn:aws:iam::{self._account_id}:root":
            return root_principal(self._account_id, record.access_key_id)
        raise Unauthenticated("The principal that minted this token no longer exists")
