"""STS operations: who am I (GetCallerIdentity) and temporary credentials (AssumeRole).

AssumeRole follows the IAM User Guide ("Request temporary security credentials", "Role
chaining"): the role's trust policy must allow the caller, the account root user cannot assume
roles, a session lasts 900 seconds up to the role's MaxSessionDuration (one hour at most when a
role session assumes another role), and the credentials stop working at their expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from packyard.auth.authorize import Authorizer
from packyard.auth.policy_source import compile_policy
from packyard.auth.principal import ASSUMED_ROLE, Principal
from packyard.clock import Clock
from packyard.errors import Invalid, NotFound
from packyard.iam.errors import AccessDenied, StsValidationError
from packyard.iam.records import Role, Session
from packyard.iam.store import IamStore
from packyard.policy.document import PolicyKind

MIN_SESSION_SECONDS = 900
DEFAULT_SESSION_SECONDS = 3600
ROLE_CHAINING_MAX_SECONDS = 3600


@dataclass(frozen=True)
class Credentials:
    """What AssumeRole returns; the secret and token exist only in this response."""

    session: Session
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class CallerIdentity:
    user_id: str
    account: str
    arn: str


class StsService:
    """The service behind the STS API."""

    def __init__(self, store: IamStore, authorizer: Authorizer, clock: Clock) -> None:
        self._store = store
        self._authz = authorizer
        self._clock = clock

    @staticmethod
    def get_caller_identity(principal: Principal) -> CallerIdentity:
        # "No permissions are required to perform this operation" (STS API reference).
        return CallerIdentity(principal.user_id, principal.account_id, principal.arn)

    def assume_role(self, principal: Principal, role_arn: str, session_name: str,
                    duration_seconds: int | None, session_policy: str | None = None,
                    session_policy_arns: list[Any] | None = None,
                    external_id: str | None = None) -> Credentials:
        if session_policy or session_policy_arns:
            # Ignoring them would grant the session more than its caller asked for.
            raise StsValidationError("Session policies (Policy, PolicyArns) are not supported "
                                     "by Packyard; attach the policies to the role instead")
        if principal.is_root:
            raise AccessDenied("Roles may not be assumed by root accounts.")
        denied = (f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on "
                  f"resource: {role_arn}")
        role = self._role_for(role_arn)
        if role is None:
            # Same answer as for an existing role: callers cannot probe which roles exist.
            raise AccessDenied(denied)
        try:
            trust = compile_policy(role.assume_role_policy, PolicyKind.RESOURCE, "trust policy",
                                   role.arn, role_trust=True)
        except Invalid:
            raise AccessDenied(denied) from None
        context: dict[str, Any] = {"sts:RoleSessionName": session_name}
        if external_id is not None:
            context["sts:ExternalId"] = external_id
        self._authz.check_assume_role(principal, role.arn, trust, context)
        chained = principal.kind == ASSUMED_ROLE
        limit = ROLE_CHAINING_MAX_SECONDS if chained else role.max_session_duration
        seconds = duration_seconds if duration_seconds is not None else min(
            DEFAULT_SESSION_SECONDS, limit)
        if seconds < MIN_SESSION_SECONDS:
            raise StsValidationError(
                f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to "
                f"satisfy constraint: Member must have value greater than or equal to "
                f"{MIN_SESSION_SECONDS}")
        if seconds > limit:
            if chained:
                raise StsValidationError("The requested DurationSeconds exceeds the 1 hour "
                                         "session limit for roles assumed by role chaining.")
            raise StsValidationError("The requested DurationSeconds exceeds the "
                                     "MaxSessionDuration set for this role.")
        now = self._clock.now()
        session, secret, token = self._store.create_session(
            role, session_name, principal.arn, now, now + timedelta(seconds=seconds))
        return Credentials(session, secret, token)

    def _role_for(self, role_arn: str) -> Role | None:
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or parts[4] != self._store.account_id:
            return None
        kind, _, rest = parts[5].partition("/")
        if kind != "role" or not rest:
            return None
        try:
            role = self._store.get_role(rest.rsplit("/", 1)[-1])
        except NotFound:
            return None
        # Role names are unique ignoring case, but the ARN (with its path) must match exactly.
        return role if role.arn == role_arn else None

