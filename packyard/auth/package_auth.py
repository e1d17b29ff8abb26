"""Authenticating package-endpoint requests (pip, uv, twine, npm) by their authorization token."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from packyard.auth.principal import Principal, root_principal, session_principal, user_principal
from packyard.auth.tokens import CACHE_SECONDS, TokenService
from packyard.clock import Clock
from packyard.errors import NoCredentials, Unauthenticated
from packyard.iam.store import IamStore
from packyard.model import Domain, TokenRecord
from packyard.ttl_cache import TtlCache

_CACHE_MAX = 10_000


def token_from_authorization(header: str | None) -> str:
    """The token in ``Basic base64(aws:TOKEN)`` (as CodeArtifact) or ``Bearer TOKEN``."""
    if not header:
        raise NoCredentials("Authentication required: use the token from "
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
    """Turns a presented token into the principal that minted it, for one domain.

    A token acts for the principal that asked for it, and only while that principal's own
    credentials still work: the IAM user must still exist with the minting access key Active,
    a role session must not have expired and its role must still exist, and root tokens need the
    root key they were minted with. These lookups are cached for ``CACHE_SECONDS`` (4 s) like
    token checks; a change made through this server's own IAM API empties the cache at once.
    With the package endpoints' one-second reuse of a granted read, deleting a user or
    deactivating a key stops its tokens within 5 seconds when it is made by another process.
    """

    def __init__(self, tokens: TokenService, account_id: str, clock: Clock,
                 root_access_key_id: str | None = None, store: IamStore | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._tokens = tokens
        self._account_id = account_id
        self._clock = clock
        self._root_key = root_access_key_id
        self._store = store
        # (principal ARN, minting key) -> the principal, or None when its credentials are gone;
        # bound to the IAM store's generation, so this process's own IAM writes apply at once.
        self._cache: TtlCache[tuple[str, str | None], Principal | None] = TtlCache(
            ttl_seconds=CACHE_SECONDS, max_entries=_CACHE_MAX, monotonic=monotonic,
            version=(lambda: store.generation) if store is not None else None)

    def caches(self) -> dict[str, TtlCache[Any, Any]]:
        """The caches behind a token check, by name (for ``/metrics``)."""
        return {"token_principals": self._cache, **self._tokens.caches()}

    @property
    def generation(self) -> int:
        """Changes when something this process did may stop a token: any IAM write through
        the store (a user deleted, a key deactivated, a policy changed) or a revocation
        reported to the token service. Grants made under an older value are stale."""
        iam = self._store.generation if self._store is not None else 0
        return iam + self._tokens.revocations

    def now(self) -> datetime:
        """The clock tokens expire by."""
        return self._clock.now()

    def authenticate(self, authorization: str | None, domain: Domain) -> Principal:
        return self.principal_for(self.resolve(authorization), domain)

    def resolve(self, authorization: str | None) -> TokenRecord:
        """The live token record the header presents, or Unauthenticated (no domain needed:
        a bad token is refused the same way whether or not the URL's domain exists)."""
        return self._tokens.resolve(token_from_authorization(authorization), self._clock.now())

    def principal_for(self, record: TokenRecord, domain: Domain | None) -> Principal:
        """Who a resolved token acts for in ``domain`` (None: the URL names no domain that
        exists, which is answered as a token for another domain)."""
        if domain is None or record.domain_id != domain.id:
            raise Unauthenticated("This token is for another domain")
        now = self._clock.now()
        principal = self._principal(record.principal_arn, record.access_key_id)
        if principal is None:
            raise Unauthenticated("The credentials that requested this token are no longer "
                                  "valid (deleted user, inactive or deleted access key, or "
                                  "deleted role); get a new token")
        if principal.credentials_expire_at is not None and principal.credentials_expire_at <= now:
            raise Unauthenticated("The authorization token has expired with the session that "
                                  "requested it")
        return principal

    def acting_principal(self, arn: str, access_key_id: str | None) -> Principal | None:
        """Who credentials minted by (``arn``, ``access_key_id``) act for, while they still
        work (the same rules and cache as a token's); None once they do not. The console's
        sessions are checked with it on every request."""
        principal = self._principal(arn, access_key_id)
        if principal is None:
            return None
        expires = principal.credentials_expire_at
        if expires is not None and expires <= self._clock.now():
            return None
        return principal

    def _principal(self, arn: str, access_key_id: str | None) -> Principal | None:
        return self._cache.get_or_load((arn, access_key_id),
                                       lambda: self._load(arn, access_key_id))

    def _load(self, arn: str, access_key_id: str | None) -> Principal | None:
        if arn == f"arn:aws:iam::{self._account_id}:root":
            if self._root_key is not None and access_key_id != self._root_key:
                return None
            return root_principal(self._account_id, access_key_id)
        if self._store is None or access_key_id is None:
            return None
        if access_key_id.startswith("ASIA"):
            session = self._store.session(access_key_id)
            if session is None or session.arn != arn:
                return None
            return session_principal(self._account_id, session.arn, session.user_id,
                                     session.session_name, access_key_id, session.expires_at,
                                     session.role.arn, session.created_at)
        found = self._store.access_key(access_key_id)
        if found is None:
            return None
        key, user = found
        if key.status != "Active" or user.arn != arn:
            return None
        return user_principal(self._account_id, user.arn, user.id, user.name, access_key_id)
