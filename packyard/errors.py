"""The domain error hierarchy.

Services raise these; each protocol surface (CodeArtifact JSON, pip/twine text, npm JSON, IAM XML)
maps them to its own wire format in exactly one place.
"""

from __future__ import annotations

import re

# The user information of an http(s) URL: what comes between "//" and "@" before the host.
_USERINFO = re.compile(r"(https?://)[^/?#\s]*@", re.IGNORECASE)
# Query parameters that carry a secret: a presigned URL's signature and session token
# (SigV4's X-Amz-Signature, X-Amz-Security-Token; Azure's sig), tokens, passwords.
_SECRET_QUERY = re.compile(
    r"([?&](?:[^=&#\s\"'<>]*(?:signature|token|password|passwd|secret|credential)"
    r"[^=&#\s\"'<>]*|sig|key|auth)=)[^&#\s\"'<>]*", re.IGNORECASE)
HIDDEN_VALUE = "HIDDEN"


class PackyardError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, message: str, *, resource_id: str | None = None,
                 resource_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.resource_id = resource_id
        self.resource_type = resource_type


class Invalid(PackyardError):
    """The request is malformed or breaks a documented rule (HTTP 400)."""


class Unauthenticated(PackyardError):
    """No usable credentials were presented (HTTP 401 on package endpoints)."""


class NoCredentials(Unauthenticated):
    """No credentials at all: each surface says how its clients log in."""


class Denied(PackyardError):
    """The principal is known but not allowed to do this (HTTP 403)."""


class NotFound(PackyardError):
    """The named resource does not exist (HTTP 404)."""


class Conflict(PackyardError):
    """The request conflicts with the current state (HTTP 409)."""


class TooLarge(PackyardError):
    """A body or file exceeds a configured limit (HTTP 413 on package endpoints)."""


class QuotaExceeded(PackyardError):
    """A service quota would be exceeded (HTTP 402 in CodeArtifact)."""


class Unavailable(PackyardError):
    """The server cannot take this request now; the same request later may work (HTTP 503 with
    Retry-After)."""

    def __init__(self, message: str, *, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        """The answer's headers: ``Retry-After``, and ``Connection: close``. A client that
        waits ``Retry-After`` (pip's urllib3 does) and then sent its retry on the kept-alive
        connection met the server's keep-alive timeout (5 s, uvicorn's) closing it at that very
        moment: the retry failed as a reset connection ("Connection reset by peer", "Remote end
        closed connection without response") instead of being answered. Closed at once, the
        retry comes on a new connection."""
        return {"Retry-After": str(self.retry_after_seconds), "Connection": "close"}


class Throttled(Unavailable):
    """Too many requests of this kind at once (uploads in flight): an ``Unavailable`` the
    CodeArtifact API answers as ``ThrottlingException`` (429), not a backend outage (503)."""


class InsufficientStorage(PackyardError):
    """The server lacks the disk space to store what was sent (HTTP 507)."""


class Unsupported(PackyardError):
    """A feature the server does not have, asked for in a well-formed request (npm's stars):
    HTTP 405 on the npm endpoint, whose clients print its message as it is."""


class UpstreamError(PackyardError):
    """An upstream index failed or answered with something unusable (HTTP 502).

    Its message names upstream URLs, and is shown to every client reading the repository:
    credentials in them (``https://USER:PASSWORD@mirror/simple/``, and the file URLs that
    page's relative links resolve to) are left out of it, here, whoever builds it.
    """

    def __init__(self, message: str, **kwargs: str | None) -> None:
        super().__init__(without_credentials(message), **kwargs)


def without_credentials(text: str) -> str:
    """``text`` with the user information (``USER:PASSWORD@``) of every http(s) URL in it
    left out, and the values of query parameters that carry secrets (a presigned URL's
    ``X-Amz-Signature``, ``X-Amz-Security-Token``, ``token=``, ``password=``) hidden."""
    return _SECRET_QUERY.sub(r"\1" + HIDDEN_VALUE, _USERINFO.sub(r"\1", text))


class CannotStart(Exception):
    """A setting, or the state of a backend, that stops Packyard from starting (a schema newer
    than the code, no credentials for the object store, a backend's extra not installed).

    Not a ``PackyardError``: no request is being answered. The message is one line with the fix;
    the commands print it as ``error: …`` and exit with status 2.
    """


def os_error_text(error: OSError) -> str:
    """An operating system error in one line, as the commands print it: what failed (the
    system's words) and on which file."""
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"
