"""IAM roles: created with a trust policy, read, listed, and deleted with their sessions.

Role names are unique ignoring case, as in IAM. ``role_row`` and ``role_record`` are shared with
the parts that act on a role's belongings (inline policies, attachments, STS sessions).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import Row

from packyard.iam.errors import DeleteConflict, EntityAlreadyExists, NoSuchEntity
from packyard.iam.forgotten_principals import forget_in_trust_policies
from packyard.iam.records import Role, iam_arn
from packyard.iam.schema import iam_role_attachments, iam_role_policies, iam_roles, sts_sessions
from packyard.iam.secrets import new_id
from packyard.iam.transactions import StoreBase, exists
from packyard.metadata.expressions import starts_with


def role_row(conn: Connection, name: str) -> Row[Any]:
    """The role's row, found by name ignoring case, or IAM's NoSuchEntity."""
    row = conn.execute(select(iam_roles).where(iam_roles.c.name_key == name.lower())).first()
    if row is None:
        raise NoSuchEntity(f"The role with name {name} cannot be found.",
                           resource_id=name, resource_type="role")
    return row


def role_record(account_id: str, row: Row[Any]) -> Role:
    return Role(id=row.id, name=row.name, path=row.path,
                arn=iam_arn(account_id, "role", row.path, row.name),
                description=row.description, assume_role_policy=row.assume_role_policy,
                max_session_duration=row.max_session_duration, created_at=row.created_at)


class RoleStore(StoreBase):
    """IAM roles and their trust policies."""

    def create_role(self, name: str, path: str, assume_role_policy: str,
                    description: str | None, max_session_duration: int, now: datetime) -> Role:
        # No session of a new role exists yet: no cached decision rests on it.
        with self._write(changes_decisions=False) as conn:
            if conn.execute(select(iam_roles.c.id).where(
                    iam_roles.c.name_key == name.lower())).first():
                raise EntityAlreadyExists(f"Role with name {name} already exists.",
                                          resource_id=name, resource_type="role")
            conn.execute(insert(iam_roles).values(
                id=new_id("AROA"), name=name, name_key=name.lower(), path=path,
                description=description, assume_role_policy=assume_role_policy,
                max_session_duration=max_session_duration, created_at=now))
            return role_record(self.account_id, role_row(conn, name))

    def get_role(self, name: str) -> Role:
        with self._read() as conn:
            return role_record(self.account_id, role_row(conn, name))

    def role_by_id(self, role_id: str) -> Role | None:
        with self._read() as conn:
            row = conn.execute(select(iam_roles).where(iam_roles.c.id == role_id)).first()
        return role_record(self.account_id, row) if row else None

    def list_roles(self, path_prefix: str = "/") -> list[Role]:
        with self._read() as conn:
            rows = conn.execute(select(iam_roles).where(
                starts_with(iam_roles.c.path, path_prefix))
                .order_by(iam_roles.c.name_key)).all()
        return [role_record(self.account_id, r) for r in rows]

    def update_assume_role_policy(self, name: str, document: str) -> None:
        with self._write() as conn:
            row = role_row(conn, name)
            conn.execute(update(iam_roles).where(iam_roles.c.id == row.id)
                         .values(assume_role_policy=document))

    def delete_role(self, name: str) -> Role:
        """Delete a role without policies; its sessions go with it (their keys stop working)."""
        with self._write() as conn:
            row = role_row(conn, name)
            if exists(conn, iam_role_policies, iam_role_policies.c.role_id == row.id):
                raise DeleteConflict("Cannot delete entity, must delete policies first.",
                                     resource_id=name, resource_type="role")
            if exists(conn, iam_role_attachments, iam_role_attachments.c.role_id == row.id):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.",
                                     resource_id=name, resource_type="role")
            # Explicitly, not only by ON DELETE CASCADE: SQLite enforces it only with
            # foreign_keys=ON, which a hand-opened connection may lack.
            conn.execute(delete(sts_sessions).where(sts_sessions.c.role_id == row.id))
            conn.execute(delete(iam_roles).where(iam_roles.c.id == row.id))
            deleted = role_record(self.account_id, row)
            forget_in_trust_policies(conn, deleted.arn, deleted.id)
            return deleted
