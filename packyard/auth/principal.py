"""Who is making a request: the principal every authorization decision is about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ROOT = "root"
USER = "user"
ASSUMED_ROLE = "assumed-role"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the account root, an IAM user, or an assumed-role session."""

    arn: str
    account_id: str
    kind: str  # ROOT | USER | ASSUMED_ROLE
    # The IAM unique id: the account id for root, AIDA... for a user, AROA...:session for a
    # role session (what aws:userid and GetCallerIdentity's UserId show).
    user_id: str
    name: str
    access_key_id: str | None = None
    # When the caller's own credentials stop working (temporary credentials); None = no end.
    credentials_expire_at: datetime | None = None
    # For a role session, the role's ARN (with its path); None otherwise.
    role_arn: str | None = None
    # When temporary credentials were issued (aws:TokenIssueTime); None for long-term keys.
    credentials_issued_at: datetime | None = None

    @property
    def is_root(self) -> bool:
        return self.kind == ROOT

    @property
    def role_id(self) -> str | None:
        """The role's unique id, for a role session."""
        if self.kind != ASSUMED_ROLE:
            return None
        return self.user_id.split(":", 1)[0]


def root_principal(account_id: str, access_key_id: str | None = None) -> Principal:
    return Principal(arn=f"arn:aws:iam::{account_id}:root", account_id=account_id, kind=ROOT,
                     user_id=account_id, name="root", access_key_id=access_key_id)


def user_principal(account_id: str, user_arn: str, user_id: str, name: str,
                   access_key_id: str | None) -> Principal:
    return Principal(arn=user_arn, account_id=account_id, kind=USER, user_id=user_id,
                     name=name, access_key_id=access_key_id)


def session_principal(account_id: str, session_arn: str, assumed_role_id: str,
                      session_name: str, access_key_id: str, expires_at: datetime,
                      role_arn: str, issued_at: datetime | None = None) -> Principal:
    return Principal(arn=session_arn, account_id=account_id, kind=ASSUMED_ROLE,
                     user_id=assumed_role_id, name=session_name, access_key_id=access_key_id,
                     credentials_expire_at=expires_at, role_arn=role_arn,
                     credentials_issued_at=issued_at)
