"""The one authorization point: may this principal do this action on this resource?

Every CodeArtifact API operation, every IAM/STS operation and every package-endpoint request calls
``Authorizer.check``. The decision is AWS's policy evaluation (``packyard.policy.evaluation``) over:

- the principal's identity policies (inline and attached managed policies of the IAM user, or of
  the role behind a role session; the account root has none and needs none in its own account);
- the resource policies that govern the resource: the domain's policy for the domain and
  everything in it, and the repository's policy for the repository and its packages.

Two exceptions follow CodeArtifact's documentation: ``sts:GetServiceBearerToken`` is decided by
identity policies alone ("the permission will have no effect in resource policies"), and
``Put{Domain,Repository}PermissionsPolicy`` ignores the resource's own policy, so that an owner
cannot lock themselves out of changing it. Only its own: the domain's policy still governs
``PutRepositoryPermissionsPolicy`` on every repository in the domain (it is "evaluated for all
operations against the domain and all resources within the domain"), so a domain-level Deny
stops anyone from opening a repository with its own policy.

Request context keys: ``aws:CurrentTime``, ``aws:EpochTime``, ``aws:RequestedRegion``, and, inside
an HTTP request, ``aws:SourceIp``, ``aws:SecureTransport`` and ``aws:UserAgent`` (see
``packyard.auth.environment``); the principal keys (``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:userid``, ``aws:username``, ``aws:PrincipalType``) come from the
principal. Callers add their own (``sts:AWSServiceName``, ``sts:DurationSeconds``,
``iam:PolicyARN``) through ``context``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from packyard.auth.environment import current_environment
from packyard.auth.policy_source import (
    NoPolicies,
    PolicySet,
    PolicySource,
    governing_policy_arns,
)
from packyard.auth.principal import ASSUMED_ROLE, ROOT, USER, Principal
from packyard.clock import Clock
from packyard.errors import Denied
from packyard.policy.conditions import ContextInput
from packyard.policy.document import Policy, PolicyKind, PrincipalType, RequestPrincipal
from packyard.policy.evaluation import (
    AuthzRequest,
    Decision,
    DecisionReason,
    denial_message,
    evaluate,
)
from packyard.policy.tags import tag_context

log = logging.getLogger("packyard.auth")

# Decided by identity policies only.
_IDENTITY_ONLY_ACTIONS = frozenset({"sts:getservicebearertoken"})
# Decided without the resource's own policy; the policies of what encloses it still apply.
_OWN_POLICY_IGNORED_ACTIONS = frozenset({
    "codeartifact:putdomainpermissionspolicy",
    "codeartifact:putrepositorypermissionspolicy",
})

GLOBAL_SERVICES_REGION = "us-east-1"

_PRINCIPAL_TYPES = {ROOT: PrincipalType.ROOT, USER: PrincipalType.USER,
                    ASSUMED_ROLE: PrincipalType.ASSUMED_ROLE}


def request_principal(principal: Principal) -> RequestPrincipal:
    """The policy engine's view of a principal."""
    return RequestPrincipal(
        arn=principal.arn,
        type=_PRINCIPAL_TYPES.get(principal.kind, PrincipalType.ANONYMOUS),
        account=principal.account_id,
        user_id=principal.user_id,
        username=principal.name if principal.kind == USER else None,
        source_arn=principal.role_arn,
        token_issued_at=principal.credentials_issued_at,
    )


def resource_account(resource_arn: str) -> str | None:
    """The account that owns an ARN's resource; None for ``*`` and for AWS-owned resources.

    AWS managed policies (``arn:aws:iam::aws:policy/...``) belong to no account: every account
    may read and attach them under its own identity policies.
    """
    parts = resource_arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[4].isdigit():
        return parts[4]
    return None


