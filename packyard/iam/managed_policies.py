"""Managed policies and their attachments to users and roles.

Customer managed policies live in ``iam_policies`` under the account's ARNs; AWS managed ones
(``packyard.iam.managed``) are not stored, only looked up, and cannot be deleted. Both attach the
same way: an attachment is a row naming the policy's ARN in ``iam_user_attachments`` or
``iam_role_attachments``, which is why the helpers below take the table and its owner column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select

from packyard.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from packyard.iam.managed import AWS_MANAGED_POLICIES, aws_managed_policy, is_aws_managed_arn
from packyard.iam.records import ManagedPolicy, iam_arn
from packyard.iam.roles import role_row
from packyard.iam.schema import iam_policies, iam_role_attachments, iam_user_attachments
from packyard.iam.secrets import new_id
from packyard.iam.transactions import StoreBase
from packyard.iam.users import user_row

# IAM quotas "Managed policies attached to an IAM user" and "... to an IAM role": 10 by default.
MAX_ATTACHED_POLICIES = 10


class ManagedPolicyStore(StoreBase):
    """Customer and AWS managed policies, attached to users and roles."""

    def create_policy(self, name: str, path: str, document: str, description: str | None,
                      now: datetime) -> ManagedPolicy:
        arn = iam_arn(self.account_id, "policy", path, name)
        # Attached to no one yet (attaching it is the write that counts).
        with self._write(changes_decisions=False) as conn:
            if conn.execute(select(iam_policies.c.id).where(
                    iam_policies.c.name_key == name.lower())).first():
                raise EntityAlreadyExists(
                    f"A policy called {name} already exists. Duplicate names are not allowed.",
                    resource_id=name, resource_type="policy")
            conn.execute(insert(iam_policies).values(
                id=new_id("ANPA"), name=name, name_key=name.lower(), path=path, arn=arn,
                description=description, document=document, default_version_id="v1",
                created_at=now, updated_at=now))
            return _policy(conn, arn)

    def get_policy(self, arn: str) -> ManagedPolicy:
        with self._read() as conn:
            return _policy(conn, arn)

    def list_policies(self, scope: str = "All", only_attached: bool = False,
                      path_prefix: str = "/") -> list[ManagedPolicy]:
        with self._read() as conn:
            arns: list[str] = []
            if scope in ("All", "AWS"):
                arns += [p.arn for p in AWS_MANAGED_POLICIES]
            if scope in ("All", "Local"):
                arns += [r.arn for r in conn.execute(
                    select(iam_policies.c.arn).order_by(iam_policies.c.name_key))]
            found = [_policy(conn, arn) for arn in arns]
        return [p for p in found if p.path.startswith(path_prefix)
                and (p.attachment_count > 0 or not only_attached)]

    def delete_policy(self, arn: str) -> None:
        if is_aws_managed_arn(arn):
            raise InvalidInput("AWS managed policies cannot be deleted.", resource_id=arn,
                               resource_type="policy")
        with self._write() as conn:
            policy = _policy(conn, arn)
            if policy.attachment_count:
                raise DeleteConflict("Cannot delete a policy attached to entities.",
                                     resource_id=arn, resource_type="policy")
            conn.execute(delete(iam_policies).where(iam_policies.c.arn == arn))

    # -- attachments ---------------------------------------------------------------------------

    def attach_user_policy(self, user_name: str, arn: str) -> None:
        with self._write() as conn:
            user = user_row(conn, user_name)
            _policy(conn, arn)
            _attach(conn, iam_user_attachments, iam_user_attachments.c.user_id, user.id, arn,
                    "PoliciesPerUser")

    def detach_user_policy(self, user_name: str, arn: str) -> None:
        with self._write() as conn:
            user = user_row(conn, user_name)
            _detach(conn, iam_user_attachments, iam_user_attachments.c.user_id, user.id, arn)

    def list_attached_user_policies(self, user_name: str) -> list[ManagedPolicy]:
        with self._read() as conn:
            user = user_row(conn, user_name)
            return [_policy(conn, arn) for arn in _attached(
                conn, iam_user_attachments, iam_user_attachments.c.user_id, user.id)]

    def attach_role_policy(self, role_name: str, arn: str) -> None:
        with self._write() as conn:
            role = role_row(conn, role_name)
            _policy(conn, arn)
            _attach(conn, iam_role_attachments, iam_role_attachments.c.role_id, role.id, arn,
                    "PoliciesPerRole")

    def detach_role_policy(self, role_name: str, arn: str) -> None:
        with self._write() as conn:
            role = role_row(conn, role_name)
            _detach(conn, iam_role_attachments, iam_role_attachments.c.role_id, role.id, arn)

    def list_attached_role_policies(self, role_name: str) -> list[ManagedPolicy]:
        with self._read() as conn:
            role = role_row(conn, role_name)
            return [_policy(conn, arn) for arn in _attached(
                conn, iam_role_attachments, iam_role_attachments.c.role_id, role.id)]


def attached_documents(conn: Connection, table: Table, owner: Any,
                       owner_id: str) -> list[tuple[str, str]]:
    """(ARN, document) of every managed policy attached to one user or role, by ARN."""
    found: list[tuple[str, str]] = []
    for arn in _attached(conn, table, owner, owner_id):
        aws = aws_managed_policy(arn)
        if aws is not None:
            found.append((arn, aws.document))
            continue
        document = conn.execute(select(iam_policies.c.document).where(
            iam_policies.c.arn == arn)).scalar()
        if document is not None:
            found.append((arn, document))
    return found


def _attachment_count(conn: Connection, arn: str) -> int:
    users = conn.execute(select(func.count()).select_from(iam_user_attachments).where(
        iam_user_attachments.c.policy_arn == arn)).scalar_one()
    roles = conn.execute(select(func.count()).select_from(iam_role_attachments).where(
        iam_role_attachments.c.policy_arn == arn)).scalar_one()
    return int(users) + int(roles)


def _policy(conn: Connection, arn: str) -> ManagedPolicy:
    aws = aws_managed_policy(arn)
    if aws is not None:
        return ManagedPolicy(
            id=aws.policy_id, name=aws.name, path=aws.path, arn=aws.arn,
            description=aws.description, document=aws.document,
            default_version_id=aws.default_version_id,
            attachment_count=_attachment_count(conn, arn),
            created_at=aws.created_at, updated_at=aws.updated_at, is_aws_managed=True)
    row = conn.execute(select(iam_policies).where(iam_policies.c.arn == arn)).first()
    if row is None:
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.",
                           resource_id=arn, resource_type="policy")
    return ManagedPolicy(
        id=row.id, name=row.name, path=row.path, arn=row.arn, description=row.description,
        document=row.document, default_version_id=row.default_version_id,
        attachment_count=_attachment_count(conn, arn), created_at=row.created_at,
        updated_at=row.updated_at)


def _attach(conn: Connection, table: Table, owner: Any, owner_id: str, arn: str,
            quota: str) -> None:
    # Attaching twice is a no-op in IAM.
    if conn.execute(select(table.c.policy_arn).where(owner == owner_id,
                                                     table.c.policy_arn == arn)).first():
        return
    attached = conn.execute(select(func.count()).select_from(table).where(
        owner == owner_id)).scalar_one()
    if attached >= MAX_ATTACHED_POLICIES:
        raise LimitExceeded(f"Cannot exceed quota for {quota}: {MAX_ATTACHED_POLICIES}",
                            resource_id=arn, resource_type="policy")
    conn.execute(insert(table).values({owner.key: owner_id, "policy_arn": arn}))


def _detach(conn: Connection, table: Table, owner: Any, owner_id: str, arn: str) -> None:
    result = conn.execute(delete(table).where(owner == owner_id, table.c.policy_arn == arn))
    if not result.rowcount:
        raise NoSuchEntity(f"Policy {arn} was not found.", resource_id=arn,
                           resource_type="policy")


def _attached(conn: Connection, table: Table, owner: Any, owner_id: str) -> list[str]:
    return [r.policy_arn for r in conn.execute(select(table.c.policy_arn).where(
        owner == owner_id).order_by(table.c.policy_arn))]
