"""Opening a repository for a package-endpoint request: find it, authenticate the token, authorize.

Shared by every format's routes so the rules are the same for pip, twine and npm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from packyard.auth.environment import RequestEnvironment, current_environment
from packyard.auth.package_auth import PackageAuthenticator, token_from_authorization
from packyard.auth.principal import Principal
from packyard.errors import NotFound
from packyard.model import Domain, Repository
from packyard.services.registry import Registry


@dataclass(frozen=True)
class RepositoryAccess:
    principal: Principal
    domain: Domain
    repository: Repository


def split_domain_label(label: str) -> tuple[str, str]:
    """``{domain}-{owner}`` (CodeArtifact's hostname label) into its parts."""
    name, sep, owner = label.rpartition("-")
    if not sep or not name or not (len(owner) == 12 and owner.isdigit()):
        raise NotFound(f"No domain at {label!r}: expected DOMAIN-ACCOUNTID",
                       resource_id=label, resource_type="domain")
    return name, owner


T = TypeVar("T")

# Domain and repository rows change rarely; index pages and downloads look them up on every
# request, so they are remembered this long (a deleted repository may answer for this long).
_LOOKUP_TTL = 2.0
_LOOKUP_MAX = 4096
# A granted read is reused this long: a revoked or expired token keeps reading at most this much
# longer than the token check's own cache allows.
_READER_TTL = 1.0


def _reader_key(label: str, repo_name: str, authorization: str | None,
                env: RequestEnvironment | None) -> tuple[str, ...]:
    # The grant may rest on conditions about the request (aws:SourceIp, aws:SecureTransport),
    # so it is reused only for a request from the same place.
    where = (env.source_ip or "", str(env.secure_transport)) if env else ("", "")
    return (label, repo_name, authorization or "", *where)


class RepositoryGate:
    """The entry check every package-endpoint request goes through."""

    def __init__(self, registry: Registry, authenticator: PackageAuthenticator) -> None:
        self.registry = registry
        self._authn = authenticator
        self._lookups: dict[tuple[str, ...], tuple[float, object]] = {}
        self._readers: dict[tuple[str, ...], tuple[float, RepositoryAccess]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._lookups.get(key)
        if hit is not None and now - hit[0] < _LOOKUP_TTL:
            return cast(T, hit[1])
        value = load()
        with self._lock:
            if len(self._lookups) >= _LOOKUP_MAX:
                self._lookups.clear()
            self._lookups[key] = (now, value)
        return value

    def open(self, label: str, repo_name: str, authorization: str | None) -> RepositoryAccess:
        """Authenticate and find the repository; authorization is per action (``check``)."""
        # Refuse anonymous callers before revealing whether the domain exists.
        token_from_authorization(authorization)
        name, owner = split_domain_label(label)
        domain = self._cached(("d", name, owner),
                              lambda: self.registry.get_domain(name, owner))
        principal = self._authn.authenticate(authorization, domain)
        repo = self._cached(("r", name, owner, repo_name),
                            lambda: self.registry.catalog.get_repository(domain, repo_name))
        return RepositoryAccess(principal, domain, repo)

    def open_for_read(self, label: str, repo_name: str, authorization: str | None
                      ) -> RepositoryAccess:
        """``open`` plus the ReadFromRepository check; a success is remembered briefly."""
        access = self.open(label, repo_name, authorization)
        self.check_read(access)
        with self._lock:
            if len(self._readers) >= _LOOKUP_MAX:
                self._readers.clear()
            key = _reader_key(label, repo_name, authorization, current_environment())
            self._readers[key] = (time.monotonic(), access)
        return access

    def recent_reader(self, label: str, repo_name: str, authorization: str | None,
                      env: RequestEnvironment | None) -> RepositoryAccess | None:
        """A read access granted in the last ``_READER_TTL`` seconds to a request from ``env``
        (where the request comes from), without blocking I/O.

        Pages and downloads are requested in bursts (one pip run asks for dozens); answering
        the repeat ones from memory keeps them off the thread pool and the database.
        """
        with self._lock:
            hit = self._readers.get(_reader_key(label, repo_name, authorization, env))
        if hit is None or time.monotonic() - hit[0] >= _READER_TTL:
            return None
        return hit[1]

    def check_read(self, access: RepositoryAccess) -> None:
        self.registry.authorizer.check(
            access.principal, "codeartifact:ReadFromRepository",
            self.registry.arns.repository(access.domain.name, access.repository.name))