class Authorizer:
    """Decides access; raises Denied with AWS's wording when the answer is no."""

    def __init__(self, account_id: str, policies: PolicySource | None = None,
                 clock: Clock | None = None, region: str | None = None,
                 resource_tags: Callable[[str], Mapping[str, str]] | None = None) -> None:
        self._account_id = account_id
        self._policies: PolicySource = policies or NoPolicies()
        self._clock = clock or Clock()
        self._region = region
        # A resource's tags by ARN (domains, repositories, package groups): every decision on
        # a tagged resource sees them as aws:ResourceTag/<key>, whoever the caller is.
        self._resource_tags = resource_tags

    def request_context(self, extra: Mapping[str, Any] | None = None,
                        action: str = "") -> dict[str, ContextInput]:
        """The environment's condition keys for ``action`` plus ``extra`` (which wins on a
        clash)."""
        now = self._clock.now()
        context: dict[str, ContextInput] = {"aws:CurrentTime": now,
                                            "aws:EpochTime": int(now.timestamp())}
        environment = current_environment()
        if action.lower().startswith("iam:"):
            # IAM is a global service whose one endpoint is in us-east-1: every IAM request is
            # made to that region, whatever the server's ("Denies access to AWS based on the
            # requested Region").
            context["aws:RequestedRegion"] = GLOBAL_SERVICES_REGION
        elif environment is not None and environment.requested_region:
            context["aws:RequestedRegion"] = environment.requested_region
        elif self._region:
            context["aws:RequestedRegion"] = self._region
        if environment is not None:
            if environment.source_ip:
                context["aws:SourceIp"] = environment.source_ip
            context["aws:SecureTransport"] = environment.secure_transport
            if environment.user_agent is not None:
                context["aws:UserAgent"] = environment.user_agent
        context.update(extra or {})
        return context

    def decide(self, principal: Principal, action: str, resource_arn: str,
               context: Mapping[str, Any] | None = None,
               resource_policies: Sequence[Policy] | None = None
               ) -> tuple[AuthzRequest, Decision]:
        """The decision and the request it was made for (for ``denial_message``).

        ``resource_policies``, when given, replace the policies of the resource (a role's trust
        policy for sts:AssumeRole).
        """
        if self._resource_tags is not None and action.lower().startswith("codeartifact:"):
            tags = self._resource_tags(resource_arn)
            if tags:
                context = {**tag_context(resource_tags=tags), **(context or {})}
        request = AuthzRequest(principal=request_principal(principal), action=action,
                               resource=resource_arn,
                               resource_account=resource_account(resource_arn),
                               context=self.request_context(context, action))
        identity = self._policies.identity_policies(principal)
        if resource_policies is not None:
            resources = PolicySet(tuple(resource_policies))
        elif action.lower() in _IDENTITY_ONLY_ACTIONS:
            resources = PolicySet()
        elif action.lower() in _OWN_POLICY_IGNORED_ACTIONS:
            enclosing = governing_policy_arns(resource_arn)[:-1]
            resources = (self._policies.resource_policies(enclosing[-1]) if enclosing
                         else PolicySet())
        else:
            resources = self._policies.resource_policies(resource_arn)
        unreadable = identity.unreadable + resources.unreadable
        if unreadable and not principal.is_root:
            decision = Decision(False, DecisionReason.IMPLICIT_DENY)
            log.error("%s refused %s on %s: unreadable policies %s", principal.arn, action,
                      resource_arn, ", ".join(unreadable))
            return request, decision
        decision = evaluate(request, identity.policies, resources.policies)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s on %s (%s)", principal.arn,
                      "may" if decision.allowed else "may not", action, resource_arn,
                      ", ".join(decision.statement_ids) or decision.reason.value)
        return request, decision

    def is_allowed(self, principal: Principal, action: str, resource_arn: str,
                   context: Mapping[str, Any] | None = None) -> bool:
        return self.decide(principal, action, resource_arn, context)[1].allowed

    def check(self, principal: Principal, action: str, resource_arn: str,
              context: Mapping[str, Any] | None = None) -> None:
        """Return quietly if allowed; raise Denied with AWS's AccessDenied wording if not."""
        request, decision = self.decide(principal, action, resource_arn, context)
        if not decision.allowed:
            raise Denied(denial_message(request, decision))

    def check_assume_role(self, principal: Principal, role_arn: str, trust_policy: Policy,
                          context: Mapping[str, Any] | None = None) -> None:
        """sts:AssumeRole, which a role's trust policy must always allow.

        Unlike other resource policies, an identity-policy Allow alone is not enough: the trust
        policy must name the caller. Naming it directly (its ARN, or the role of its session) is
        enough on its own; naming only its account delegates to the account's identity policies,
        which must then allow too ("How IAM roles differ from resource-based policies").
        """
        request, same = self.decide(principal, "sts:AssumeRole", role_arn, context,
                                    resource_policies=[trust_policy])
        if same.reason is DecisionReason.EXPLICIT_DENY:
            raise Denied(denial_message(request, same))
        if same.allowed and any(ref.policy_kind is PolicyKind.RESOURCE
                                for ref in same.statements):
            return
        identity = self._policies.identity_policies(principal)
        if identity.unreadable:
            raise Denied(denial_message(request, Decision(False, DecisionReason.IMPLICIT_DENY)))
        # Evaluated as if the role were in another account: both sides must allow.
        both = evaluate(replace(request, resource_account=""), identity.policies,
                        [trust_policy])
        if not both.allowed:
            raise Denied(denial_message(request, both))
