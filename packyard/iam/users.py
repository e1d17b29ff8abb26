"""IAM users: created, read, listed, and deleted once nothing is left attached to them.

User names are unique ignoring case, as in IAM (``name_key`` is the lowercased name).
``user_row`` and ``user_record`` are shared with the parts that act on a user's belongings
(access keys, inline policies, attachments).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.engine import Row

from packyard.iam.errors import DeleteConflict, EntityAlreadyExists, NoSuchEntity
from packyard.iam.forgotten_principals import forget_in_trust_policies
from packyard.iam.records import User, iam_arn
from packyard.iam.schema import (
    iam_access_keys,
    iam_user_attachments,
    iam_user_policies,
    iam_users,
)
from packyard.iam.secrets import new_id
from packyard.iam.transactions import StoreBase, exists
from packyard.metadata.expressions import starts_with


def user_row(conn: Connection, name: str) -> Row[Any]:
    """The user's row, found by name ignoring case, or IAM's NoSuchEntity."""
    row = conn.execute(select(iam_users).where(iam_users.c.name_key == name.lower())).first()
    if row is None:
        raise NoSuchEntity(f"The user with name {name} cannot be found.",
                           resource_id=name, resource_type="user")
    return row


def user_record(account_id: str, row: Row[Any]) -> User:
    return User(id=row.id, name=row.name, path=row.path,
                arn=iam_arn(account_id, "user", row.path, row.name),
                created_at=row.created_at)


class UserStore(StoreBase):
    """IAM users."""

    def create_user(self, name: str, path: str, now: datetime) -> User:
        # A new user has no keys, tokens or policies yet: no cached decision rests on it.
        with self._write(changes_decisions=False) as conn:
            if conn.execute(select(iam_users.c.id).where(
                    iam_users.c.name_key == name.lower())).first():
                raise EntityAlreadyExists(f"User with name {name} already exists.",
                                          resource_id=name, resource_type="user")
            conn.execute(insert(iam_users).values(id=new_id("AIDA"), name=name,
                                                   name_key=name.lower(), path=path,
                                                   created_at=now))
            return user_record(self.account_id, user_row(conn, name))

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            return user_record(self.account_id, user_row(conn, name))

    def user_by_id(self, user_id: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(iam_users).where(iam_users.c.id == user_id)).first()
        return user_record(self.account_id, row) if row else None

    def list_users(self, path_prefix: str = "/") -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(iam_users).where(
                starts_with(iam_users.c.path, path_prefix))
                .order_by(iam_users.c.name_key)).all()
        return [user_record(self.account_id, r) for r in rows]

    def delete_user(self, name: str) -> User:
        """Delete a user that has nothing left attached, as IAM requires (DeleteConflict)."""
        with self._write() as conn:
            row = user_row(conn, name)
            dependents = [
                (iam_access_keys, iam_access_keys.c.user_id, "must delete access keys first"),
                (iam_user_policies, iam_user_policies.c.user_id, "must delete policies first"),
                (iam_user_attachments, iam_user_attachments.c.user_id,
                 "must detach all policies first"),
            ]
            for table, column, advice in dependents:
                if exists(conn, table, column == row.id):
                    raise DeleteConflict(f"Cannot delete entity, {advice}.",
                                         resource_id=name, resource_type="user")
            conn.execute(delete(iam_users).where(iam_users.c.id == row.id))
            deleted = user_record(self.account_id, row)
            forget_in_trust_policies(conn, deleted.arn, deleted.id)
            return deleted
