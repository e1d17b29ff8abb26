"""The pages that manage access: IAM users and roles, access keys, attached policies, tokens,
and the domain and repository permissions policies.

As in ``browse.py``, each function gathers one page (or takes one action) through the same
services as the IAM and CodeArtifact APIs, authorized there; ``may`` only decides which
buttons to offer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from packyard.auth.principal import Principal
from packyard.auth.token_ledger import TokenInfo
from packyard.console.services import ConsoleServices, Section, section
from packyard.errors import Denied, Invalid
from packyard.iam.records import AccessKey, ManagedPolicy, ResourcePolicy, Role, User, iam_arn

# IAM's model: userNameType and roleNameType are [\w+=,.@-]+ of 1-64 characters,
# policyNameType of 1-128 (the API checks names against botocore's model; the console here).
_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)


def check_name(kind: str, name: str, longest: int) -> str:
    """A user, role or policy name as IAM accepts it, or the reason it does not."""
    if not name:
        raise Invalid(f"Enter the {kind} name")
    if len(name) > longest or not _NAME.fullmatch(name):
        raise Invalid(f"The {kind} name {name!r} is not valid: use up to {longest} letters, "
                      "digits and + = , . @ _ -")
    return name


@dataclass(frozen=True)
class TokenRow:
    info: TokenInfo
    state: str
    mine: bool


@dataclass(frozen=True)
class AccessPage:
    users: Section[list[User]]
    roles: Section[list[Role]]
    tokens: list[TokenRow]
    can_create_user: bool
    can_create_role: bool


def access_page(c: ConsoleServices, p: Principal) -> AccessPage:
    now = c.registry.clock.now()
    tokens = [TokenRow(t, t.state(now), t.principal_arn == p.arn)
              for t in c.tokens.list_tokens(p, include_inactive=True)]
    return AccessPage(section(lambda: c.iam.list_users(p, None)),
                      section(lambda: c.iam.list_roles(p, None)),
                      list(reversed(tokens)),
                      c.may(p, "iam:CreateUser", iam_arn(p.account_id, "user", "/", "*")),
                      c.may(p, "iam:CreateRole", iam_arn(p.account_id, "role", "/", "*")))


def revoke_token(c: ConsoleServices, p: Principal, token_id: str) -> TokenInfo:
    return c.tokens.revoke(p, token_id)


@dataclass(frozen=True)
class UserPage:
    user: User
    keys: Section[list[AccessKey]]
    attached: Section[list[ManagedPolicy]]
    inline: Section[list[str]]
    attachable: list[ManagedPolicy]
    can_manage_keys: bool
    can_attach: bool
    can_delete: bool
    can_put_inline: bool
    # A key just created: (key id, secret), shown once.
    new_key: tuple[str, str] | None = None


def user_page(c: ConsoleServices, p: Principal, name: str,
              new_key: tuple[str, str] | None = None) -> UserPage:
    found = c.iam.get_user(p, name)
    assert isinstance(found, User)
    arn = found.arn
    can_attach = c.may(p, "iam:AttachUserPolicy", arn)
    attachable: list[ManagedPolicy] = []
    if can_attach:
        listed = section(lambda: c.iam.list_policies(p, None, False, None))
        attachable = listed.value or []
    return UserPage(found, section(lambda: c.iam.list_access_keys(p, name)),
                    section(lambda: c.iam.list_attached_user_policies(p, name, None)),
                    section(lambda: c.iam.list_user_policies(p, name)),
                    attachable, c.may(p, "iam:CreateAccessKey", arn), can_attach,
                    c.may(p, "iam:DeleteUser", arn), c.may(p, "iam:PutUserPolicy", arn),
                    new_key)


def create_user(c: ConsoleServices, p: Principal, name: str) -> User:
    return c.iam.create_user(p, check_name("user", name.strip(), 64), None)


def delete_user(c: ConsoleServices, p: Principal, name: str) -> None:
    c.iam.delete_user(p, name)


def create_access_key(c: ConsoleServices, p: Principal, user: str) -> tuple[str, str]:
    key, secret = c.iam.create_access_key(p, user)
    return key.id, secret


def set_access_key_status(c: ConsoleServices, p: Principal, user: str, key_id: str,
                          status: str) -> None:
    if status not in ("Active", "Inactive"):
        raise Invalid("status must be Active or Inactive")
    c.iam.update_access_key(p, user, key_id, status)


def delete_access_key(c: ConsoleServices, p: Principal, user: str, key_id: str) -> None:
    c.iam.delete_access_key(p, user, key_id)


def attach_user_policy(c: ConsoleServices, p: Principal, user: str, arn: str) -> None:
    c.iam.attach_user_policy(p, user, arn)


def detach_user_policy(c: ConsoleServices, p: Principal, user: str, arn: str) -> None:
    c.iam.detach_user_policy(p, user, arn)


@dataclass(frozen=True)
class RolePage:
    role: Role
    trust_policy: str
    attached: Section[list[ManagedPolicy]]
    inline: Section[list[str]]
    attachable: list[ManagedPolicy]
    can_attach: bool
    can_edit_trust: bool
    can_put_inline: bool
    can_delete: bool


def role_page(c: ConsoleServices, p: Principal, name: str) -> RolePage:
    role = c.iam.get_role(p, name)
    can_attach = c.may(p, "iam:AttachRolePolicy", role.arn)
    attachable: list[ManagedPolicy] = []
    if can_attach:
        attachable = section(lambda: c.iam.list_policies(p, None, False, None)).value or []
    return RolePage(role, pretty_json(role.assume_role_policy),
                    section(lambda: c.iam.list_attached_role_policies(p, name, None)),
                    section(lambda: c.iam.list_role_policies(p, name)), attachable,
                    can_attach, c.may(p, "iam:UpdateAssumeRolePolicy", role.arn),
                    c.may(p, "iam:PutRolePolicy", role.arn), c.may(p, "iam:DeleteRole", role.arn))


def attach_role_policy(c: ConsoleServices, p: Principal, role: str, arn: str) -> None:
    c.iam.attach_role_policy(p, role, arn)


def detach_role_policy(c: ConsoleServices, p: Principal, role: str, arn: str) -> None:
    c.iam.detach_role_policy(p, role, arn)


# -- permissions policies -------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyEditor:
    """A domain's or repository's permissions policy, as its edit form shows it."""

    what: str  # "domain acme" / "repository acme/shelf"
    resource_arn: str
    document: str
    revision: str | None
    exists: bool
    can_edit: bool
    can_delete: bool
    error: str | None = None


def pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def _example(arn: str, account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadForTheAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["codeartifact:ReadFromRepository", "codeartifact:List*",
                   "codeartifact:Describe*", "codeartifact:Get*"],
        "Resource": "*"}]}, indent=2) if arn else ""


def _editor(c: ConsoleServices, p: Principal, what: str, arn: str,
            read: Section[ResourcePolicy], put_action: str, delete_action: str
            ) -> PolicyEditor:
    if read.denied is not None:
        raise Denied(read.denied)
    policy = read.value
    return PolicyEditor(what, arn,
                        pretty_json(policy.document) if policy else _example(arn, p.account_id),
                        policy.revision if policy else None, policy is not None,
                        c.may(p, put_action, arn), policy is not None and c.may(
                            p, delete_action, arn))


def domain_policy(c: ConsoleServices, p: Principal, domain: str) -> PolicyEditor:
    return _editor(c, p, f"domain {domain}", c.registry.arns.domain(domain),
                   section(lambda: c.permissions.get_domain_policy(p, domain, None)),
                   "codeartifact:PutDomainPermissionsPolicy",
                   "codeartifact:DeleteDomainPermissionsPolicy")


def repository_policy(c: ConsoleServices, p: Principal, domain: str, repo: str
                      ) -> PolicyEditor:
    return _editor(c, p, f"repository {domain}/{repo}",
                   c.registry.arns.repository(domain, repo),
                   section(lambda: c.permissions.get_repository_policy(p, domain, repo, None)),
                   "codeartifact:PutRepositoryPermissionsPolicy",
                   "codeartifact:DeleteRepositoryPermissionsPolicy")


# The editor sends the revision it showed; none means it showed no policy, and then it may
# only create one, not replace one set since.
def put_domain_policy(c: ConsoleServices, p: Principal, domain: str, document: str,
                      revision: str | None) -> None:
    c.permissions.put_domain_policy(p, domain, None, document, revision or None,
                                    expect_none=not revision)


def put_repository_policy(c: ConsoleServices, p: Principal, domain: str, repo: str,
                          document: str, revision: str | None) -> None:
    c.permissions.put_repository_policy(p, domain, repo, None, document, revision or None,
                                        expect_none=not revision)


def delete_domain_policy(c: ConsoleServices, p: Principal, domain: str,
                         revision: str | None) -> None:
    c.permissions.delete_domain_policy(p, domain, None, revision or None)


def delete_repository_policy(c: ConsoleServices, p: Principal, domain: str, repo: str,
                             revision: str | None) -> None:
    c.permissions.delete_repository_policy(p, domain, repo, None, revision or None)

