"""IAM's own error codes, as domain errors: each is a PackyardError with the code IAM sends.

The IAM/STS protocol layer sends ``iam_code`` as the error code (it is not named ``code``, which
the CodeArtifact surface would send verbatim); every other surface sees the base class (a
NoSuchEntity is a NotFound, a MalformedPolicyDocument an Invalid, and so on).
"""

from __future__ import annotations

from typing import ClassVar

from packyard.errors import Conflict, Denied, Invalid, NotFound


class NoSuchEntity(NotFound):
    """A user, role, policy or access key that does not exist (IAM: 404)."""

    iam_code: ClassVar[str] = "NoSuchEntity"


class EntityAlreadyExists(Conflict):
    """A name already taken (IAM: 409)."""

    iam_code: ClassVar[str] = "EntityAlreadyExists"


class DeleteConflict(Conflict):
    """An entity that still has dependents, such as a user with access keys (IAM: 409)."""

    iam_code: ClassVar[str] = "DeleteConflict"


class LimitExceeded(Conflict):
    """An IAM quota, such as two access keys per user (IAM: 409)."""

    iam_code: ClassVar[str] = "LimitExceeded"


class MalformedPolicyDocument(Invalid):
    """A policy document that does not parse or breaks the policy grammar (IAM: 400)."""

    iam_code: ClassVar[str] = "MalformedPolicyDocument"


class InvalidInput(Invalid):
    """A parameter that is well-formed but not acceptable (IAM: 400)."""

    iam_code: ClassVar[str] = "InvalidInput"


class StsValidationError(Invalid):
    """STS's ValidationError, e.g. a DurationSeconds beyond the role's maximum (400)."""

    iam_code: ClassVar[str] = "ValidationError"


class AccessDenied(Denied):
    """Not authorized; the message names the principal, action and resource as AWS does."""

    iam_code: ClassVar[str] = "AccessDenied"
