"""Trust policies naming a deleted user or role: the name becomes the deleted entity's unique id.

IAM keeps a principal in a trust policy as the entity's unique id, and shows that id (AIDA...,
AROA...) in place of the ARN once the entity is deleted ("IAM identifiers: Unique
identifiers"): a user or role created later with the same name is not trusted by a policy
written for the one before it. Packyard keeps trust policies as written and matches ARNs, so on
deletion the ARNs naming the entity are rewritten to its unique id, which no other entity has.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, update

from packyard.iam.schema import iam_roles

_PRINCIPAL_ELEMENTS = ("Principal", "NotPrincipal")


def forget_principal(document: str, arn: str, unique_id: str) -> str | None:
    """``document`` with every "AWS" principal naming ``arn`` (ignoring case, as IAM names
    are) replaced by ``unique_id``; None when it names no such principal."""
    try:
        policy = json.loads(document)
    except ValueError:
        return None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    changed = False
    for statement in statements:
        for element in _PRINCIPAL_ELEMENTS:
            principals = statement.get(element) if isinstance(statement, dict) else None
            if not isinstance(principals, dict) or "AWS" not in principals:
                continue
            replaced = _replaced(principals["AWS"], arn.lower(), unique_id)
            if replaced is not None:
                principals["AWS"] = replaced
                changed = True
    return json.dumps(policy, indent=4) if changed else None


def _replaced(value: Any, arn_key: str, unique_id: str) -> Any:
    if isinstance(value, str):
        return unique_id if value.lower() == arn_key else None
    if isinstance(value, list):
        entries = [unique_id if isinstance(v, str) and v.lower() == arn_key else v
                   for v in value]
        return entries if entries != value else None
    return None


def forget_in_trust_policies(conn: Connection, arn: str, unique_id: str) -> None:
    """Rewrite, in this transaction, every role's trust policy naming the deleted ``arn``."""
    rows = conn.execute(select(iam_roles.c.id, iam_roles.c.assume_role_policy)).all()
    for row in rows:
        # Each parsed: a JSON escape ("\/" for "/") may spell the ARN another way.
        document = forget_principal(row.assume_role_policy, arn, unique_id)
        if document is not None:
            conn.execute(update(iam_roles).where(iam_roles.c.id == row.id)
                         .values(assume_role_policy=document))
