"""The one place domain errors become IAM/STS XML errors (code, HTTP status, sender or receiver).

Signature failures carry the JSON-protocol code CodeArtifact sends (``UnrecognizedClientException``
and so on); Query-protocol services name the same faults differently, as below. ``ERRORS``
registers this mapping in front of the IAM and STS route (``packyard/http/errors.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from packyard.api.iam.protocol import SERVICES, render_error, service_model
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
from packyard.http.request_note import note_of, request_id_of

log = logging.getLogger("packyard.api.iam")

# What IAM and STS answer for the signature faults that sigv4/signed raise.
_SIGNATURE_CODES: dict[str, tuple[str, int]] = {
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "ExpiredTokenException": ("ExpiredToken", 403),
    "AccessDeniedException": ("AccessDenied", 403),
}

_STATUS_BY_CODE: dict[str, int] = {
    "NoSuchEntity": 404,
    "EntityAlreadyExists": 409,
    "DeleteConflict": 409,
    "LimitExceeded": 409,
    "MalformedPolicyDocument": 400,
    "InvalidInput": 400,
    "ValidationError": 400,
    "InvalidAction": 400,
    "AccessDenied": 403,
}

# Fallbacks by domain error class, most specific first.
_GENERIC: list[tuple[type[PackyardError], str, int]] = [
    (TooLarge, "RequestEntityTooLarge", 413),
    (Invalid, "ValidationError", 400),
    (NotFound, "NoSuchEntity", 404),
    (Conflict, "ConcurrentModification", 409),
    (Denied, "AccessDenied", 403),
    (Unauthenticated, "AccessDenied", 403),
    # IAM's common error for a service that cannot answer now (a database outage).
    (Unavailable, "ServiceUnavailable", 503),
]


def error_code_and_status(error: PackyardError) -> tuple[str, int]:
    signature_code = getattr(error, "code", None)
    if isinstance(signature_code, str) and signature_code in _SIGNATURE_CODES:
        return _SIGNATURE_CODES[signature_code]
    iam_code = getattr(error, "iam_code", None)
    if isinstance(iam_code, str):
        return iam_code, _STATUS_BY_CODE.get(iam_code, 400)
    for cls, code, status in _GENERIC:
        if isinstance(error, cls):
            return code, status
    return "ServiceFailure", 500


def xml_error(service: str, code: str, status: int, message: str, request_id: str,
              headers: dict[str, str] | None = None) -> Response:
    body = render_error(service, code, message, request_id, sender_fault=status < 500)
    return Response(body, status_code=status, media_type="text/xml",
                    headers={"x-amzn-RequestId": request_id, **(headers or {})})


def to_response(service: str, error: PackyardError, request_id: str) -> Response:
    code, status = error_code_and_status(error)
    # An outage's Retry-After, and its connection closed, as on every other surface.
    headers = error.headers() if isinstance(error, Unavailable) else None
    return xml_error(service, code, status, error.message, request_id, headers)


@dataclass(frozen=True)
class RequestFacts:
    """What an IAM or STS error answer names: the service the request was signed for, its
    request id, and the action (once the body is read)."""

    service: str
    request_id: str
    action: str = "?"


def _facts(request: Request) -> RequestFacts:
    facts = getattr(request.state, "iam", None)
    return facts if isinstance(facts, RequestFacts) else RequestFacts(
        "iam", request_id_of(request.scope))


async def _refused(request: Request, error: PackyardError) -> Response:
    facts = _facts(request)
    log.info("%s:%s refused: %s", facts.service, facts.action, error.message)
    note = note_of(request.scope)
    if not note.name:
        # Refused before the operation was looked up: by the action the body names, when it
        # is one (a refused signature leaves the body unread).
        note.name = (facts.action if facts.action in _known_actions(facts.service)
                     else "Unknown")
    note.refused(error_code_and_status(error)[0], error.message)
    note.logged = True
    return to_response(facts.service, error, facts.request_id)


async def _failed(request: Request, error: Exception) -> Response:
    facts = _facts(request)
    log.error("%s:%s failed", facts.service, facts.action, exc_info=error)
    message = "Packyard hit an internal error; see the server log"
    note_of(request.scope).refused("ServiceFailure", message)
    return xml_error(facts.service, "ServiceFailure", 500, message, facts.request_id)


def _known_actions(service: str) -> frozenset[str]:
    return frozenset(service_model(service).operation_names) if service in SERVICES \
        else frozenset()


ERRORS = error_handlers(_refused, _failed)
