"""Who is making a request: the principal every authorization decision is about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Principal:
    """An authenticated caller (root for now; IAM users and role sessions later)."""

    arn: str
    account_id: str
    kind: str  # "root" | "user" | "assumed-role"
    user_id: str
    name: str
    access_key_id: str | None = None
    # When the caller's own credentials stop working (temporary credentials); None = no end.
    credentials_expire_at: datetime | None = None

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


def root_principal(account_id: str, access_key_id: str | None = None) -> Principal:
    return Principal(arn=f"arn:aws:iam::{account_id}:root", account_id=account_id, kind="root",
                     user_id=account_id, name="root", access_key_id=access_key_id)
