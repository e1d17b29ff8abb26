"""Where the Authorizer gets policies: a principal's identity policies, a resource's policies.

Policies are read from the IAM store and compiled once; both lookups are cached for a few seconds
so that package downloads, which are authorized one by one, do not each query the database. A
write through the store in this process empties the cache at once (``IamStore.generation``),
and so does a change of ``also_version`` (the catalog's access stamp: deleting a repository or
a domain deletes its policy in the catalog's transaction, not through the store); a change made
by another process (``packyard`` CLI, a replica) as soon as it is announced
(``services/cache_invalidation.py``), within ``ttl`` seconds at worst.

A stored document that no longer parses (it was accepted by an older, more lenient Packyard) is
not skipped, as skipping a Deny would grant more than its author meant: it is reported as
unreadable and the Authorizer refuses the request.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from packyard.auth.principal import ASSUMED_ROLE, USER, Principal
from packyard.errors import Invalid
from packyard.iam.store import IamStore
from packyard.policy.document import Policy, PolicyKind, parse_policy
from packyard.ttl_cache import TtlCache

log = logging.getLogger("packyard.auth")

# Same bound as token checks (packyard.auth.tokens.CACHE_SECONDS).
DEFAULT_TTL_SECONDS = 4.0
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class PolicySet:
    """The compiled policies that apply, and whether any stored document could not be read."""

    policies: tuple[Policy, ...] = ()
    unreadable: tuple[str, ...] = ()  # names of documents that failed to parse


class PolicySource(Protocol):
    def identity_policies(self, principal: Principal) -> PolicySet: ...

    def resource_policies(self, resource_arn: str) -> PolicySet: ...


class NoPolicies:
    """No IAM at all: only root can do anything (tests of code that predates IAM)."""

    def identity_policies(self, principal: Principal) -> PolicySet:
        return PolicySet()

    def resource_policies(self, resource_arn: str) -> PolicySet:
        return PolicySet()


@functools.lru_cache(maxsize=4096)
def compile_policy(document: str, kind: PolicyKind, name: str, where: str = "",
                   role_trust: bool = False) -> Policy:
    """Parse a stored document (cached by its text: the same JSON compiles once).

    Statements that today's rules refuse but an older Packyard stored (an Allow with
    NotPrincipal) grant nothing; each is reported once per document and place (``where``, the
    resource's ARN), when the document is first compiled, not on every request.
    """
    policy = parse_policy(document, kind=kind, name=name, role_trust=role_trust, stored=True)
    for statement in policy.ignored_statements:
        log.warning("the %s of %s: statement %s is ignored and grants nothing: %s; put the "
                    "policy again without it", name, where or "?",
                    statement.sid or statement.index, statement.ignored)
    return policy


def _compile_all(named: Sequence[tuple[str, str]], kind: PolicyKind,
                 where: str = "") -> PolicySet:
    policies: list[Policy] = []
    unreadable: list[str] = []
    for name, document in named:
        try:
            policies.append(compile_policy(document, kind, name, where))
        except Invalid as exc:
            log.error("stored policy %s cannot be parsed (%s); requests it governs are refused",
                      name, exc.message)
            unreadable.append(name)
    return PolicySet(tuple(policies), tuple(unreadable))


def governing_policy_arns(resource_arn: str) -> tuple[str, ...]:
    """The ARNs whose resource policies govern ``resource_arn`` (domain first, then repository).

    CodeArtifact evaluates the domain's policy for every operation on the domain and on every
    resource in it, and a repository's policy for the repository and its packages ("Domain
    policies", "Repository policies" in the CodeArtifact User Guide).
    """
    parts = resource_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "codeartifact":
        return ()
    prefix = ":".join(parts[:5])
    kind, _, rest = parts[5].partition("/")
    pieces = rest.split("/")
    if not pieces[0]:
        return ()
    domain_arn = f"{prefix}:domain/{pieces[0]}"
    if kind in ("domain", "package-group"):
        return (domain_arn,)
    if kind in ("repository", "package") and len(pieces) >= 2 and pieces[1]:
        return domain_arn, f"{prefix}:repository/{pieces[0]}/{pieces[1]}"
    return ()


class StorePolicySource:
    """Policies from the IAM store, cached for ``ttl`` seconds."""

    def __init__(self, store: IamStore, ttl: float = DEFAULT_TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic,
                 also_version: Callable[[], int] = lambda: 0) -> None:
        self._store = store
        # Compiled policies by owner; bound to the store's generation (and ``also_version``),
        # so a write made through this process applies to the next check.
        self._cache: TtlCache[tuple[str, str], PolicySet] = TtlCache(
            ttl_seconds=ttl, max_entries=_CACHE_MAX, monotonic=monotonic,
            version=lambda: hash((store.generation, also_version())))

    def _cached(self, key: tuple[str, str], load: Callable[[], PolicySet]) -> PolicySet:
        return self._cache.get_or_load(key, load)

    def identity_policies(self, principal: Principal) -> PolicySet:
        if principal.kind == USER:
            owner = principal.user_id
            return self._cached(("user", owner), lambda: _compile_all(
                self._store.user_documents(owner), PolicyKind.IDENTITY))
        if principal.kind == ASSUMED_ROLE and principal.role_id:
            role_id = principal.role_id
            return self._cached(("role", role_id), lambda: _compile_all(
                self._store.role_documents(role_id), PolicyKind.IDENTITY))
        return PolicySet()

    def resource_policies(self, resource_arn: str) -> PolicySet:
        arns = governing_policy_arns(resource_arn)
        if not arns:
            return PolicySet()
        sets = [self._cached(("resource", arn), functools.partial(self._load_resource, arn))
                for arn in arns]
        return PolicySet(tuple(p for s in sets for p in s.policies),
                         tuple(u for s in sets for u in s.unreadable))

    def _load_resource(self, arn: str) -> PolicySet:
        found = self._store.resource_policy(arn)
        if found is None:
            return PolicySet()
        label = "domain policy" if ":domain/" in arn else "repository policy"
        return _compile_all([(label, found.document)], PolicyKind.RESOURCE, arn)
