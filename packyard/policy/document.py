"""IAM JSON policy documents: parsing, validation and per-statement matching.

A document is parsed and compiled once (`parse_policy`); the resulting `Policy` answers, for each
statement, whether it applies to a request without re-reading the JSON. The grammar follows the
IAM User Guide, "IAM JSON policy element reference": Version, Id, Statement (one object or a
list) with Sid, Effect, Principal/NotPrincipal, Action/NotAction, Resource/NotResource and
Condition, where AWS allows a string or a list of strings for every multi-valued element.

Every rejection raises `packyard.errors.Invalid` whose message names the statement and element,
so it can be returned as IAM's MalformedPolicyDocument or CodeArtifact's ValidationException.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from packyard.errors import Invalid
from packyard.policy.conditions import Condition, RequestContext, parse_condition_block
from packyard.policy.wildcards import ARN_PARTS, ArnPattern, compile_glob, has_wildcard

VERSION_2012: Final = "2012-10-17"
VERSION_2008: Final = "2008-10-17"
_VERSIONS: Final = (VERSION_2012, VERSION_2008)

_TOP_LEVEL: Final = ("Version", "Id", "Statement")
_STATEMENT_ELEMENTS: Final = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                              "Resource", "NotResource", "Condition")


class PolicyKind(enum.StrEnum):
    """Where a policy is attached: to an identity (user, role) or to a resource (domain, repo)."""

    IDENTITY = "identity"
    RESOURCE = "resource"


class Effect(enum.StrEnum):
    """A statement's Effect."""

    ALLOW = "Allow"
    DENY = "Deny"


class PrincipalType(enum.StrEnum):
    """The kind of caller making a request."""

    ROOT = "root"
    USER = "user"
    ASSUMED_ROLE = "assumed-role"
    FEDERATED_USER = "federated-user"
    SERVICE = "service"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class RequestPrincipal:
    """The caller of a request, as Principal elements and principal context keys see it.

    `arn` is the caller's own ARN: `arn:aws:iam::ACCT:root`, `...:user/NAME`,
    `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`, `arn:aws:sts::ACCT:federated-user/NAME`, a
    service name such as `codeartifact.amazonaws.com`, or `*` for an anonymous caller.
    `source_arn` is the ARN behind a session (the role, with its path, for an assumed role; the
    IAM user for a federated user); when omitted it is derived from `arn` without a path.
    Callers of type ASSUMED_ROLE and FEDERATED_USER hold temporary credentials.
    """

    arn: str
    type: PrincipalType
    account: str | None = None
    user_id: str | None = None
    username: str | None = None
    source_arn: str | None = None
    # When the caller's temporary credentials were issued (aws:TokenIssueTime); None for
    # long-term credentials.
    token_issued_at: datetime | None = None

    @classmethod
    def anonymous(cls) -> RequestPrincipal:
        """An unauthenticated caller."""
        return cls(arn="*", type=PrincipalType.ANONYMOUS)

    @classmethod
    def service(cls, name: str) -> RequestPrincipal:
        """An AWS service principal such as `codeartifact.amazonaws.com`."""
        return cls(arn=name, type=PrincipalType.SERVICE)

    @property
    def session_issuer_arn(self) -> str | None:
        """The role ARN of an assumed-role session, or the IAM user ARN of a federated user."""
        if self.source_arn:
            return self.source_arn
        parts = self.arn.split(":", ARN_PARTS - 1)
        if len(parts) != ARN_PARTS:
            return None
        partition, account, resource = parts[1], parts[4], parts[5]
        if self.type is PrincipalType.ASSUMED_ROLE:
            pieces = resource.split("/")
            if len(pieces) >= 3 and pieces[0] == "assumed-role":
                return f"arn:{partition}:iam::{account}:role/{pieces[1]}"
        if self.type is PrincipalType.FEDERATED_USER:
            kind, _, name = resource.partition("/")
            if kind == "federated-user" and name:
                return f"arn:{partition}:iam::{account}:user/{name}"
        return None


