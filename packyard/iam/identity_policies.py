"""The policies that apply to an identity, as the authorizer reads them.

A user's or role's identity policies are its inline policies followed by the managed policies
attached to it, which ``auth/policy_source.py`` compiles and caches for the authorizer.
"""

from __future__ import annotations

from packyard.iam.inline_policies import inline_documents
from packyard.iam.managed_policies import attached_documents
from packyard.iam.schema import (
    iam_role_attachments,
    iam_role_policies,
    iam_user_attachments,
    iam_user_policies,
)
from packyard.iam.transactions import StoreBase


class IdentityPolicyStore(StoreBase):
    """Every policy document that applies to a user or a role, read in one transaction."""

    def user_documents(self, user_id: str) -> list[tuple[str, str]]:
        """(name, document) of every inline and attached policy of a user."""
        with self._read() as conn:
            return (inline_documents(conn, iam_user_policies, iam_user_policies.c.user_id,
                                     user_id)
                    + attached_documents(conn, iam_user_attachments,
                                         iam_user_attachments.c.user_id, user_id))

    def role_documents(self, role_id: str) -> list[tuple[str, str]]:
        """(name, document) of every inline and attached policy of a role."""
        with self._read() as conn:
            return (inline_documents(conn, iam_role_policies, iam_role_policies.c.role_id,
                                     role_id)
                    + attached_documents(conn, iam_role_attachments,
                                         iam_role_attachments.c.role_id, role_id))
