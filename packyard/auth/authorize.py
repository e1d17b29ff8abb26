"""The one authorization point: may this principal do this action on this resource?

Every CodeArtifact API operation and every package-endpoint request calls ``Authorizer.check``.
Root may do everything in its own account; IAM users, roles and policies plug in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packyard.auth.principal import Principal
from packyard.errors import Denied


class Authorizer:
    """Decides access; raises Denied with AWS's wording when the answer is no."""

    def __init__(self, account_id: str) -> None:
        self._account_id = account_id

    def is_allowed(self, principal: Principal, action: str, resource_arn: str,
                   context: Mapping[str, Any] | None = None) -> bool:
        return bool(principal.is_root and principal.account_id == self._account_id)

    def check(self, principal: Principal, action: str, resource_arn: str,
              context: Mapping[str, Any] | None = None) -> None:
        if not self.is_allowed(principal, action, resource_arn, context):
            raise Denied(f"User: {principal.arn} is not authorized to perform: {action} on "
                         f"resource: {resource_arn}")
