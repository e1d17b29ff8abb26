"""The one place domain errors become CodeArtifact's JSON errors (type header, status, body)."""

from __future__ import annotations

import json
import uuid

from starlette.responses import Response

from packyard.errors import (
    Conflict,
    Denied,
    Invalid,
    NotFound,
    PackyardError,
    QuotaExceeded,
    TooLarge,
    Unauthenticated,
)

# Error type and status per domain error, as botocore's codeartifact model defines them.
_MAPPING: list[tuple[type[PackyardError], str, int]] = [
    (Invalid, "ValidationException", 400),
    (TooLarge, "ValidationException", 400),
    (NotFound, "ResourceNotFoundException", 404),
    (Conflict, "ConflictException", 409),
    (QuotaExceeded, "ServiceQuotaExceededException", 402),
    (Denied, "AccessDeniedException", 403),
    (Unauthenticated, "AccessDeniedException", 403),
]


def error_response(code: str, status: int, message: str, **extra: str | None) -> Response:
    body = {"message": message, **{k: v for k, v in extra.items() if v is not None}}
    return Response(json.dumps(body), status_code=status,
                    headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())},
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
            return error_response(name, status, error.message, **extra)
    return error_response("InternalServerException", 500, "Internal error")
