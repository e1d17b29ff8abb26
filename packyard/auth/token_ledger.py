"""Administering authorization tokens: list them, revoke one, revoke all of a principal's.

Tokens are minted and checked by ``packyard.auth.tokens``; this is the operator's side, used by
``packyard token ...``. Revoking marks the row (``revoked_at``) rather than deleting it, so a
revoked token is refused as such and the listing keeps showing what was revoked when. A
revocation is announced to every server process on the database in its transaction
(``metadata/change_feed.py``), which drop their cached token checks and read grants when they
hear of it (within a tenth of a second); should a server miss it, its caches' lifetimes still
bound it to 5 seconds (``packyard.auth.tokens.CACHE_SECONDS`` and one second of a granted
read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from packyard.metadata.change_feed import TOKENS, announce
from packyard.metadata.schema import domains, tokens


@dataclass(frozen=True)
class TokenInfo:
    """A token's public facts; the token itself is never stored, only its sha256."""

    id: str
    principal_arn: str
    access_key_id: str | None
    domain_name: str
    domain_owner: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


class TokenLedger:
    """SQL over the tokens table for administration."""

    def __init__(self, engines: tuple[Engine, Engine]) -> None:
        self.engines = engines
        self._reader, self._writer = engines

    def list(self, *, principal_arn: str | None = None, domain: str | None = None,
             include_inactive: bool = False, now: datetime) -> list[TokenInfo]:
        query = (select(tokens, domains.c.name.label("domain_name"),
                        domains.c.owner.label("domain_owner"))
                 .join(domains, tokens.c.domain_id == domains.c.id)
                 .order_by(tokens.c.created_at))
        if principal_arn is not None:
            query = query.where(tokens.c.principal_arn == principal_arn)
        if domain is not None:
            query = query.where(domains.c.name == domain)
        if not include_inactive:
            query = query.where(tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)
        with self._reader.connect() as conn, conn.begin():
            rows = conn.execute(query).all()
        return [TokenInfo(id=r.id, principal_arn=r.principal_arn,
                          access_key_id=r.access_key_id, domain_name=r.domain_name,
                          domain_owner=r.domain_owner, created_at=r.created_at,
                          expires_at=r.expires_at, revoked_at=r.revoked_at) for r in rows]

    def find(self, token_id: str) -> TokenInfo | None:
        """One token by id, whatever its state."""
        query = (select(tokens, domains.c.name.label("domain_name"),
                        domains.c.owner.label("domain_owner"))
                 .join(domains, tokens.c.domain_id == domains.c.id)
                 .where(tokens.c.id == token_id))
        with self._reader.connect() as conn, conn.begin():
            r = conn.execute(query).first()
        if r is None:
            return None
        return TokenInfo(id=r.id, principal_arn=r.principal_arn, access_key_id=r.access_key_id,
                         domain_name=r.domain_name, domain_owner=r.domain_owner,
                         created_at=r.created_at, expires_at=r.expires_at,
                         revoked_at=r.revoked_at)

    def revoke(self, token_id: str, now: datetime) -> bool:
        """Revoke one token by id; False if there is no such unrevoked token."""
        with self._writer.connect() as conn, conn.begin():
            result = conn.execute(update(tokens).where(tokens.c.id == token_id,
                                                       tokens.c.revoked_at.is_(None))
                                  .values(revoked_at=now))
            announce(conn, TOKENS)
            return bool(result.rowcount)

    def revoke_by_digest(self, secret_sha256: str, now: datetime) -> str | None:
        """Revoke the token with this sha256 (a leaked token's value); returns its id."""
        with self._writer.connect() as conn, conn.begin():
            token_id = conn.execute(select(tokens.c.id).where(
                tokens.c.secret_sha256 == secret_sha256)).scalar()
            if token_id is None:
                return None
            conn.execute(update(tokens).where(tokens.c.id == token_id,
                                              tokens.c.revoked_at.is_(None))
                         .values(revoked_at=now))
            announce(conn, TOKENS)
            return str(token_id)

    def revoke_all_for(self, principal_arn: str, now: datetime) -> int:
        """Revoke every live token minted by one principal; returns how many."""
        with self._writer.connect() as conn, conn.begin():
            result = conn.execute(update(tokens).where(
                tokens.c.principal_arn == principal_arn, tokens.c.revoked_at.is_(None),
                tokens.c.expires_at > now).values(revoked_at=now))
            announce(conn, TOKENS)
            return int(result.rowcount or 0)
