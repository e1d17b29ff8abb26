"""IAM operations: users, access keys, roles and policies, each authorized like AWS does it.

Every method takes the calling principal, asks the Authorizer for the IAM action on the entity's
ARN (``iam:CreateUser`` on ``arn:aws:iam::ACCOUNT:user/NAME`` and so on; actions that list
everything use ``*``), then calls the store. Authorization comes before "does it exist", so a
caller without permission learns nothing about which names are taken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from packyard.auth.authorize import Authorizer
from packyard.auth.principal import USER, Principal
from packyard.clock import Clock
from packyard.errors import Invalid, NotFound
from packyard.iam.documents import (
    MANAGED_POLICY_SIZE,
    ROLE_INLINE_POLICY_SIZE,
    USER_INLINE_POLICY_SIZE,
    check_identity_policy,
    check_trust_policy,
)
from packyard.iam.errors import InvalidInput, MalformedPolicyDocument, NoSuchEntity
from packyard.iam.records import (
    AccessKey,
    InlinePolicy,
    ManagedPolicy,
    Role,
    User,
    iam_arn,
)
from packyard.iam.store import IamStore
from packyard.policy.document import PolicyKind, parse_policy

DEFAULT_MAX_SESSION_DURATION = 3600


@dataclass(frozen=True)
class RootUser:
    """The account's root user as IAM's GetUser shows it: no name or path, the account id as
    its UserId, and the account's creation date as its CreateDate."""

    user_id: str
    arn: str
    created_at: datetime


