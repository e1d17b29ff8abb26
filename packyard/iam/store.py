"""The IAM store: users, access keys, roles, policies, STS sessions and resource policies in SQL.

``IamStore`` is what the rest of Packyard holds; it is made of one part per concept, each in its
own module, sharing one set of engines, one ``SecretBox`` and one ``generation`` counter
(``packyard.iam.transactions``). Each method is one transaction and returns plain records
(``packyard.iam.records``); failures are IAM's own errors (``packyard.iam.errors``) with AWS's
wording. Secret access keys go in and out through the ``SecretBox`` and are never returned by
listing methods; session tokens are stored as their sha256 only.
"""

from __future__ import annotations

from packyard.iam.access_keys import AccessKeyStore
from packyard.iam.identity_policies import IdentityPolicyStore
from packyard.iam.inline_policies import InlinePolicyStore
from packyard.iam.managed_policies import ManagedPolicyStore
from packyard.iam.resource_policies import ResourcePolicyStore
from packyard.iam.roles import RoleStore
from packyard.iam.sessions import SessionStore
from packyard.iam.users import UserStore


class IamStore(UserStore, AccessKeyStore, RoleStore, InlinePolicyStore, ManagedPolicyStore,
               IdentityPolicyStore, SessionStore, ResourcePolicyStore):
    """Every IAM read and write.

    Constructed as ``IamStore((reader, writer), account_id, box)``; the parts add methods only,
    so there is one ``__init__`` (``StoreBase``'s) and one write counter for all of them.
    """