class PrincipalMatch(enum.IntEnum):
    """How a Principal element names the caller; higher values are more specific."""

    NONE = 0
    # The caller's account (a 12-digit id or `arn:...:root`): AWS treats this as delegating to the
    # account's own identity policies, not as a direct grant ("AWS account principals").
    ACCOUNT = 1
    # The role behind an assumed-role session (or the IAM user behind a federated user).
    SESSION_ISSUER = 2
    # The caller itself: its ARN, unique id, service name, or everyone (`*`).
    DIRECT = 3


_ACCOUNT_ID = re.compile(r"\d{12}")
_ROOT_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")
_ENTITY_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:(?:user|role)/\S+"
    r"|arn:aws[a-z-]*:sts::\d{12}:(?:assumed-role/[^/\s]+/\S+|federated-user/\S+)")
# IAM unique ids of users (AIDA...) and roles (AROA...), which AWS shows in a Principal element
# after the named entity is deleted.
_UNIQUE_ID = re.compile(r"A(?:IDA|ROA)[A-Z0-9]{12,}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.[a-z0-9.-]+", re.IGNORECASE)


@dataclass(frozen=True)
class PrincipalSet:
    """The parsed value of a Principal or NotPrincipal element."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()
    unique_ids: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()

    def match(self, principal: RequestPrincipal) -> PrincipalMatch:
        """How specifically this element names `principal` (NONE if not at all)."""
        # "*" and {"AWS": "*"} mean everyone, anonymous callers included (Principal element).
        if self.everyone:
            return PrincipalMatch.DIRECT
        if principal.type is PrincipalType.SERVICE:
            return (PrincipalMatch.DIRECT if principal.arn.lower() in self.services
                    else PrincipalMatch.NONE)
        if principal.type is PrincipalType.ANONYMOUS:
            return PrincipalMatch.NONE
        if principal.arn in self.arns or (principal.user_id and
                                          principal.user_id in self.unique_ids):
            return PrincipalMatch.DIRECT
        issuer = principal.session_issuer_arn
        if issuer is not None and issuer in self.arns:
            return PrincipalMatch.SESSION_ISSUER
        if (principal.type is PrincipalType.ASSUMED_ROLE and principal.user_id
                and principal.user_id.split(":", 1)[0] in self.unique_ids):
            return PrincipalMatch.SESSION_ISSUER
        if principal.account is not None and principal.account in self.accounts:
            return PrincipalMatch.ACCOUNT
        return PrincipalMatch.NONE

    def excludes(self, principal: RequestPrincipal) -> bool:
        """Whether a NotPrincipal element with these entries spares `principal`.

        A caller is spared only when its own identity is listed: its ARN or unique id, and for
        a session also the role (or IAM user) behind it. An account entry (`ACCOUNT` or
        `arn:aws:iam::ACCOUNT:root`) names the account principal, the root user, and not
        everyone in the account: the IAM User Guide's example ("AWS JSON policy elements:
        NotPrincipal") lists Bob's account next to Bob, and means to deny everyone but Bob.
        """
        if self.everyone:
            return True
        if principal.type is PrincipalType.SERVICE:
            return principal.arn.lower() in self.services
        if principal.type is PrincipalType.ANONYMOUS:
            return False
        if principal.type is PrincipalType.ROOT:
            return principal.account is not None and principal.account in self.accounts
        return self.match(principal) in (PrincipalMatch.DIRECT, PrincipalMatch.SESSION_ISSUER)


@dataclass(frozen=True)
class Statement:
    """One compiled policy statement."""

    index: int  # 1-based position in the document
    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None  # None: a resource policy without Resource/NotResource
    not_resource: bool
    principals: PrincipalSet | None  # None in identity policies
    not_principal: bool
    conditions: tuple[Condition, ...]
    _action_regexes: tuple[re.Pattern[str], ...]
    _resource_patterns: tuple[ArnPattern, ...]
    # Why a stored statement never applies (see `parse_policy`'s `stored`); None for the rest.
    ignored: str | None = None

    def principal_match(self, principal: RequestPrincipal) -> PrincipalMatch:
        """How this statement names `principal`; identity-policy statements name their holder.

        NotPrincipal applies to every caller it does not spare (`PrincipalSet.excludes`); such a
        statement names the caller directly. An ignored statement names nobody.
        """
        if self.principals is None:
            return PrincipalMatch.DIRECT
        if self.ignored is not None:
            return PrincipalMatch.NONE
        if self.not_principal:
            return (PrincipalMatch.NONE if self.principals.excludes(principal)
                    else PrincipalMatch.DIRECT)
        return self.principals.match(principal)

    def matches_action(self, action: str) -> bool:
        """Whether Action (or NotAction) covers `action`; action names ignore case."""
        hit = any(regex.fullmatch(action) for regex in self._action_regexes)
        return hit != self.not_action

    def matches_resource(self, resource: str, context: RequestContext) -> bool:
        """Whether Resource (or NotResource) covers `resource`, after variable substitution."""
        if self.resources is None:
            return True  # a resource policy applies to the resource it is attached to
        hit = any(p.matches(resource, context.variable) for p in self._resource_patterns)
        return hit != self.not_resource

    def applies(self, action: str, resource: str, context: RequestContext) -> bool:
        """Whether action, resource and every condition match (the principal is separate)."""
        return (self.matches_action(action) and self.matches_resource(resource, context)
                and all(c.evaluate(context) for c in self.conditions))


@dataclass(frozen=True)
class Policy:
    """A parsed, validated and compiled policy document."""

    kind: PolicyKind
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]
    name: str | None = None  # how the caller refers to it (policy ARN, "repository policy")

    @property
    def label(self) -> str | None:
        """The name to log this policy under: the caller's name, else the document's Id."""
        return self.name or self.id

    @property
    def ignored_statements(self) -> tuple[Statement, ...]:
        """Statements of a stored document that never apply, each with its `ignored` reason."""
        return tuple(s for s in self.statements if s.ignored is not None)


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_policy(document: str | bytes | Mapping[str, Any], *, kind: PolicyKind,
                 max_size: int | None = None, name: str | None = None,
                 role_trust: bool = False, stored: bool = False) -> Policy:
    """Parse and validate a policy document (JSON text, or an already decoded object).

    `kind` decides the Principal rule: identity policies must not have Principal/NotPrincipal,
    resource policies must have one. `role_trust` marks a role's trust policy, where
    NotPrincipal is not allowed at all; elsewhere it must come with Deny. `max_size` limits the
    document's length in characters, not counting whitespace (as IAM counts its policy size
    quotas). Raises Invalid.

    `stored` is for documents read back from storage, which an older Packyard may have accepted
    under laxer rules: an Allow with NotPrincipal is then kept but marked `ignored` (it grants
    nothing) rather than making the whole document unreadable, and a Deny with NotPrincipal in
    a trust policy keeps denying (ignoring a Deny would grant more than its author meant).
    """
    data = _load(document, max_size)
    if not isinstance(data, dict):
        raise Invalid("Policy document must be a JSON object")
    unknown = [key for key in data if key not in _TOP_LEVEL]
    if unknown:
        raise Invalid(f'Policy document has an unknown element "{unknown[0]}" '
                      f"(allowed: {', '.join(_TOP_LEVEL)})")
    version = data.get("Version")
    if version is not None and version not in _VERSIONS:
        raise Invalid(f'Policy document: Version must be "{VERSION_2012}" or "{VERSION_2008}"')
    policy_id = data.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise Invalid("Policy document: Id must be a string")
    if "Statement" not in data:
        raise Invalid("Policy document must have a Statement")
    raw_statements = data["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise Invalid("Policy document: Statement must be an object or a non-empty list")
    # Policy variables exist only in the 2012-10-17 language ("Variables and tags").
    variables = version == VERSION_2012
    statements = tuple(_parse_statement(raw, index, kind, variables=variables,
                                        role_trust=role_trust, stored=stored)
                       for index, raw in enumerate(raw_statements, start=1))
    seen: dict[str, int] = {}
    for statement in statements:
        if statement.sid:
            if statement.sid in seen:
                raise Invalid(f'Policy statement {statement.index}: Sid "{statement.sid}" is '
                              f"already used by statement {seen[statement.sid]}; "
                              "statement ids must be unique")
            seen[statement.sid] = statement.index
    return Policy(kind=kind, version=version, id=policy_id, statements=statements, name=name)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Invalid(f'Policy document has the key "{key}" twice in one object')
        result[key] = value
    return result


def _load(document: str | bytes | Mapping[str, Any], max_size: int | None) -> object:
    if isinstance(document, Mapping):
        text = json.dumps(document, default=str)
        _check_size(text, max_size)
        return dict(document)
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("Policy document is not UTF-8 text") from None
    _check_size(document, max_size)
    try:
        return json.loads(document, object_pairs_hook=_reject_duplicates, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise Invalid(f"Policy document is not valid JSON: {error.msg} "
                      f"(line {error.lineno}, column {error.colno})") from None


def _check_size(text: str, max_size: int | None) -> None:
    if max_size is None:
        return
    size = sum(1 for char in text if not char.isspace())
    if size > max_size:
        raise Invalid(f"Policy document is too large: {size} characters (not counting "
                      f"whitespace); the limit is {max_size}")


def _strings(raw: object, where: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise Invalid(f"{where} must not be an empty list")
    for item in items:
        if not isinstance(item, str):
            raise Invalid(f"{where} must be a string or a list of strings")
    return tuple(items)


def _one_of(statement: Mapping[str, Any], positive: str, negative: str,
            where: str) -> tuple[str | None, bool]:
    """Which of an element and its Not- form is present: (name or None, is_negative)."""
    if positive in statement and negative in statement:
        raise Invalid(f"{where}: {positive} and {negative} cannot both be present")
    if positive in statement:
        return positive, False
    if negative in statement:
        return negative, True
    return None, False


_ACTION = re.compile(r"[A-Za-z0-9-]+:[^\s:]+")
_SID = re.compile(r"[A-Za-z0-9]*")


def _parse_statement(raw: object, index: int, kind: PolicyKind, *, variables: bool,
                     role_trust: bool, stored: bool) -> Statement:
    where = f"Policy statement {index}"
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be a JSON object")
    for key in raw:
        if key not in _STATEMENT_ELEMENTS:
            raise Invalid(f'{where}: unknown element "{key}" '
                          f"(allowed: {', '.join(_STATEMENT_ELEMENTS)})")

    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise Invalid(f"{where}: Sid must be a string")
        # IAM limits Sids of identity policies to ASCII letters and digits ("Sid" element);
        # resource policies of other services allow more.
        if kind is PolicyKind.IDENTITY and not _SID.fullmatch(sid):
            raise Invalid(f'{where}: Sid "{sid}" may contain only letters (A-Z, a-z) and digits')

    effect = raw.get("Effect")
    if effect not in (Effect.ALLOW.value, Effect.DENY.value):
        raise Invalid(f"{where}: Effect must be Allow or Deny")

    action_element, not_action = _one_of(raw, "Action", "NotAction", where)
    if action_element is None:
        raise Invalid(f"{where}: Action or NotAction is required")
    actions = _strings(raw[action_element], f"{where}: {action_element}")
    for action in actions:
        if action != "*" and not _ACTION.fullmatch(action):
            raise Invalid(f'{where}: {action_element} "{action}" must be "*" or '
                          '"service:action" (for example "codeartifact:ReadFromRepository")')

    resource_element, not_resource = _one_of(raw, "Resource", "NotResource", where)
    resources: tuple[str, ...] | None = None
    if resource_element is None:
        if kind is PolicyKind.IDENTITY:
            raise Invalid(f"{where}: Resource or NotResource is required")
    else:
        resources = _strings(raw[resource_element], f"{where}: {resource_element}")
        for resource in resources:
            if resource != "*" and not (resource.startswith("arn:")
                                        and resource.count(":") >= ARN_PARTS - 1):
                raise Invalid(f'{where}: {resource_element} "{resource}" must be "*" or an ARN '
                              "(arn:partition:service:region:account:resource)")

    principal_element, not_principal = _one_of(raw, "Principal", "NotPrincipal", where)
    principals: PrincipalSet | None = None
    if kind is PolicyKind.IDENTITY:
        if principal_element is not None:
            raise Invalid(f"{where}: {principal_element} is not allowed in an identity-based "
                          "policy (the principal is the identity the policy is attached to)")
    else:
        if principal_element is None:
            raise Invalid(f"{where}: Principal or NotPrincipal is required in a resource-based "
                          "policy")
        principals = _parse_principals(raw[principal_element], where, principal_element)
    ignored = _not_principal_problem(not_principal, Effect(effect), role_trust)
    if ignored is not None:
        if not stored:
            raise Invalid(f"{where}: {ignored}")
        if effect == Effect.DENY.value:
            ignored = None
    if role_trust and resource_element is not None and not stored:
        # IAM's own wording: a trust policy is about the role it is attached to.
        raise Invalid(f"{where}: Has prohibited field {resource_element} (a role trust policy "
                      "applies to its role)")

    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        conditions = parse_condition_block(raw["Condition"], variables=variables, where=where)

    return Statement(
        index=index,
        sid=sid,
        effect=Effect(effect),
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        principals=principals,
        not_principal=not_principal,
        conditions=conditions,
        _action_regexes=tuple(compile_glob(a, ignore_case=True) for a in actions),
        _resource_patterns=tuple(ArnPattern(r, variables=variables, head_variables=False)
                                 for r in resources or ()),
        ignored=ignored,
    )


def _not_principal_problem(not_principal: bool, effect: Effect, role_trust: bool) -> str | None:
    """Why a statement's NotPrincipal is not allowed ("AWS JSON policy elements:
    NotPrincipal"), or None."""
    if not not_principal:
        return None
    if role_trust:
        # Who may assume a role is named, never "everyone but": an Allow would open the role
        # to every caller, anonymous included.
        return ("NotPrincipal cannot be used in a role trust policy; name who may assume the "
                "role in Principal")
    if effect is Effect.ALLOW:
        return ('NotPrincipal must be used with "Effect": "Deny"; with Allow it would grant '
                "every other principal, anonymous callers included")
    return None


