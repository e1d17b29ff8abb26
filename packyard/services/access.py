"""Opening a repository for a package-endpoint request: authenticate the token, find the
domain, authorize, find the repository.

Shared by every format's routes so the rules are the same for pip, twine and npm. The order is
AWS's: a caller learns whether a domain or repository exists only after proving who it is and
that it may use it, so a garbage token gets 401 whether or not the domain exists, and a token
without read access gets 403 whether or not the repository exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from packyard.auth.environment import RequestEnvironment, current_environment
from packyard.auth.package_auth import PackageAuthenticator
from packyard.auth.principal import Principal
from packyard.errors import NotFound
from packyard.model import Domain, Repository
from packyard.services.registry import Registry
from packyard.ttl_cache import TtlCache


@dataclass(frozen=True)
class RepositoryAccess:
    principal: Principal
    domain: Domain
    repository: Repository


@dataclass(frozen=True)
class WriteCaller:
    """A write's caller and the domain its URL names, authenticated; the repository the URL
    names is looked up (``RepositoryGate.repository_for``) only once the write is authorized on
    the names, so a caller who may not make it learns nothing of whether the repository
    exists (a 404 before the 403 would tell it)."""

    principal: Principal
    domain: Domain
    repository_name: str


def split_domain_label(label: str) -> tuple[str, str]:
    """``{domain}-{owner}`` (CodeArtifact's hostname label) into its parts."""
    name, sep, owner = label.rpartition("-")
    if not sep or not name or not (len(owner) == 12 and owner.isdigit()):
        raise NotFound(f"No domain at {label!r}: expected DOMAIN-ACCOUNTID",
                       resource_id=label, resource_type="domain")
    return name, owner


T = TypeVar("T")

# Domain and repository rows change rarely; index pages and downloads look them up on every
# request, so they are remembered until the catalog's access stamp moves (a domain or
# repository made, changed or deleted, here or announced by another process), and this long
# at most (a change never announced).
_LOOKUP_TTL = 2.0
_LOOKUP_MAX = 4096
# A granted read is reused this long for requests that name no connection (another server
# than ``packyard serve``'s protocol, in-process tests).
_READER_TTL = 1.0
# ...and this long for the next requests of the same caller from the same place, on any of its
# keep-alive connections (an install's pages and files: uv and npm ask over many connections at
# once, and a connection's first request would otherwise pay the whole policy evaluation, ~0.6
# ms of CPU against ~0.05 for a fast-lane answer). Every change a grant may rest on drops it at
# once, made here or announced by another process (``services/cache_invalidation.py``): an
# IAM write (identity policies, domain and repository permissions policies, users, keys,
# roles; not a new STS session), a token revoked, a catalog write that moves the access stamp
# (tags; a domain or repository made, changed or deleted, with its policy); the token's own
# expiry ends it exactly. Other catalog writes (a publish, a pull-through keep, a status
# change, a dist-tag) cannot change a read's authorization and leave grants in place. What
# nothing announces is the passing of time in a policy's
# condition (``aws:CurrentTime``, ``aws:EpochTime``): such a policy is seen within this long.
_CONNECTION_GRANT_TTL = 10.0


@dataclass(frozen=True, slots=True)
class _Grant:
    access: RepositoryAccess
    # When the token (or the session that minted it) expires: the grant ends there too.
    expires_at: datetime


def reader_key(label: str, repo_name: str, authorization: str | None,
               env: RequestEnvironment | None, connection: int | None) -> tuple[object, ...]:
    """What a read grant is kept under: requests with the same key share one grant (and one
    evaluation while it is being made)."""
    # The grant may rest on conditions about the request (aws:SourceIp, aws:SecureTransport,
    # aws:UserAgent), so it is reused only for a request from the same place and client. Which connection of that place
    # carries the request changes nothing a policy can test, so a grant made on one serves the
    # caller's others; grants of requests naming no connection are kept apart (their lifetime
    # is shorter).
    on_connection = connection is not None
    if env is None:
        return (label, repo_name, authorization or "", "", "", None, on_connection)
    return (label, repo_name, authorization or "", env.source_ip or "",
            env.secure_transport, env.user_agent, on_connection)


class RepositoryGate:
    """The entry check every package-endpoint request goes through."""

    def __init__(self, registry: Registry, authenticator: PackageAuthenticator) -> None:
        self.registry = registry
        self._authn = authenticator
        # The catalog's access stamp (``metadata/transactions.py``): moved by the writes to
        # domains, repositories and resource tags only, by this process's and, as they are
        # announced, other processes' (``services/cache_invalidation.py``).
        access = registry.catalog.access_changes
        self._lookups: TtlCache[tuple[str, ...], object] = TtlCache(
            ttl_seconds=_LOOKUP_TTL, max_entries=_LOOKUP_MAX, version=access.stamp)
        # Granted reads, bound to the authenticator's generation (IAM writes, revocations)
        # and the access stamp; not to the catalog's change stamp, which every publish and
        # pull-through keep moves.
        self._readers: TtlCache[tuple[object, ...], _Grant] = TtlCache(
            ttl_seconds=_READER_TTL, max_entries=_LOOKUP_MAX,
            version=lambda: hash((authenticator.generation, access.stamp())))

    def caches(self) -> dict[str, TtlCache[Any, Any]]:
        """The gate's caches by name (for ``/metrics``)."""
        return {"repository_lookups": self._lookups, "read_grants": self._readers,
                **self._authn.caches()}

    def _cached(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        return cast(T, self._lookups.get_or_load(key, load))

    def open(self, label: str, repo_name: str, authorization: str | None) -> RepositoryAccess:
        """Authenticate and find the repository; authorization is per action (``check``)."""
        principal, domain = self._authenticate(label, authorization)
        return RepositoryAccess(principal, domain, self._repository(domain, repo_name))

    def open_for_write(self, label: str, repo_name: str, authorization: str | None
                       ) -> WriteCaller:
        """Authenticate a write; its repository is looked up after its authorization."""
        principal, domain = self._authenticate(label, authorization)
        return WriteCaller(principal, domain, repo_name)

    def repository_for(self, caller: WriteCaller) -> RepositoryAccess:
        """The repository a write names, for a caller the write was authorized for (NotFound
        when there is none)."""
        return RepositoryAccess(caller.principal, caller.domain,
                                self._repository(caller.domain, caller.repository_name))

    def _authenticate(self, label: str, authorization: str | None) -> tuple[Principal, Domain]:
        principal, domain, _expires = self._authenticate_until(label, authorization)
        return principal, domain

    def _authenticate_until(self, label: str, authorization: str | None
                            ) -> tuple[Principal, Domain, datetime]:
        """The caller, the URL's domain and when the token stops working: the token is
        checked before the domain is looked up, and a domain that does not exist is one the
        token is not for."""
        record = self._authn.resolve(authorization)
        name, owner = split_domain_label(label)
        try:
            domain: Domain | None = self._cached(
                ("d", name, owner), lambda: self.registry.get_domain(name, owner))
        except NotFound:
            domain = None
        principal = self._authn.principal_for(record, domain)
        assert domain is not None  # principal_for refuses a missing domain
        expires = record.expires_at
        if principal.credentials_expire_at is not None:
            expires = min(expires, principal.credentials_expire_at)
        return principal, domain, expires

    def _repository(self, domain: Domain, repo_name: str) -> Repository:
        return self._cached(("r", domain.name, domain.owner, repo_name),
                            lambda: self.registry.catalog.get_repository(domain, repo_name))

    def open_for_read(self, label: str, repo_name: str, authorization: str | None,
                      connection: int | None = None) -> RepositoryAccess:
        """``open`` with the ReadFromRepository check made on the repository's ARN before the
        repository is looked up; a success is remembered for the next requests of the same
        caller from the same place (on any of its connections, when it names one)."""
        granted_at, generation = self._readers.now(), self._readers.version()
        # What the caches below do not hold is read in one transaction: token, domain, tags,
        # policies and repository were six of their own, most of a grant's time.
        with self.registry.catalog.shared_read():
            principal, domain, expires = self._authenticate_until(label, authorization)
            self.registry.authorizer.check(principal, "codeartifact:ReadFromRepository",
                                           self.registry.arns.repository(domain.name,
                                                                         repo_name))
            access = RepositoryAccess(principal, domain, self._repository(domain, repo_name))
        self._readers.put(
            reader_key(label, repo_name, authorization, current_environment(), connection),
            _Grant(access, expires), version=generation, since=granted_at,
            ttl_seconds=_READER_TTL if connection is None else _CONNECTION_GRANT_TTL)
        return access

    def open_for_read_now(self, label: str, repo_name: str, authorization: str | None,
                          connection: int | None = None) -> RepositoryAccess:
        """``open_for_read`` made on the caller's thread without waiting: what the caches
        miss is read on the catalog's reader for that thread, which never waits (embedded
        SQLite); ``WouldWait`` where it would (PostgreSQL, a busy file), and then
        ``open_for_read`` in a worker thread decides.

        The first requests of a caller whose grant expired arrive together (uv asks for dozens
        of pages at once): made here, the grant lets each of them be answered on the spot,
        where in a worker they all waited for it and went the request cycle's way."""
        with self.registry.catalog.shared_read(now=True):
            return self.open_for_read(label, repo_name, authorization, connection)

    def recent_reader(self, label: str, repo_name: str, authorization: str | None,
                      env: RequestEnvironment | None, connection: int | None = None
                      ) -> RepositoryAccess | None:
        """A read access granted to this caller for a request from ``env`` (where the request
        comes from), on any of its connections when ``connection`` names one, still good,
        without blocking I/O.

        Pages and downloads are requested in bursts (one pip run asks for dozens on one
        connection, uv and npm over many at once); answering the repeat ones from memory keeps
        them off the thread pool, the database and the policy evaluation.
        """
        key = reader_key(label, repo_name, authorization, env, connection)
        grant = self._readers.get(key)
        if grant is None:
            return None
        if self._authn.now() >= grant.expires_at:  # the token expired: exactly then
            self._readers.discard(key)
            return None
        return grant.access
