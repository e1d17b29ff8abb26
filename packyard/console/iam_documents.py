"""The IAM documents the console edits as JSON: a new role with its trust policy, a role's trust
policy, and the inline policies of users and roles.

As everywhere in the console, each read and write goes through ``IamService`` (CreateRole,
UpdateAssumeRolePolicy, DeleteRole, Put/Get/DeleteUserPolicy, Put/Get/DeleteRolePolicy),
authorized there and checked by the same policy engine; a document it refuses comes back in
its editor with the engine's message. Names are checked here against IAM's model (the API
checks them against botocore's), before the service is called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from packyard.auth.principal import Principal
from packyard.console.access import check_name, pretty_json
from packyard.console.services import ConsoleServices
from packyard.http import console_paths as paths
from packyard.iam.records import Role, User, iam_arn

Owner = Literal["user", "role"]

@dataclass(frozen=True)
class DocumentEditor:
    """One JSON document's edit form."""

    title: str  # "Trust policy of role Builder"
    explanation: str
    document: str
    back: str  # the page it belongs to
    can_edit: bool
    can_delete: bool = False
    # A new inline policy or role names itself in the form; an existing one is named here.
    name: str | None = None
    asks_name: bool = False
    description: str | None = None
    asks_description: bool = False
    error: str | None = None

    def with_error(self, error: str, document: str, name: str | None,
                   description: str | None) -> DocumentEditor:
        return DocumentEditor(self.title, self.explanation, document, self.back, self.can_edit,
                              self.can_delete, name, self.asks_name, description,
                              self.asks_description, error)


def _trust_example(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole"}]}, indent=2)


def _identity_example() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["codeartifact:ReadFromRepository", "codeartifact:List*",
                   "codeartifact:Describe*", "codeartifact:GetAuthorizationToken",
                   "codeartifact:GetRepositoryEndpoint", "sts:GetServiceBearerToken"],
        "Resource": "*"}]}, indent=2)


def access_path(kind: Owner, name: str) -> str:
    """A user's or role's page."""
    return f"{paths.ROOT}/access/{kind}s/{quote(name, safe='')}"


# -- roles ----------------------------------------------------------------------------------------

def may_create_role(c: ConsoleServices, p: Principal) -> bool:
    return c.may(p, "iam:CreateRole", iam_arn(p.account_id, "role", "/", "*"))


def new_role(c: ConsoleServices, p: Principal) -> DocumentEditor:
    return DocumentEditor(
        "New role", "Who may assume the role: a trust policy (a resource policy on the role, "
        "every statement naming a Principal and sts:AssumeRole). Attach permissions to the "
        "role on its page once it exists.", _trust_example(p.account_id),
        f"{paths.ROOT}/access#roles",
        may_create_role(c, p), asks_name=True, asks_description=True)


def create_role(c: ConsoleServices, p: Principal, name: str, description: str,
                document: str) -> Role:
    return c.iam.create_role(p, check_name("role", name.strip(), 64), None, document,
                             description.strip() or None, None)


def trust_policy(c: ConsoleServices, p: Principal, role_name: str) -> DocumentEditor:
    role = c.iam.get_role(p, role_name)
    return DocumentEditor(
        f"Trust policy of role {role.name}", "Who may assume the role (sts:AssumeRole).",
        pretty_json(role.assume_role_policy), access_path("role", role.name),
        c.may(p, "iam:UpdateAssumeRolePolicy", role.arn), name=role.name)


def update_trust_policy(c: ConsoleServices, p: Principal, role_name: str,
                        document: str) -> None:
    c.iam.update_assume_role_policy(p, role_name, document)


def delete_role(c: ConsoleServices, p: Principal, role_name: str) -> None:
    c.iam.delete_role(p, role_name)


# -- inline policies ------------------------------------------------------------------------------

_ACTIONS = {"user": ("iam:PutUserPolicy", "iam:DeleteUserPolicy"),
            "role": ("iam:PutRolePolicy", "iam:DeleteRolePolicy")}


def _owner_arn(c: ConsoleServices, p: Principal, kind: Owner, owner: str) -> str:
    if kind == "role":
        return c.iam.get_role(p, owner).arn
    found = c.iam.get_user(p, owner)
    assert isinstance(found, User)
    return found.arn


def may_put_inline(c: ConsoleServices, p: Principal, kind: Owner, arn: str) -> bool:
    return c.may(p, _ACTIONS[kind][0], arn)


def inline_policy(c: ConsoleServices, p: Principal, kind: Owner, owner: str,
                  policy_name: str | None) -> DocumentEditor:
    """An inline policy's editor; without a name, a new one's (with an example)."""
    arn = _owner_arn(c, p, kind, owner)
    put, delete = _ACTIONS[kind]
    back = access_path(kind, owner)
    explanation = (f"An identity policy embedded in {kind} {owner}: what it may do (no "
                   "Principal).")
    if policy_name is None:
        return DocumentEditor(f"New inline policy of {kind} {owner}", explanation,
                              _identity_example(), back, c.may(p, put, arn), asks_name=True)
    if kind == "user":
        _, found = c.iam.get_user_policy(p, owner, policy_name)
    else:
        _, found = c.iam.get_role_policy(p, owner, policy_name)
    return DocumentEditor(f"Inline policy {found.name} of {kind} {owner}", explanation,
                          pretty_json(found.document), back, c.may(p, put, arn),
                          c.may(p, delete, arn), name=found.name)


def put_inline_policy(c: ConsoleServices, p: Principal, kind: Owner, owner: str,
                      policy_name: str, document: str) -> str:
    """PutUserPolicy or PutRolePolicy (a new policy, or one replaced); returns its name."""
    name = check_name("policy", policy_name.strip(), 128)
    if kind == "user":
        c.iam.put_user_policy(p, owner, name, document)
    else:
        c.iam.put_role_policy(p, owner, name, document)
    return name


def delete_inline_policy(c: ConsoleServices, p: Principal, kind: Owner, owner: str,
                         policy_name: str) -> None:
    if kind == "user":
        c.iam.delete_user_policy(p, owner, policy_name)
    else:
        c.iam.delete_role_policy(p, owner, policy_name)
