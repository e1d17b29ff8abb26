"""The HTTP surface of the KMS API subset: a signed ``POST /`` with ``X-Amz-Target:
TrentService.<Operation>``, beside IAM and STS on the same path (``ByTarget`` routes it)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from packyard.api.kms import operations
from packyard.api.kms.protocol import (
    CONTENT_TYPE,
    SERVICE,
    find_operation,
    is_kms_target,
    parse_request,
    serialize_output,
)
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.http.request import read_body_hashed
from packyard.http.request_note import note_of, request_id_of
from packyard.services.kms import KmsService

# CreateKey's largest input is a key policy of 32 KiB; nothing in the subset comes close.
MAX_BODY = 64 * 1024


class KmsEndpoint:
    """Serves KMS requests: the signature and its key checked before the body is read."""

    def __init__(self, service: KmsService, authenticator: SignedRequestAuthenticator) -> None:
        self._service = service
        self._authn = authenticator

    async def __call__(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        request.state.kms_request_id = request_id
        note = note_of(request.scope)
        note.surface, note.route, note.source = SERVICE, "unknown", "kms.amazonaws.com"
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        pending = await run_in_threadpool(
            self._authn.begin, request.method, raw_path, raw_query, request.headers.raw,
            SERVICE)
        body, body_sha256 = await read_body_hashed(request, MAX_BODY)
        principal = self._authn.finish(pending, body_sha256)
        note.caller = principal
        op = find_operation(request.headers.get("x-amz-target", ""), operations.supported())
        # Named only once the model knows the operation: no caller can invent metric labels.
        note.name = note.route = op.name
        note.read_only = op.name.startswith(("Describe", "Get", "List"))
        params = parse_request(op, body)
        note.request_parameters = params
        result = await run_in_threadpool(operations.call, op.name, self._service, principal,
                                         params)
        return Response(serialize_output(op, result), media_type=CONTENT_TYPE,
                        headers={"x-amzn-RequestId": request_id})


class ByTarget:
    """One ASGI app for ``/``: KMS's JSON requests (named by ``X-Amz-Target``) to ``kms``,
    everything else (IAM's and STS's Query requests) to ``other``."""

    def __init__(self, kms: ASGIApp, other: ASGIApp) -> None:
        self._kms = kms
        self._other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"x-amz-target":
                if is_kms_target(value):
                    await self._kms(scope, receive, send)
                    return
                break
        await self._other(scope, receive, send)