def _invalid_principal(where: str, key: str, value: object) -> Invalid:
    # Same wording as IAM's MalformedPolicyDocument for a bad principal.
    return Invalid(f'{where}: Invalid principal in policy: "{key}":"{value}"')


def _parse_principals(raw: object, where: str, element: str) -> PrincipalSet:
    if raw == "*":
        return PrincipalSet(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise Invalid(f'{where}: {element} must be "*" or an object such as '
                      '{"AWS": "arn:aws:iam::123456789012:user/name"}')
    everyone = False
    accounts: set[str] = set()
    arns: set[str] = set()
    unique_ids: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    canonical: set[str] = set()
    for key, value in raw.items():
        entries = _strings(value, f'{where}: {element} "{key}"')
        for entry in entries:
            # Wildcards are not allowed in principals, except "*" for everyone
            # ("AWS JSON policy elements: Principal").
            if entry == "*" and key == "AWS":
                everyone = True
                continue
            if has_wildcard(entry):
                raise _invalid_principal(where, key, entry)
            if key == "AWS":
                root = _ROOT_ARN.fullmatch(entry)
                if _ACCOUNT_ID.fullmatch(entry):
                    accounts.add(entry)
                elif root:
                    accounts.add(root.group(1))
                elif _ENTITY_ARN.fullmatch(entry):
                    arns.add(entry)
                elif _UNIQUE_ID.fullmatch(entry):
                    unique_ids.add(entry)
                else:
                    raise _invalid_principal(where, key, entry)
            elif key == "Service":
                if not _SERVICE.fullmatch(entry):
                    raise _invalid_principal(where, key, entry)
                services.add(entry.lower())
            elif key == "Federated":
                federated.add(entry)
            elif key == "CanonicalUser":
                canonical.add(entry)
            else:
                raise Invalid(f'{where}: {element} has an unknown principal type "{key}" '
                              "(use AWS, Service, Federated or CanonicalUser)")
    return PrincipalSet(everyone=everyone, accounts=frozenset(accounts), arns=frozenset(arns),
                        unique_ids=frozenset(unique_ids), services=frozenset(services),
                        federated=frozenset(federated), canonical_users=frozenset(canonical))
