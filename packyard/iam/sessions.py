"""STS sessions: the temporary credentials AssumeRole hands out, stored for the signature check.

A session's secret access key is sealed with the store's ``SecretBox`` like a user's; its session
token is stored as its sha256 only (``token_digest``), since the server only ever compares it.
Sessions belong to their role: they end with it (``RoleStore.delete_role``), and expired ones are
purged by the next AssumeRole.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, insert, select

from packyard.iam.errors import NoSuchEntity
from packyard.iam.records import Role, Session
from packyard.iam.roles import role_record
from packyard.iam.schema import iam_roles, sts_sessions
from packyard.iam.secrets import new_id, new_secret_access_key, new_session_token
from packyard.iam.transactions import StoreBase


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class SessionStore(StoreBase):
    """Role sessions and their credentials."""

    def create_session(self, role: Role, session_name: str, caller_arn: str, now: datetime,
                       expires_at: datetime) -> tuple[Session, str, str]:
        """A new session: (session, secret access key, session token); expired ones are purged."""
        secret, token = new_secret_access_key(), new_session_token()
        key_id = new_id("ASIA", 20)
        # Nothing cached can rest on a session not handed out yet, nor on expired ones (every
        # use checks the expiry): no read grant or cached principal is dropped for it.
        with self._write(changes_decisions=False) as conn:
            conn.execute(delete(sts_sessions).where(sts_sessions.c.expires_at < now))
            if not conn.execute(select(iam_roles.c.id).where(iam_roles.c.id == role.id)).first():
                raise NoSuchEntity(f"The role with name {role.name} cannot be found.",
                                   resource_id=role.name, resource_type="role")
            conn.execute(insert(sts_sessions).values(
                id=key_id, secret_encrypted=self._box.encrypt(secret),
                token_sha256=token_digest(token), role_id=role.id, session_name=session_name,
                caller_arn=caller_arn, created_at=now, expires_at=expires_at))
        return Session(key_id, role, session_name, caller_arn, now, expires_at), secret, token

    def session(self, key_id: str) -> Session | None:
        """A session whose role still exists, expired or not (the caller checks expiry)."""
        with self._read() as conn:
            row = conn.execute(select(sts_sessions).where(sts_sessions.c.id == key_id)).first()
            if row is None:
                return None
            role = conn.execute(select(iam_roles).where(iam_roles.c.id == row.role_id)).first()
        if role is None:
            return None
        return Session(row.id, role_record(self.account_id, role), row.session_name,
                       row.caller_arn, row.created_at, row.expires_at)

    def session_secrets(self, key_id: str) -> tuple[str, str] | None:
        """(secret access key, sha256 of the session token) of a session."""
        with self._read() as conn:
            row = conn.execute(select(sts_sessions.c.secret_encrypted,
                                      sts_sessions.c.token_sha256)
                               .where(sts_sessions.c.id == key_id)).first()
        if row is None:
            return None
        return self._box.decrypt(row.secret_encrypted), row.token_sha256
