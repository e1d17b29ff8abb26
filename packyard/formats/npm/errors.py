"""The one place domain errors become answers npm, pnpm and yarn print.

npm prints ``{"error": …}`` (npm-registry-fetch's error body: "404 Not Found - GET <url> -
<error>"), as do pnpm and yarn; so every refusal is that JSON object with the status the
public registry would give. A 401 carries no ``WWW-Authenticate``: npm 11, given one that says
``Bearer``, prints its own "your authentication token seems to be invalid … npm login" instead
of the answer's ``error``, and bun's publish prints the header ("unable to authenticate, need:
…"); without it both print the reason, and its message names the command that logs in (yarn
1 prints it too; pnpm 10 and 12 print only "Unauthorized - 401"). None of them answers a
challenge: each sends the token unasked (yarn with always-auth), and none is asked for a
one-time password. ``ERRORS`` registers this mapping in front of the package endpoint's routes
(``packyard/http/errors.py``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from packyard.errors import (
    Conflict,
    Denied,
    InsufficientStorage,
    Invalid,
    NoCredentials,
    NotFound,
    PackyardError,
    TooLarge,
    Unauthenticated,
    Unavailable,
    Unsupported,
    UpstreamError,
)
from packyard.http.errors import error_handlers
from packyard.http.login_hint import login_command
from packyard.http.request_note import note_of

log = logging.getLogger("packyard.npm")

# What npm, pnpm and yarn print when a request came without a token (npm's own hint, "npm
# login", would not work here).
_CLIENTS_WITHOUT_ALWAYS_AUTH = ("yarn 1 also needs always-auth=true in .npmrc; yarn 2+: set "
                                "npmAuthToken and npmAlwaysAuth in .yarnrc.yml")

_STATUS: list[tuple[type[PackyardError], int]] = [
    (Unauthenticated, 401),
    (Denied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (Invalid, 400),
    (Unsupported, 405),
    (UpstreamError, 502),
    (Unavailable, 503),
    (InsufficientStorage, 507),
]


def error_response(status: int, message: str, headers: dict[str, str] | None = None
                   ) -> Response:
    body = json.dumps({"error": message}, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def to_response(error: PackyardError, scope: Any = None) -> Response:
    """``error`` as npm prints it; a 401 names the command that logs in to the repository the
    request in ``scope`` asked (placeholders without it)."""
    status = next((code for cls, code in _STATUS if isinstance(error, cls)), 500)
    headers: dict[str, str] = {}
    message = error.message
    if status == 401:
        # A token that expired (the usual case: they last 12 hours), or one for another
        # domain: what is wrong, and how to get one that works.
        command = login_command("npm", scope)
        message = (f"Authentication required: run `{command}` ({_CLIENTS_WITHOUT_ALWAYS_AUTH})"
                   if isinstance(error, NoCredentials)
                   else f"{message.rstrip('.')}; log in again: run `{command}`")
    if isinstance(error, Unavailable):
        headers.update(error.headers())
    return error_response(status, message, headers)


async def _refused(request: Request, error: PackyardError) -> Response:
    response = to_response(error, request.scope)
    note = note_of(request.scope)
    # Into the audit trail, as for PyPI: every refused write, and reads refused for who asked
    # (a read of something that is not there is no refusal).
    if response.status_code in (401, 403) or (note.name and not note.read_only):
        note.refused(type(error).__name__, error.message)
    return response


async def _failed(request: Request, error: Exception) -> Response:
    """Unexpected failures become a 500 with a pointer to the log, never a reset."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    message = "Packyard hit an internal error; see the server log"
    note_of(request.scope).refused("InternalError", message)
    return error_response(500, message)


ERRORS = error_handlers(_refused, _failed)
