"""IAM users' access keys: at most two per user, the secret sealed at rest and shown once.

Secret access keys go in and out through the store's ``SecretBox`` and are never part of an
``AccessKey`` record; only ``access_key_secret`` opens one, for the signature check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import Row

from packyard.iam.errors import LimitExceeded, NoSuchEntity
from packyard.iam.records import AccessKey, User, iam_arn
from packyard.iam.schema import iam_access_keys, iam_users
from packyard.iam.secrets import new_id, new_secret_access_key
from packyard.iam.transactions import StoreBase
from packyard.iam.users import user_row

# IAM quota "Access keys assigned to an IAM user": 2.
MAX_ACCESS_KEYS_PER_USER = 2


class AccessKeyStore(StoreBase):
    """Users' long-term credentials."""

    def create_access_key(self, user_name: str, now: datetime) -> tuple[AccessKey, str]:
        """A new Active key for the user, and its secret (shown once, as IAM does)."""
        secret = new_secret_access_key()
        # A new key grants its user nothing new: no cached decision rests on it.
        with self._write(changes_decisions=False) as conn:
            user = user_row(conn, user_name)
            count = conn.execute(select(func.count()).select_from(iam_access_keys).where(
                iam_access_keys.c.user_id == user.id)).scalar_one()
            if count >= MAX_ACCESS_KEYS_PER_USER:
                raise LimitExceeded("Cannot exceed quota for AccessKeysPerUser: "
                                    f"{MAX_ACCESS_KEYS_PER_USER}",
                                    resource_id=user_name, resource_type="user")
            key_id = new_id("AKIA", 20)
            conn.execute(insert(iam_access_keys).values(
                id=key_id, user_id=user.id, secret_encrypted=self._box.encrypt(secret),
                status="Active", created_at=now))
            return AccessKey(key_id, user.id, user.name, "Active", now), secret

    def list_access_keys(self, user_name: str) -> list[AccessKey]:
        with self._read() as conn:
            user = user_row(conn, user_name)
            rows = conn.execute(select(iam_access_keys).where(
                iam_access_keys.c.user_id == user.id).order_by(iam_access_keys.c.created_at))
            return [AccessKey(r.id, user.id, user.name, r.status, r.created_at) for r in rows]

    def update_access_key(self, user_name: str, key_id: str, status: str) -> None:
        with self._write() as conn:
            _key_row(conn, user_name, key_id)
            conn.execute(update(iam_access_keys).where(iam_access_keys.c.id == key_id)
                         .values(status=status))

    def delete_access_key(self, user_name: str, key_id: str) -> None:
        with self._write() as conn:
            _key_row(conn, user_name, key_id)
            conn.execute(delete(iam_access_keys).where(iam_access_keys.c.id == key_id))

    def access_key(self, key_id: str) -> tuple[AccessKey, User] | None:
        """A key and its user, whatever the key's status (the caller checks it)."""
        with self._read() as conn:
            row = conn.execute(
                select(iam_access_keys, iam_users.c.name.label("user_name"),
                       iam_users.c.path.label("user_path"),
                       iam_users.c.created_at.label("user_created_at"))
                .join(iam_users, iam_access_keys.c.user_id == iam_users.c.id)
                .where(iam_access_keys.c.id == key_id)).first()
        if row is None:
            return None
        user = User(id=row.user_id, name=row.user_name, path=row.user_path,
                    arn=iam_arn(self.account_id, "user", row.user_path, row.user_name),
                    created_at=row.user_created_at)
        return AccessKey(row.id, row.user_id, row.user_name, row.status, row.created_at), user

    def access_key_secret(self, key_id: str) -> str | None:
        with self._read() as conn:
            sealed = conn.execute(select(iam_access_keys.c.secret_encrypted).where(
                iam_access_keys.c.id == key_id)).scalar()
        return None if sealed is None else self._box.decrypt(sealed)


def _key_row(conn: Connection, user_name: str, key_id: str) -> Row[Any]:
    user = user_row(conn, user_name)
    row = conn.execute(select(iam_access_keys).where(
        iam_access_keys.c.id == key_id, iam_access_keys.c.user_id == user.id)).first()
    if row is None:
        raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.",
                           resource_id=key_id, resource_type="access-key")
    return row