class IamService:
    """The service behind the IAM API."""

    def __init__(self, store: IamStore, authorizer: Authorizer, clock: Clock,
                 account_created: Callable[[datetime], datetime] | None = None) -> None:
        self.store = store
        self._authz = authorizer
        self._clock = clock
        self._account = store.account_id
        # When the account was created, given the time now (``shared_secrets``: kept in the
        # database on the first ask); without a database to keep it, the first ask's time.
        self._account_created = account_created
        self._created_at: datetime | None = None

    def _now(self) -> datetime:
        return self._clock.now()

    # -- ARNs of possibly missing entities -----------------------------------------------------

    def _user_or_none(self, name: str) -> User | None:
        try:
            return self.store.get_user(name)
        except NotFound:
            return None

    def _role_or_none(self, name: str) -> Role | None:
        try:
            return self.store.get_role(name)
        except NotFound:
            return None

    def _authorize_user(self, principal: Principal, action: str, name: str,
                        context: dict[str, str] | None = None) -> User:
        user = self._user_or_none(name)
        arn = user.arn if user else iam_arn(self._account, "user", "/", name)
        self._authz.check(principal, action, arn, context)
        return user or self.store.get_user(name)  # raises NoSuchEntity

    def _authorize_role(self, principal: Principal, action: str, name: str,
                        context: dict[str, str] | None = None) -> Role:
        role = self._role_or_none(name)
        arn = role.arn if role else iam_arn(self._account, "role", "/", name)
        self._authz.check(principal, action, arn, context)
        return role or self.store.get_role(name)

    def _own_user_name(self, principal: Principal, user_name: str | None) -> str:
        """UserName, or the calling IAM user's own name when it is omitted (as IAM does)."""
        if user_name:
            return user_name
        if principal.kind == USER:
            return principal.name
        if not principal.is_root:
            # IAM's answer to a role session, as for GetUser.
            raise Invalid("Must specify userName when calling with non-User credentials")
        raise InvalidInput("Pass UserName (--user-name): the root user's keys come from the "
                           "server settings")

    # -- users ---------------------------------------------------------------------------------

    def create_user(self, principal: Principal, name: str, path: str | None) -> User:
        path = path or "/"
        self._authz.check(principal, "iam:CreateUser", iam_arn(self._account, "user", path, name))
        return self.store.create_user(name, path, self._now())

    def get_user(self, principal: Principal, name: str | None) -> User | RootUser:
        """The named user; without a name, the caller itself (root as a ``RootUser``)."""
        if not name:
            if principal.kind != USER:
                if principal.is_root:
                    return RootUser(principal.user_id, principal.arn, self._account_since())
                raise Invalid("Must specify userName when calling with non-User credentials")
            name = principal.name
        return self._authorize_user(principal, "iam:GetUser", name)

    def _account_since(self) -> datetime:
        if self._created_at is None:
            now = self._now()
            self._created_at = (self._account_created(now) if self._account_created is not None
                                else now)
        return self._created_at

    def list_users(self, principal: Principal, path_prefix: str | None) -> list[User]:
        self._authz.check(principal, "iam:ListUsers", "*")
        return self.store.list_users(path_prefix or "/")

    def list_groups_for_user(self, principal: Principal, name: str) -> list[dict[str, str]]:
        """The user's groups: none, as Packyard has no groups. Answered rather than refused,
        so that the User Guide's "view their own permissions" policy and the scripts that audit
        a user work as on an account without groups."""
        self._authorize_user(principal, "iam:ListGroupsForUser", name)
        return []

    def list_groups(self, principal: Principal) -> list[dict[str, str]]:
        """The account's groups: none (see ``list_groups_for_user``)."""
        self._authz.check(principal, "iam:ListGroups", "*")
        return []

    def delete_user(self, principal: Principal, name: str) -> None:
        self._authorize_user(principal, "iam:DeleteUser", name)
        self.store.delete_user(name)

    # -- access keys ---------------------------------------------------------------------------

    def create_access_key(self, principal: Principal, user_name: str | None
                          ) -> tuple[AccessKey, str]:
        name = self._own_user_name(principal, user_name)
        self._authorize_user(principal, "iam:CreateAccessKey", name)
        return self.store.create_access_key(name, self._now())

    def list_access_keys(self, principal: Principal, user_name: str | None) -> list[AccessKey]:
        name = self._own_user_name(principal, user_name)
        self._authorize_user(principal, "iam:ListAccessKeys", name)
        return self.store.list_access_keys(name)

    def update_access_key(self, principal: Principal, user_name: str | None, key_id: str,
                          status: str) -> None:
        name = self._own_user_name(principal, user_name)
        self._authorize_user(principal, "iam:UpdateAccessKey", name)
        self.store.update_access_key(name, key_id, status)

    def delete_access_key(self, principal: Principal, user_name: str | None,
                          key_id: str) -> None:
        name = self._own_user_name(principal, user_name)
        self._authorize_user(principal, "iam:DeleteAccessKey", name)
        self.store.delete_access_key(name, key_id)

    # -- inline policies -----------------------------------------------------------------------

    def put_user_policy(self, principal: Principal, user_name: str, policy_name: str,
                        document: str) -> None:
        self._authorize_user(principal, "iam:PutUserPolicy", user_name)
        check_identity_policy(document, USER_INLINE_POLICY_SIZE, "inline user policy")
        self.store.put_user_policy(user_name, policy_name, document)

    def get_user_policy(self, principal: Principal, user_name: str,
                        policy_name: str) -> tuple[User, InlinePolicy]:
        user = self._authorize_user(principal, "iam:GetUserPolicy", user_name)
        return user, self.store.get_user_policy(user_name, policy_name)

    def list_user_policies(self, principal: Principal, user_name: str) -> list[str]:
        self._authorize_user(principal, "iam:ListUserPolicies", user_name)
        return self.store.list_user_policies(user_name)

    def delete_user_policy(self, principal: Principal, user_name: str,
                           policy_name: str) -> None:
        self._authorize_user(principal, "iam:DeleteUserPolicy", user_name)
        self.store.delete_user_policy(user_name, policy_name)

    def put_role_policy(self, principal: Principal, role_name: str, policy_name: str,
                        document: str) -> None:
        self._authorize_role(principal, "iam:PutRolePolicy", role_name)
        check_identity_policy(document, ROLE_INLINE_POLICY_SIZE, "inline role policy")
        self.store.put_role_policy(role_name, policy_name, document)

    def get_role_policy(self, principal: Principal, role_name: str,
                        policy_name: str) -> tuple[Role, InlinePolicy]:
        role = self._authorize_role(principal, "iam:GetRolePolicy", role_name)
        return role, self.store.get_role_policy(role_name, policy_name)

    def list_role_policies(self, principal: Principal, role_name: str) -> list[str]:
        self._authorize_role(principal, "iam:ListRolePolicies", role_name)
        return self.store.list_role_policies(role_name)

    def delete_role_policy(self, principal: Principal, role_name: str,
                           policy_name: str) -> None:
        self._authorize_role(principal, "iam:DeleteRolePolicy", role_name)
        self.store.delete_role_policy(role_name, policy_name)

    # -- roles ---------------------------------------------------------------------------------

    def create_role(self, principal: Principal, name: str, path: str | None,
                    assume_role_policy: str, description: str | None,
                    max_session_duration: int | None) -> Role:
        path = path or "/"
        self._authz.check(principal, "iam:CreateRole", iam_arn(self._account, "role", path, name))
        check_trust_policy(assume_role_policy)
        self._check_trusted_entities_exist(assume_role_policy)
        return self.store.create_role(name, path, assume_role_policy, description,
                                      max_session_duration or DEFAULT_MAX_SESSION_DURATION,
                                      self._now())

    def get_role(self, principal: Principal, name: str) -> Role:
        return self._authorize_role(principal, "iam:GetRole", name)

    def list_roles(self, principal: Principal, path_prefix: str | None) -> list[Role]:
        self._authz.check(principal, "iam:ListRoles", "*")
        return self.store.list_roles(path_prefix or "/")

    def update_assume_role_policy(self, principal: Principal, name: str, document: str) -> None:
        self._authorize_role(principal, "iam:UpdateAssumeRolePolicy", name)
        check_trust_policy(document)
        self._check_trusted_entities_exist(document)
        self.store.update_assume_role_policy(name, document)

    def _check_trusted_entities_exist(self, document: str) -> None:
        """Refuse a trust policy naming a user or role of this account that does not exist, as
        IAM does ("Invalid principal in policy"): a later user or role of that name would
        otherwise be trusted by a policy written before it existed."""
        trust = parse_policy(document, kind=PolicyKind.RESOURCE, role_trust=True)
        for statement in trust.statements:
            for arn in sorted(statement.principals.arns if statement.principals else ()):
                if not self._names_an_entity(arn):
                    raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{arn}"')

    def _names_an_entity(self, arn: str) -> bool:
        """Whether an ARN of this account's users or roles names one (other ARNs: True)."""
        parts = arn.split(":", 5)
        if parts[2] != "iam" or parts[4] != self._account:
            return True
        kind, _, rest = parts[5].partition("/")
        name = rest.rsplit("/", 1)[-1]
        found: User | Role | None = (self._user_or_none(name) if kind == "user"
                                     else self._role_or_none(name) if kind == "role" else None)
        # Names are unique ignoring case, as IAM has them; the path must be the entity's.
        return found is not None and found.arn.lower() == arn.lower()

    def delete_role(self, principal: Principal, name: str) -> None:
        self._authorize_role(principal, "iam:DeleteRole", name)
        self.store.delete_role(name)

    # -- managed policies ----------------------------------------------------------------------

    def create_policy(self, principal: Principal, name: str, path: str | None, document: str,
                      description: str | None) -> ManagedPolicy:
        path = path or "/"
        self._authz.check(principal, "iam:CreatePolicy",
                          iam_arn(self._account, "policy", path, name))
        check_identity_policy(document, MANAGED_POLICY_SIZE, "managed policy")
        return self.store.create_policy(name, path, document, description, self._now())

    def get_policy(self, principal: Principal, arn: str) -> ManagedPolicy:
        _check_policy_arn(arn)
        self._authz.check(principal, "iam:GetPolicy", arn)
        return self.store.get_policy(arn)

    def get_policy_version(self, principal: Principal, arn: str,
                           version_id: str) -> ManagedPolicy:
        _check_policy_arn(arn)
        self._authz.check(principal, "iam:GetPolicyVersion", arn)
        policy = self.store.get_policy(arn)
        if version_id != policy.default_version_id:
            # Packyard keeps one version per policy: the one it was created with.
            raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not "
                               "attachable.", resource_id=version_id,
                               resource_type="policy-version")
        return policy

    def list_policy_versions(self, principal: Principal, arn: str) -> ManagedPolicy:
        """The policy whose versions are listed: Packyard keeps one, the default."""
        _check_policy_arn(arn)
        self._authz.check(principal, "iam:ListPolicyVersions", arn)
        return self.store.get_policy(arn)

    def list_policies(self, principal: Principal, scope: str | None, only_attached: bool,
                      path_prefix: str | None) -> list[ManagedPolicy]:
        self._authz.check(principal, "iam:ListPolicies", "*")
        return self.store.list_policies(scope or "All", only_attached, path_prefix or "/")

    def delete_policy(self, principal: Principal, arn: str) -> None:
        _check_policy_arn(arn)
        self._authz.check(principal, "iam:DeletePolicy", arn)
        self.store.delete_policy(arn)

    def attach_user_policy(self, principal: Principal, user_name: str, arn: str) -> None:
        _check_policy_arn(arn)
        self._authorize_user(principal, "iam:AttachUserPolicy", user_name,
                             {"iam:PolicyARN": arn})
        self.store.attach_user_policy(user_name, arn)

    def detach_user_policy(self, principal: Principal, user_name: str, arn: str) -> None:
        _check_policy_arn(arn)
        self._authorize_user(principal, "iam:DetachUserPolicy", user_name,
                             {"iam:PolicyARN": arn})
        self.store.detach_user_policy(user_name, arn)

    def list_attached_user_policies(self, principal: Principal, user_name: str,
                                    path_prefix: str | None) -> list[ManagedPolicy]:
        self._authorize_user(principal, "iam:ListAttachedUserPolicies", user_name)
        return [p for p in self.store.list_attached_user_policies(user_name)
                if p.path.startswith(path_prefix or "/")]

    def attach_role_policy(self, principal: Principal, role_name: str, arn: str) -> None:
        _check_policy_arn(arn)
        self._authorize_role(principal, "iam:AttachRolePolicy", role_name,
                             {"iam:PolicyARN": arn})
        self.store.attach_role_policy(role_name, arn)

    def detach_role_policy(self, principal: Principal, role_name: str, arn: str) -> None:
        _check_policy_arn(arn)
        self._authorize_role(principal, "iam:DetachRolePolicy", role_name,
                             {"iam:PolicyARN": arn})
        self.store.detach_role_policy(role_name, arn)

    def list_attached_role_policies(self, principal: Principal, role_name: str,
                                    path_prefix: str | None) -> list[ManagedPolicy]:
        self._authorize_role(principal, "iam:ListAttachedRolePolicies", role_name)
        return [p for p in self.store.list_attached_role_policies(role_name)
                if p.path.startswith(path_prefix or "/")]


_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:\d{12}|aws):policy/\S+")


def _check_policy_arn(arn: str) -> None:
    """IAM's answer to a PolicyArn that is no policy ARN (often a policy's bare name)."""
    if not _POLICY_ARN.fullmatch(arn):
        raise InvalidInput(f"ARN {arn} is not valid.", resource_id=arn, resource_type="policy")
