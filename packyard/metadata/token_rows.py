"""Authorization tokens: stored as the hash of their secret, found, and expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from packyard.metadata.schema import tokens
from packyard.metadata.transactions import CatalogBase
from packyard.model import Domain, TokenRecord


class TokenStore(CatalogBase):
    """Authorization token rows."""

    def insert_token(self, token_id: str, secret_sha256: str, principal_arn: str,
                     access_key_id: str | None, domain: Domain, now: datetime,
                     expires_at: datetime) -> None:
        with self._write(topic=None) as conn:
            conn.execute(insert(tokens).values(
                id=token_id, secret_sha256=secret_sha256, principal_arn=principal_arn,
                access_key_id=access_key_id, domain_id=domain.id, created_at=now,
                expires_at=expires_at))

    def find_token(self, secret_sha256: str) -> TokenRecord | None:
        with self._read() as conn:
            row = conn.execute(select(tokens).where(
                tokens.c.secret_sha256 == secret_sha256)).first()
        if row is None:
            return None
        return TokenRecord(id=row.id, principal_arn=row.principal_arn,
                           access_key_id=row.access_key_id, domain_id=row.domain_id,
                           created_at=row.created_at, expires_at=row.expires_at,
                           revoked_at=row.revoked_at)

    def delete_expired_tokens(self, now: datetime) -> int:
        # Expired tokens are refused on their expiry whatever a cache holds.
        with self._write(topic=None) as conn:
            result = conn.execute(delete(tokens).where(tokens.c.expires_at < now))
            return int(result.rowcount or 0)
