"""The authorization decision for one request, following AWS's policy evaluation logic.

IAM User Guide, "Policy evaluation logic" and "Cross-account policy evaluation logic":

1. An explicit Deny in any applicable identity or resource policy wins. A resource-policy Deny
   that names the caller's account applies to everyone in that account.
2. Same account (the caller's account owns the resource): an Allow in an identity policy, or an
   Allow in a resource policy that names the caller itself (its ARN, the role of its session, or
   `*`), is enough. A resource policy that names only the account delegates to the account's
   identity policies ("AWS account principals"), so it does not allow on its own.
3. Cross-account: both an identity-policy Allow and a resource-policy Allow that names the caller
   or its account are needed.
4. Otherwise the request is implicitly denied.

The account root user "has full access" in its own account: identity policies are not consulted
for it (none can be attached), but a resource-policy Deny still denies it, and cross-account it
still needs the resource policy's Allow. Anonymous callers and service principals have no
identity policies; only a resource-policy Allow naming them (`*`, or the service) lets them in.
Permission boundaries, SCPs and session policies do not exist in Packyard.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packyard.policy.conditions import ContextInput, RequestContext
from packyard.policy.document import (
    Effect,
    Policy,
    PolicyKind,
    PrincipalMatch,
    PrincipalType,
    RequestPrincipal,
    Statement,
)
from packyard.policy.wildcards import ARN_PARTS

__all__ = [
    "AuthzRequest",
    "Decision",
    "DecisionReason",
    "PolicyKind",
    "PrincipalType",
    "RequestPrincipal",
    "StatementRef",
    "denial_message",
    "evaluate",
]


@dataclass(frozen=True)
class AuthzRequest:
    """What is being authorized: who does which action on which resource, in which context.

    `resource` is the resource ARN, or `*` for actions that have no resource (such as
    sts:GetServiceBearerToken). `resource_account` owns the resource; None means the request
    has no other account involved. `context` holds condition keys (names ignore case; a list is
    a multivalued key). Principal keys missing from it are derived from `principal`.
    """

    principal: RequestPrincipal
    action: str
    resource: str
    resource_account: str | None = None
    context: Mapping[str, ContextInput] = field(default_factory=dict)


class DecisionReason(enum.StrEnum):
    """Why a request was allowed or denied."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class StatementRef:
    """Which statement of which policy took part in a decision (for logs and messages)."""

    policy_kind: PolicyKind
    policy: str | None
    index: int
    sid: str | None
    effect: Effect

    def __str__(self) -> str:
        if self.sid:
            return self.sid
        return f"{self.policy or f'{self.policy_kind.value} policy'} statement {self.index}"


@dataclass(frozen=True)
class Decision:
    """The outcome of `evaluate`.

    `statements` are the deciding statements: the Deny statements for an explicit deny, the
    Allow statements that granted access, or, for an implicit deny, any Allow statements that
    matched but were not enough (cross-account). `policy_kind` is the kind of policy that
    explicitly denied, or the kind that lacked an Allow for an implicit deny.
    """

    allowed: bool
    reason: DecisionReason
    statements: tuple[StatementRef, ...] = ()
    policy_kind: PolicyKind | None = None

    @property
    def statement_ids(self) -> tuple[str, ...]:
        """The deciding statements' Sids (or positions, for statements without a Sid)."""
        return tuple(str(s) for s in self.statements)


_PRINCIPAL_TYPE_KEY = {
    # aws:PrincipalType values ("AWS global condition context keys").
    PrincipalType.ROOT: "Account",
    PrincipalType.USER: "User",
    PrincipalType.ASSUMED_ROLE: "AssumedRole",
    PrincipalType.FEDERATED_USER: "FederatedUser",
    PrincipalType.ANONYMOUS: "Anonymous",
}


_TEMPORARY_CREDENTIALS = frozenset({PrincipalType.ASSUMED_ROLE, PrincipalType.FEDERATED_USER})


def principal_context(principal: RequestPrincipal,
                      resource_account: str | None) -> dict[str, ContextInput]:
    """The global condition keys that follow from the caller and the resource's account."""
    keys: dict[str, ContextInput] = {}
    if principal.type in _PRINCIPAL_TYPE_KEY:
        keys["aws:PrincipalType"] = _PRINCIPAL_TYPE_KEY[principal.type]
    if principal.account:
        keys["aws:PrincipalAccount"] = principal.account
    if resource_account:
        keys["aws:ResourceAccount"] = resource_account
    if principal.type is PrincipalType.SERVICE:
        keys["aws:PrincipalServiceName"] = principal.arn
    elif principal.type is PrincipalType.ASSUMED_ROLE:
        # "For an IAM role, the request context returns the ARN of the role, not the ARN of
        # the user that assumed the role" (aws:PrincipalArn).
        keys["aws:PrincipalArn"] = principal.session_issuer_arn or principal.arn
    elif principal.type is not PrincipalType.ANONYMOUS:
        keys["aws:PrincipalArn"] = principal.arn
    if principal.type is PrincipalType.USER:
        username = principal.username or _last_path_element(principal.arn)
        if username:
            keys["aws:username"] = username
    if principal.user_id:
        keys["aws:userid"] = principal.user_id
    elif principal.type is PrincipalType.ROOT and principal.account:
        keys["aws:userid"] = principal.account
    if principal.type is not PrincipalType.ANONYMOUS:
        # Present in every signed request ("AWS global condition context keys"), so that the
        # User Guide's Deny statements conditioned on them (the source-IP example's
        # `"Bool": {"aws:ViaAWSService": "false"}`) apply. No AWS service calls Packyard on a
        # caller's behalf.
        keys["aws:ViaAWSService"] = False
        keys["aws:PrincipalIsAWSService"] = principal.type is PrincipalType.SERVICE
    if principal.type in _TEMPORARY_CREDENTIALS:
        # Present only for temporary credentials; Packyard's sessions never involve MFA.
        # "Revoke active sessions" denies on aws:TokenIssueTime.
        keys["aws:MultiFactorAuthPresent"] = False
        if principal.token_issued_at is not None:
            keys["aws:TokenIssueTime"] = principal.token_issued_at
    return keys


