"""Authorization tokens: minted by GetAuthorizationToken, presented by pip/twine/npm as a password.

A token is 48 random bytes; only its sha256 is stored. Checks are cached for ``CACHE_SECONDS`` so
the hot paths (index pages, downloads) do not hit the database on every request, while a token
revoked by another process (``packyard token revoke``) stops working within that time; expiry is
checked on every use. Who a token acts for is resolved by ``packyard.auth.package_auth``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from packyard.auth.principal import Principal
from packyard.errors import Invalid, Unauthenticated
from packyard.iam.secrets import opaque_token
from packyard.metadata.catalog import Catalog
from packyard.model import Domain, TokenRecord
from packyard.ttl_cache import TtlCache

DEFAULT_DURATION = 12 * 60 * 60
MIN_DURATION = 15 * 60
MAX_DURATION = 12 * 60 * 60
# With the package endpoints' one-second reuse of a granted read (services/access.py), a
# revocation, user deletion or key deactivation made by another process stops a token within
# 4 + 1 = 5 seconds.
CACHE_SECONDS = 4.0
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def token_lifetime(duration_seconds: int | None, principal: Principal,
                   now: datetime) -> datetime:
    """When a new token expires, by CodeArtifact's rules for ``durationSeconds``."""
    if duration_seconds is None:
        duration_seconds = DEFAULT_DURATION
    if duration_seconds != 0 and not MIN_DURATION <= duration_seconds <= MAX_DURATION:
        raise Invalid("durationSeconds must be 0 or between 900 and 43200 seconds")
    if duration_seconds == 0:
        # 0 = as long as the caller's own credentials; long-term keys get the 12 h maximum.
        expires = now + timedelta(seconds=MAX_DURATION)
    else:
        expires = now + timedelta(seconds=duration_seconds)
    if principal.credentials_expire_at is not None:
        expires = min(expires, principal.credentials_expire_at)
    return expires


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenService:
    """Mints tokens and resolves presented tokens to their record."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # sha256 of a presented token -> its record (None: no such token). Bound to the
        # catalog's access stamp, which a domain's deletion moves: the deletion takes its
        # tokens with it, and SQLite may give the next domain the same id, which a record kept
        # from before would match.
        self._cache: TtlCache[str, TokenRecord | None] = TtlCache(
            ttl_seconds=CACHE_SECONDS, max_entries=_CACHE_MAX,
            version=catalog.access_changes.stamp)
        # Bumped by forget_cached, so reused read grants (services/access.py) drop out too.
        self.revocations = 0
        self.minted = 0  # for /metrics

    def issue(self, principal: Principal, domain: Domain, duration_seconds: int | None,
              now: datetime) -> IssuedToken:
        expires_at = token_lifetime(duration_seconds, principal, now)
        token = opaque_token(48)
        self._catalog.insert_token(secrets.token_hex(16), hash_token(token), principal.arn,
                                   principal.access_key_id, domain, now, expires_at)
        self.minted += 1
        return IssuedToken(token, expires_at)

    def caches(self) -> dict[str, TtlCache[Any, Any]]:
        """This service's caches by name (for ``/metrics``)."""
        return {"token_checks": self._cache}

    def forget_cached(self) -> None:
        """Drop cached checks, after a revocation made in this process."""
        self._cache.clear()
        self.revocations += 1

    def resolve(self, token: str, now: datetime) -> TokenRecord:
        """The live record for a presented token, or Unauthenticated."""
        if not token or len(token) > 4096:
            raise Unauthenticated("Invalid authorization token")
        digest = hash_token(token)
        record = self._cache.get_or_load(digest, lambda: self._catalog.find_token(digest))
        if record is None or record.revoked_at is not None:
            raise Unauthenticated("Invalid authorization token")
        if record.expires_at <= now:
            raise Unauthenticated("The authorization token has expired")
        return record
