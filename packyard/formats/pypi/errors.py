"""The one place domain errors become responses pip, uv and twine understand.

twine shows only the status line's reason phrase unless run with --verbose, so the message goes
there too (as Warehouse does), via the ``x-packyard-reason`` header the server turns into the
reason phrase (see ``packyard/server/reason.py``). ``ERRORS`` registers this mapping in front
of the package endpoint's routes (``packyard/http/errors.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

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
    UpstreamError,
)
from packyard.http.errors import error_handlers
from packyard.http.login_hint import login_command
from packyard.http.request import header_text
from packyard.http.request_note import note_of
from packyard.http.server_hints import REASON_HEADER

log = logging.getLogger("packyard.pypi")

_STATUS: list[tuple[type[PackyardError], int]] = [
    (Unauthenticated, 401),
    (Denied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 400),  # Warehouse answers 400 "File too large" and twine expects that
    (Invalid, 400),
    (UpstreamError, 502),
    # twine prints "503 Service Unavailable" / "507 Insufficient Storage" and then our reason.
    (Unavailable, 503),
    (InsufficientStorage, 507),
]


def to_response(error: PackyardError, scope: Any = None) -> Response:
    """``error`` as twine, pip and uv read it; a refused token's 401 names the command that
    logs in to the repository the request in ``scope`` asked (twine prints it; pip and uv
    print only the status)."""
    status = next((code for cls, code in _STATUS if isinstance(error, cls)), 500)
    message = error.message
    if status == 401 and not isinstance(error, NoCredentials):
        # An upload is twine's (or another publisher reading the .pypirc it writes).
        tool = "twine" if scope is not None and scope.get("method") == "POST" else "pip"
        message = f"{message.rstrip('.')}; log in again: run `{login_command(tool, scope)}`"
    # The message may quote a filename or project name with any characters in it.
    headers = {REASON_HEADER: header_text(message)}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="packyard"'
    if isinstance(error, Unavailable):
        headers.update(error.headers())
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


async def _refused(request: Request, error: PackyardError) -> Response:
    response = to_response(error, request.scope)
    if response.status_code == 500:
        # A stored file that failed its integrity check (encryption at rest), a key the
        # provider will not use: the server's fault, named with what was asked for.
        log.error("%s %s failed: %s", request.method, request.url.path, error.message)
    note = note_of(request.scope)
    note.logged = response.status_code == 500
    # Into the audit trail: every refused upload, and reads refused for who asked (a read of
    # something that is not there is no refusal, and pip asks for many such).
    if response.status_code in (401, 403) or note.name == "PublishPackageVersion":
        note.refused(type(error).__name__, error.message)
    return response


async def _failed(request: Request, error: Exception) -> Response:
    """Unexpected failures become a plain 500 with a pointer to the log, never a reset."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    message = "Packyard hit an internal error; see the server log"
    note_of(request.scope).refused("InternalError", message)
    return PlainTextResponse(message + "\n", status_code=500)


ERRORS = error_handlers(_refused, _failed)