def _last_path_element(arn: str) -> str | None:
    parts = arn.split(":", ARN_PARTS - 1)
    if len(parts) != ARN_PARTS:
        return None
    return parts[5].rsplit("/", 1)[-1] or None


def _ref(policy: Policy, statement: Statement) -> StatementRef:
    return StatementRef(policy.kind, policy.label, statement.index, statement.sid,
                        statement.effect)


def evaluate(request: AuthzRequest, identity_policies: Sequence[Policy],
             resource_policies: Sequence[Policy]) -> Decision:
    """Decide whether `request` is allowed by the caller's and the resource's policies."""
    principal = request.principal
    context = RequestContext(request.context,
                             defaults=principal_context(principal, request.resource_account))
    has_identity = principal.type not in (PrincipalType.ROOT, PrincipalType.ANONYMOUS,
                                          PrincipalType.SERVICE)

    identity_denies: list[StatementRef] = []
    identity_allows: list[StatementRef] = []
    if has_identity:
        for policy in identity_policies:
            for statement in policy.statements:
                if statement.applies(request.action, request.resource, context):
                    target = identity_denies if statement.effect is Effect.DENY else identity_allows
                    target.append(_ref(policy, statement))

    resource_denies: list[StatementRef] = []
    direct_allows: list[StatementRef] = []
    account_allows: list[StatementRef] = []
    for policy in resource_policies:
        for statement in policy.statements:
            named = statement.principal_match(principal)
            if named is PrincipalMatch.NONE:
                continue
            if not statement.applies(request.action, request.resource, context):
                continue
            ref = _ref(policy, statement)
            if statement.effect is Effect.DENY:
                resource_denies.append(ref)
            elif named is PrincipalMatch.ACCOUNT:
                account_allows.append(ref)
            else:
                direct_allows.append(ref)

    if identity_denies:
        return Decision(False, DecisionReason.EXPLICIT_DENY,
                        tuple(identity_denies + resource_denies), PolicyKind.IDENTITY)
    if resource_denies:
        return Decision(False, DecisionReason.EXPLICIT_DENY, tuple(resource_denies),
                        PolicyKind.RESOURCE)

    if not has_identity and principal.type is not PrincipalType.ROOT:
        # Anonymous callers and services: only the resource policy can let them in.
        if direct_allows:
            return Decision(True, DecisionReason.ALLOWED, tuple(direct_allows))
        return Decision(False, DecisionReason.IMPLICIT_DENY, (), PolicyKind.RESOURCE)

    identity_allowed = principal.type is PrincipalType.ROOT or bool(identity_allows)
    same_account = (request.resource_account is None
                    or request.resource_account == principal.account)
    if same_account:
        if identity_allowed or direct_allows:
            return Decision(True, DecisionReason.ALLOWED, tuple(identity_allows + direct_allows))
        return Decision(False, DecisionReason.IMPLICIT_DENY, tuple(account_allows),
                        PolicyKind.IDENTITY)
    resource_allows = direct_allows + account_allows
    if identity_allowed and resource_allows:
        return Decision(True, DecisionReason.ALLOWED, tuple(identity_allows + resource_allows))
    if not identity_allowed:
        return Decision(False, DecisionReason.IMPLICIT_DENY, tuple(resource_allows),
                        PolicyKind.IDENTITY)
    return Decision(False, DecisionReason.IMPLICIT_DENY, tuple(identity_allows),
                    PolicyKind.RESOURCE)


def denial_message(request: AuthzRequest, decision: Decision) -> str:
    """AWS's AccessDenied wording for a denied request ("Troubleshoot access denied errors").

    For example: "User: arn:aws:iam::111122223333:user/alice is not authorized to perform:
    codeartifact:ReadFromRepository on resource: arn:aws:codeartifact:...:repository/d/r
    because no identity-based policy allows the codeartifact:ReadFromRepository action".
    """
    if decision.allowed:
        raise ValueError("denial_message() needs a decision that denies the request")
    who = "anonymous" if request.principal.type is PrincipalType.ANONYMOUS else \
        request.principal.arn
    kind = decision.policy_kind or PolicyKind.IDENTITY
    policy_type = f"{kind.value}-based"
    message = f"User: {who} is not authorized to perform: {request.action}"
    if request.resource and request.resource != "*":
        message += f" on resource: {request.resource}"
    if decision.reason is DecisionReason.EXPLICIT_DENY:
        article = "an" if kind is PolicyKind.IDENTITY else "a"
        return f"{message} with an explicit deny in {article} {policy_type} policy"
    return f"{message} because no {policy_type} policy allows the {request.action} action"
