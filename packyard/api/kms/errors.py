"""The one place domain errors become KMS JSON errors (``{"__type", "message"}``), registered
in front of the KMS surface (``packyard/http/errors.py``)."""

from __future__ import annotations

import logging
import uuid

from starlette.requests import Request
from starlette.responses import Response

from packyard.api.kms.protocol import CONTENT_TYPE, render_error
from packyard.errors import (
    Conflict,
    Denied,
    Invalid,
    NotFound,
    PackyardError,
    TooLarge,
    Unauthenticated,
    Unavailable,
)
from packyard.http.errors import error_handlers
from packyard.http.request_note import note_of

log = logging.getLogger("packyard.api.kms")

# Signature faults keep the JSON-protocol codes signed.py raises; KMS answers them with 400.
_GENERIC: list[tuple[type[PackyardError], str]] = [
    (TooLarge, "ValidationException"),
    (Invalid, "ValidationException"),
    (NotFound, "NotFoundException"),
    (Conflict, "AlreadyExistsException"),
    (Denied, "AccessDeniedException"),
    (Unauthenticated, "UnrecognizedClientException"),
    # An outage (the database down): KMS's "timed out while trying to fulfill the request.
    # You can retry", a 503, not the KMSInternalException 500 of a fault.
    (Unavailable, "DependencyTimeoutException"),
]
_STATUS = {"KMSInternalException": 500, "DependencyTimeoutException": 503}


def error_code(error: PackyardError) -> str:
    for attribute in ("kms_code", "code"):
        code = getattr(error, attribute, None)
        if isinstance(code, str) and code.endswith("Exception"):
            return code
    for cls, code in _GENERIC:
        if isinstance(error, cls):
            return code
    return "KMSInternalException"


def _json(code: str, status: int, message: str, request_id: str,
          headers: dict[str, str] | None = None) -> Response:
    return Response(render_error(code, message), status_code=status, media_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": request_id, **(headers or {})})


def _request_id(request: Request) -> str:
    found = getattr(request.state, "kms_request_id", None)
    return found if isinstance(found, str) else str(uuid.uuid4())


async def _refused(request: Request, error: PackyardError) -> Response:
    code = error_code(error)
    log.info("kms:%s refused: %s", request.headers.get("x-amz-target", "?"), error.message)
    note = note_of(request.scope)
    note.refused(code, error.message)
    note.logged = True
    # An outage's Retry-After, and its connection closed, as on every other surface.
    headers = error.headers() if isinstance(error, Unavailable) else None
    return _json(code, _STATUS.get(code, 400), error.message, _request_id(request), headers)


async def _failed(request: Request, error: Exception) -> Response:
    log.error("kms:%s failed", request.headers.get("x-amz-target", "?"), exc_info=error)
    return _json("KMSInternalException", 500,
                 "Packyard hit an internal error; see the server log", _request_id(request))


ERRORS = error_handlers(_refused, _failed)
