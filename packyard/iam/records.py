"""IAM records as plain Python: what the IAM store returns and services pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


def iam_arn(account_id: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCOUNT:user/path/name`` (the path, "/" by default, is part of the ARN)."""
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    path: str
    arn: str
    created_at: datetime


@dataclass(frozen=True)
class AccessKey:
    """An access key's metadata; the secret is never part of it."""

    id: str
    user_id: str
    user_name: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    path: str
    arn: str
    description: str | None
    assume_role_policy: str
    max_session_duration: int
    created_at: datetime


@dataclass(frozen=True)
class ManagedPolicy:
    """A customer or AWS managed policy."""

    id: str
    name: str
    path: str
    arn: str
    description: str | None
    document: str
    default_version_id: str
    attachment_count: int
    created_at: datetime
    updated_at: datetime
    is_aws_managed: bool = False


@dataclass(frozen=True)
class InlinePolicy:
    name: str
    document: str


@dataclass(frozen=True)
class Session:
    """Temporary credentials issued by sts:AssumeRole; the secret and token are not part of it."""

    access_key_id: str
    role: Role
    session_name: str
    caller_arn: str
    created_at: datetime
    expires_at: datetime

    @property
    def arn(self) -> str:
        account = self.role.arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{self.role.name}/{self.session_name}"

    @property
    def user_id(self) -> str:
        """AssumedRoleId: the role's unique id and the session name."""
        return f"{self.role.id}:{self.session_name}"


@dataclass(frozen=True)
class ResourcePolicy:
    """A domain's or repository's permissions policy."""

    resource_arn: str
    document: str
    revision: str
    updated_at: datetime


@dataclass(frozen=True)
class IdentityDocuments:
    """Every policy document that applies to one user or role, named for messages and logs."""

    documents: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (name, json)
