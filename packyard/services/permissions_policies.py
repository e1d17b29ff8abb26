"""Domain and repository permissions policies: CodeArtifact's resource policies.

A policy is stored with a revision that changes on every write; passing the revision you read
(``policyRevision``) makes a write or delete conditional on nobody having changed the policy
since, and a stale revision is a ConflictException, as in CodeArtifact. Documents are checked
against the IAM policy grammar for resource policies (Principal required) before they are
stored, so a malformed one is a ValidationException that says what is wrong and where.
Every operation authorizes on the ARN named in the request before looking anything up, so a
caller without permission learns nothing about which domains and repositories exist.
"""

from __future__ import annotations

from packyard.arn import ArnBuilder
from packyard.auth.authorize import Authorizer
from packyard.auth.principal import Principal
from packyard.clock import Clock
from packyard.errors import Invalid, NotFound
from packyard.iam.records import ResourcePolicy
from packyard.iam.resource_policies import resource_type_of
from packyard.iam.store import IamStore
from packyard.policy.document import PolicyKind, parse_policy
from packyard.services.registry import Registry


def check_resource_policy(document: str) -> None:
    """Refuse a document that is not a valid resource policy, with the parser's reason."""
    try:
        parse_policy(document, kind=PolicyKind.RESOURCE)
    except Invalid as exc:
        raise Invalid(f"The policy document is not valid: {exc.message}") from None


class PermissionsPolicies:
    """Put, get and delete the policies of domains and repositories."""

    def __init__(self, registry: Registry, store: IamStore, authorizer: Authorizer,
                 arns: ArnBuilder, clock: Clock) -> None:
        self._registry = registry
        self._store = store
        self._authz = authorizer
        self._arns = arns
        self._clock = clock

    # -- domains -------------------------------------------------------------------------------

    def put_domain_policy(self, principal: Principal, domain_name: str,
                          domain_owner: str | None, document: str,
                          revision: str | None, *, expect_none: bool = False
                          ) -> ResourcePolicy:
        """``expect_none``: only if the domain has no policy yet (the console's editor,
        opened on none, must not replace one set since)."""
        arn = self._arns.domain(domain_name)
        self._authz.check(principal, "codeartifact:PutDomainPermissionsPolicy", arn)
        domain = self._registry.get_domain(domain_name, domain_owner)
        check_resource_policy(document)
        return self._store.put_resource_policy(arn, domain.id, None, document, revision,
                                               self._clock.now(), expect_none=expect_none)

    def get_domain_policy(self, principal: Principal, domain_name: str,
                          domain_owner: str | None) -> ResourcePolicy:
        arn = self._arns.domain(domain_name)
        self._authz.check(principal, "codeartifact:GetDomainPermissionsPolicy", arn)
        domain = self._registry.get_domain(domain_name, domain_owner)
        return self._existing(arn, f"domain {domain.name}")

    def delete_domain_policy(self, principal: Principal, domain_name: str,
                             domain_owner: str | None, revision: str | None) -> ResourcePolicy:
        arn = self._arns.domain(domain_name)
        self._authz.check(principal, "codeartifact:DeleteDomainPermissionsPolicy", arn)
        self._registry.get_domain(domain_name, domain_owner)
        return self._store.delete_resource_policy(arn, revision)

    # -- repositories --------------------------------------------------------------------------

    def put_repository_policy(self, principal: Principal, domain_name: str, repo_name: str,
                              domain_owner: str | None, document: str,
                              revision: str | None, *, expect_none: bool = False
                              ) -> ResourcePolicy:
        """``expect_none`` as for ``put_domain_policy``."""
        arn = self._arns.repository(domain_name, repo_name)
        self._authz.check(principal, "codeartifact:PutRepositoryPermissionsPolicy", arn)
        domain, repo = self._registry.get_repository(domain_name, repo_name, domain_owner)
        check_resource_policy(document)
        return self._store.put_resource_policy(arn, domain.id, repo.id, document, revision,
                                               self._clock.now(), expect_none=expect_none)

    def get_repository_policy(self, principal: Principal, domain_name: str, repo_name: str,
                              domain_owner: str | None) -> ResourcePolicy:
        arn = self._arns.repository(domain_name, repo_name)
        self._authz.check(principal, "codeartifact:GetRepositoryPermissionsPolicy", arn)
        domain, repo = self._registry.get_repository(domain_name, repo_name, domain_owner)
        return self._existing(arn, f"repository {repo.name}")

    def delete_repository_policy(self, principal: Principal, domain_name: str, repo_name: str,
                                 domain_owner: str | None,
                                 revision: str | None) -> ResourcePolicy:
        arn = self._arns.repository(domain_name, repo_name)
        self._authz.check(principal, "codeartifact:DeleteRepositoryPermissionsPolicy", arn)
        domain, repo = self._registry.get_repository(domain_name, repo_name, domain_owner)
        return self._store.delete_resource_policy(arn, revision)

    def _existing(self, arn: str, what: str) -> ResourcePolicy:
        found = self._store.resource_policy(arn)
        if found is None:
            raise NotFound(f"No resource policy is set on the {what}", resource_id=arn,
                           resource_type=resource_type_of(arn))
        return found
