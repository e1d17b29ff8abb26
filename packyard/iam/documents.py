"""Checking policy documents before they are stored: size quotas, then the policy grammar.

The quotas are IAM's defaults ("IAM and AWS STS quotas"), counted as IAM counts them, in
characters not counting whitespace. IAM's limit on inline user policies is for all of a user's
inline policies together; Packyard applies it to each document.
"""

from __future__ import annotations

from packyard.errors import Invalid
from packyard.iam.errors import LimitExceeded, MalformedPolicyDocument
from packyard.policy.document import PolicyKind, parse_policy

USER_INLINE_POLICY_SIZE = 2048
ROLE_INLINE_POLICY_SIZE = 10240
MANAGED_POLICY_SIZE = 6144
TRUST_POLICY_SIZE = 2048


def policy_size(document: str) -> int:
    """A document's size as IAM measures it: characters other than whitespace."""
    return sum(1 for char in document if not char.isspace())


def check_identity_policy(document: str, limit: int, what: str) -> None:
    """Refuse an identity policy that is too large or malformed, with IAM's error codes."""
    _check_size(document, limit, what)
    _parse(document, PolicyKind.IDENTITY)


def check_trust_policy(document: str) -> None:
    """Refuse a role trust policy (a resource policy on the role) that is too large or malformed."""
    _check_size(document, TRUST_POLICY_SIZE, "role trust policy")
    _parse(document, PolicyKind.RESOURCE, role_trust=True)


def _check_size(document: str, limit: int, what: str) -> None:
    size = policy_size(document)
    if size > limit:
        raise LimitExceeded(f"Cannot exceed quota for {what} size: {limit} characters not "
                            f"counting whitespace (this document has {size})")


def _parse(document: str, kind: PolicyKind, *, role_trust: bool = False) -> None:
    try:
        parse_policy(document, kind=kind, role_trust=role_trust)
    except Invalid as exc:
        raise MalformedPolicyDocument(exc.message) from None
