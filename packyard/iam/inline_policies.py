"""Inline policies: documents embedded in one user or one role, named within it.

Users and roles keep them in two tables of the same shape (``iam_user_policies`` keyed by
``user_id``, ``iam_role_policies`` by ``role_id``), so the helpers below take the table and its
owner column. Policy names are unique per owner ignoring case; putting a name again replaces the
document, as IAM's PutUserPolicy/PutRolePolicy do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from packyard.iam.errors import NoSuchEntity
from packyard.iam.records import InlinePolicy
from packyard.iam.roles import role_row
from packyard.iam.schema import iam_role_policies, iam_user_policies
from packyard.iam.transactions import StoreBase
from packyard.iam.users import user_row


class InlinePolicyStore(StoreBase):
    """Users' and roles' inline policies."""

    def put_user_policy(self, user_name: str, policy_name: str, document: str) -> None:
        with self._write() as conn:
            user = user_row(conn, user_name)
            _upsert_inline(conn, iam_user_policies, iam_user_policies.c.user_id, user.id,
                           policy_name, document)

    def get_user_policy(self, user_name: str, policy_name: str) -> InlinePolicy:
        with self._read() as conn:
            user = user_row(conn, user_name)
            return _inline(conn, iam_user_policies, iam_user_policies.c.user_id, user.id,
                           policy_name, "user")

    def list_user_policies(self, user_name: str) -> list[str]:
        with self._read() as conn:
            user = user_row(conn, user_name)
            return _inline_names(conn, iam_user_policies, iam_user_policies.c.user_id, user.id)

    def delete_user_policy(self, user_name: str, policy_name: str) -> None:
        with self._write() as conn:
            user = user_row(conn, user_name)
            _inline(conn, iam_user_policies, iam_user_policies.c.user_id, user.id, policy_name,
                    "user")
            conn.execute(delete(iam_user_policies).where(
                iam_user_policies.c.user_id == user.id,
                iam_user_policies.c.name_key == policy_name.lower()))

    def put_role_policy(self, role_name: str, policy_name: str, document: str) -> None:
        with self._write() as conn:
            role = role_row(conn, role_name)
            _upsert_inline(conn, iam_role_policies, iam_role_policies.c.role_id, role.id,
                           policy_name, document)

    def get_role_policy(self, role_name: str, policy_name: str) -> InlinePolicy:
        with self._read() as conn:
            role = role_row(conn, role_name)
            return _inline(conn, iam_role_policies, iam_role_policies.c.role_id, role.id,
                           policy_name, "role")

    def list_role_policies(self, role_name: str) -> list[str]:
        with self._read() as conn:
            role = role_row(conn, role_name)
            return _inline_names(conn, iam_role_policies, iam_role_policies.c.role_id, role.id)

    def delete_role_policy(self, role_name: str, policy_name: str) -> None:
        with self._write() as conn:
            role = role_row(conn, role_name)
            _inline(conn, iam_role_policies, iam_role_policies.c.role_id, role.id, policy_name,
                    "role")
            conn.execute(delete(iam_role_policies).where(
                iam_role_policies.c.role_id == role.id,
                iam_role_policies.c.name_key == policy_name.lower()))


def inline_documents(conn: Connection, table: Table, owner: Any,
                     owner_id: str) -> list[tuple[str, str]]:
    """(name, document) of every inline policy of one user or role, by name."""
    return [(r.name, r.document) for r in conn.execute(
        select(table.c.name, table.c.document).where(owner == owner_id)
        .order_by(table.c.name_key))]


def _upsert_inline(conn: Connection, table: Table, owner: Any, owner_id: str, name: str,
                   document: str) -> None:
    existing = conn.execute(select(table.c.name_key).where(
        owner == owner_id, table.c.name_key == name.lower())).first()
    if existing:
        conn.execute(update(table).where(owner == owner_id, table.c.name_key == name.lower())
                     .values(name=name, document=document))
    else:
        conn.execute(insert(table).values({owner.key: owner_id, "name_key": name.lower(),
                                           "name": name, "document": document}))


def _inline(conn: Connection, table: Table, owner: Any, owner_id: str, name: str,
            kind: str) -> InlinePolicy:
    row = conn.execute(select(table.c.name, table.c.document).where(
        owner == owner_id, table.c.name_key == name.lower())).first()
    if row is None:
        raise NoSuchEntity(f"The {kind} policy with name {name} cannot be found.",
                           resource_id=name, resource_type="policy")
    return InlinePolicy(row.name, row.document)


def _inline_names(conn: Connection, table: Table, owner: Any, owner_id: str) -> list[str]:
    return [r.name for r in conn.execute(select(table.c.name).where(owner == owner_id)
                                         .order_by(table.c.name_key))]
