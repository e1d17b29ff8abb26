"""The errors encryption at rest raises, in the domain hierarchy of ``packyard/errors.py``.

How each protocol should map them (in its one error-mapping place, when the blob store is wired):

- ``TamperedBlob`` and ``TamperedKey``: HTTP 500 (CodeArtifact ``InternalServerException``), with
  one log line naming the domain, the asset and the blob's sha256; the bytes are never served.
  ``packyard verify`` reports them.
- ``KeyUnavailable``: HTTP 500 as well (the server, not the caller, lacks the key: a disabled
  key, a provider that refuses), logged with the provider's own reason.
- ``KeyProviderSilent``: a provider that does not answer (down, hung), or says "not now"
  (KMS's throttling, a sealed transit, a 5xx), is also ``Unavailable``:
  503 with Retry-After (CodeArtifact ``ServiceUnavailableException``, with its message), as a
  database outage is; the provider logs the start of each such outage once.
- ``UnusableKey`` is an ``Invalid``: ``create-domain --encryption-key`` naming a key the provider
  has but that cannot wrap data keys (a transit key that is not derived, a KMS key that is not
  symmetric) answers 400 ``ValidationException`` with the fix; so does a ``KeyRefused`` (the
  server's credentials may not use it) or a key not enabled, there.
- ``UnknownKey`` is a ``NotFound``: ``create-domain --encryption-key`` naming a key the provider
  does not have answers 404 ``ResourceNotFoundException``, as CodeArtifact does.
"""

from __future__ import annotations

from packyard.errors import Invalid, NotFound, PackyardError, Unavailable


class TamperedBlob(PackyardError):
    """A blob's ciphertext does not authenticate: truncated, extended, reordered, altered, or
    moved from another domain or sha256. Never served."""


class TamperedKey(PackyardError):
    """A wrapped data key does not unwrap under its context: altered, or recorded for another
    domain, blob or key."""


class KeyUnavailable(PackyardError):
    """The key provider cannot or will not use the key now (disabled, access denied, pending
    deletion, unreachable)."""


class KeyProviderSilent(KeyUnavailable, Unavailable):
    """The key provider did not answer (refused the connection, timed out), or answered that
    it cannot now (KMS's throttling or internal errors): the same request may work in a
    moment."""

    def __init__(self, message: str) -> None:
        Unavailable.__init__(self, message, retry_after_seconds=5)


class KeyRefused(KeyUnavailable):
    """The provider answered that Packyard's credentials may not use the key (transit's 403)."""


class UnknownKey(NotFound):
    """The key provider has no key by that id, alias or ARN."""


class UnusableKey(Invalid):
    """The provider has the key, but it cannot serve as a key-encryption key (a transit key
    made without ``derived=true``): the caller's choice to change, not the server's fault."""
