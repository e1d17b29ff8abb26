"""Authorization tokens as their holders and administrators see them: listed and revoked.

``packyard token`` does the same from the data directory as the operator; this is the
service behind the console, so every step is authorized. AWS has no API for tokens, so the
rule follows what a token is, a credential derived from its principal's own:

- a principal may always list and revoke the tokens it minted itself (its own ARN);
- another principal's tokens need ``iam:ListAccessKeys`` (to list) or
  ``iam:UpdateAccessKey`` (to revoke) on that principal's ARN, the permissions that govern the
  access keys the tokens were minted with. Root has both in its account.

A revocation made here applies to this process's next request (the token service's cache is
dropped) and to every other process within 5 seconds, as ``packyard token revoke``'s does.
"""

from __future__ import annotations

from packyard.auth.authorize import Authorizer
from packyard.auth.principal import Principal
from packyard.auth.token_ledger import TokenInfo, TokenLedger
from packyard.auth.tokens import TokenService
from packyard.clock import Clock
from packyard.errors import NotFound


class TokenAdministration:
    """List and revoke tokens for a signed-in principal."""

    def __init__(self, ledger: TokenLedger, tokens: TokenService, authorizer: Authorizer,
                 clock: Clock) -> None:
        self._ledger = ledger
        self._tokens = tokens
        self._authz = authorizer
        self._clock = clock

    def _may(self, principal: Principal, action: str, owner_arn: str) -> bool:
        return owner_arn == principal.arn or self._authz.is_allowed(principal, action,
                                                                    owner_arn)

    def list_tokens(self, principal: Principal, *, include_inactive: bool = False
                    ) -> list[TokenInfo]:
        """The tokens this principal may see, oldest first."""
        found = self._ledger.list(include_inactive=include_inactive, now=self._clock.now())
        allowed: dict[str, bool] = {}
        visible = []
        for info in found:
            if info.principal_arn not in allowed:
                allowed[info.principal_arn] = self._may(principal, "iam:ListAccessKeys",
                                                        info.principal_arn)
            if allowed[info.principal_arn]:
                visible.append(info)
        return visible

    def revoke(self, principal: Principal, token_id: str) -> TokenInfo:
        """Revoke one token; a token this principal may not see is one that does not exist."""
        info = self._ledger.find(token_id)
        if info is None or not self._may(principal, "iam:ListAccessKeys", info.principal_arn):
            raise NotFound(f"No token {token_id}", resource_id=token_id,
                           resource_type="token")
        if info.principal_arn != principal.arn:
            self._authz.check(principal, "iam:UpdateAccessKey", info.principal_arn)
        self._ledger.revoke(token_id, self._clock.now())
        self._tokens.forget_cached()
        return info
