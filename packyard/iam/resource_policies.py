"""CodeArtifact resource policies: the permissions policy of a domain or a repository.

One document per resource ARN, with an opaque revision that changes on every put. Callers may
name the revision they read (``policyRevision``) so that two writers cannot overwrite each
other's changes unseen: a revision that is not the current one, or names a policy that does not
exist, is a Conflict. The row keeps the domain's and repository's ids so that deleting either
deletes its policy (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row

from packyard.errors import Conflict, NotFound
from packyard.iam.records import ResourcePolicy
from packyard.iam.schema import resource_policies
from packyard.iam.transactions import StoreBase
from packyard.metadata.catalog import new_revision


class ResourcePolicyStore(StoreBase):
    """Domain and repository permissions policies with revisions."""

    def resource_policy(self, resource_arn: str) -> ResourcePolicy | None:
        with self._read() as conn:
            row = conn.execute(select(resource_policies).where(
                resource_policies.c.resource_arn == resource_arn)).first()
        return _resource_policy(row) if row else None

    def put_resource_policy(self, resource_arn: str, domain_id: int, repository_id: int | None,
                            document: str, expected_revision: str | None,
                            now: datetime, *, expect_none: bool = False) -> ResourcePolicy:
        """Set the policy; with ``expected_revision``, only over that revision, and with
        ``expect_none`` only where there is none yet (else Conflict)."""
        with self._write() as conn:
            row = conn.execute(select(resource_policies).where(
                resource_policies.c.resource_arn == resource_arn)).first()
            if expected_revision is not None:
                _check_revision(row, expected_revision, resource_arn)
            elif expect_none and row is not None:
                raise Conflict(f"A policy was set on {resource_arn} since you read it (revision "
                               f"{row.revision}); read it again before replacing it",
                               resource_id=resource_arn, resource_type="policy")
            revision = new_revision()
            if row is None:
                conn.execute(insert(resource_policies).values(
                    resource_arn=resource_arn, domain_id=domain_id,
                    repository_id=repository_id, document=document, revision=revision,
                    updated_at=now))
            else:
                conn.execute(update(resource_policies).where(resource_policies.c.id == row.id)
                             .values(document=document, revision=revision, updated_at=now))
            return ResourcePolicy(resource_arn, document, revision, now)

    def delete_resource_policy(self, resource_arn: str,
                               expected_revision: str | None) -> ResourcePolicy:
        with self._write() as conn:
            row = conn.execute(select(resource_policies).where(
                resource_policies.c.resource_arn == resource_arn)).first()
            if row is None:
                raise NotFound(f"No resource policy is set on {resource_arn}",
                               resource_id=resource_arn,
                               resource_type=resource_type_of(resource_arn))
            if expected_revision is not None:
                _check_revision(row, expected_revision, resource_arn)
            conn.execute(delete(resource_policies).where(resource_policies.c.id == row.id))
            return _resource_policy(row)


def resource_type_of(resource_arn: str) -> str:
    """The ``resourceType`` an error about the policy on ``resource_arn`` names: the resource
    it is attached to ("domain" or "repository"), as CodeArtifact's ResourceType enum has no
    "policy" (SDKs with typed enums would read it as unknown)."""
    resource = resource_arn.split(":", 5)[-1]
    return "repository" if resource.startswith("repository/") else "domain"


def _resource_policy(row: Row[Any]) -> ResourcePolicy:
    return ResourcePolicy(row.resource_arn, row.document, row.revision, row.updated_at)


def _check_revision(row: Row[Any] | None, expected: str, resource_arn: str) -> None:
    if row is None:
        raise Conflict(f"The policy revision {expected} does not match: {resource_arn} has no "
                       "resource policy", resource_id=resource_arn,
                       resource_type=resource_type_of(resource_arn))
    if row.revision != expected:
        raise Conflict(f"The policy revision {expected} is not the current revision of the "
                       f"policy on {resource_arn}; get the policy again and retry with its "
                       "revision", resource_id=resource_arn,
                       resource_type=resource_type_of(resource_arn))
