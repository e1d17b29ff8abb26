"""The one place domain errors become CodeArtifact's JSON errors (type header, status, body).

``ERRORS`` registers this mapping in front of the API's route (``packyard/http/errors.py``): an
operation raises, and its caller gets the error in CodeArtifact's shape.
"""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import Response

from packyard.crypto.errors import KeyUnavailable
from packyard.errors import (
    Conflict,
    Denied,
    InsufficientStorage,
    Invalid,
    NotFound,
    PackyardError,
    QuotaExceeded,
    Throttled,
    TooLarge,
    Unauthenticated,
    Unavailable,
    without_credentials,
)
from packyard.http.errors import error_handlers
from packyard.http.request_note import note_of

log = logging.getLogger("packyard.api")

# Error type and status per domain error, as botocore's codeartifact model defines them.
_MAPPING: list[tuple[type[PackyardError], str, int]] = [
    (Invalid, "ValidationException", 400),
    (TooLarge, "ValidationException", 400),
    (NotFound, "ResourceNotFoundException", 404),
    (Conflict, "ConflictException", 409),
    (QuotaExceeded, "ServiceQuotaExceededException", 402),
    (Denied, "AccessDeniedException", 403),
    (Unauthenticated, "AccessDeniedException", 403),
    # An upload refused at its head (PublishPackageVersion): too many at once, try again (the
    # SDKs retry a ThrottlingException after Retry-After); no disk left for it.
    (Throttled, "ThrottlingException", 429),
    # Not in the model: a database or object store outage. botocore retries a 503 whatever
    # its code (its "standard" retry mode), and shows this one's message when it gives up.
    (Unavailable, "ServiceUnavailableException", 503),
    (InsufficientStorage, "ServiceQuotaExceededException", 402),
]


def error_response(code: str, status: int, message: str, *,
                   headers: dict[str, str] | None = None, **extra: str | None) -> Response:
    """A CodeArtifact error answer; ``x-amzn-RequestId`` is the request's own, added by the
    server (``server/observe.py``)."""
    body = {"message": message, **{k: v for k, v in extra.items() if v is not None}}
    return Response(json.dumps(body), status_code=status,
                    headers={"x-amzn-ErrorType": code, **(headers or {})},
                    media_type="application/json")


def to_response(error: PackyardError) -> Response:
    # Authentication errors carry AWS's own code (e.g. InvalidSignatureException).
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return error_response(code, getattr(error, "http_status", 403), error.message)
    for cls, name, status in _MAPPING:
        if isinstance(error, cls):
            extra: dict[str, str | None] = {}
            if name in ("ResourceNotFoundException", "ConflictException",
                        "ServiceQuotaExceededException"):
                extra = {"resourceId": error.resource_id, "resourceType": error.resource_type}
            if name == "ValidationException":
                extra = {"reason": "FIELD_VALIDATION_FAILED" if isinstance(error, Invalid)
                         else "OTHER"}
            headers = error.headers() if isinstance(error, Unavailable) else None
            return error_response(name, status, error.message, headers=headers, **extra)
    if isinstance(error, KeyUnavailable):
        # The server's own fault, but one its operator mends at the key provider (a KMS key
        # disabled, pending deletion, denied, deleted): said as the package endpoints say it,
        # not "Internal error" with the fix only in the server's log.
        return error_response("InternalServerException", 500, error.message)
    return error_response("InternalServerException", 500, "Internal error")


def _operation(request: Request) -> str:
    return str(getattr(request.state, "operation", "?"))


async def _refused(request: Request, error: PackyardError) -> Response:
    response = to_response(error)
    if response.status_code == 500:
        # E.g. an asset that failed its integrity check: named with the request's parameters.
        log.error("%s failed (%s): %s", _operation(request),
                  without_credentials("?" + request.url.query)[1:], error.message)
    else:
        log.info("%s refused: %s", _operation(request), error.message)
    note = note_of(request.scope)
    note.refused(response.headers["x-amzn-errortype"], error.message)
    note.logged = True
    return response


async def _failed(request: Request, error: Exception) -> Response:
    log.error("%s failed", _operation(request), exc_info=error)
    message = "Packyard hit an internal error; see the server log"
    note_of(request.scope).refused("InternalServerException", message)
    return error_response("InternalServerException", 500, message)


ERRORS = error_handlers(_refused, _failed)
