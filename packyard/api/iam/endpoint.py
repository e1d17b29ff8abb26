"""The HTTP surface of IAM and STS: a signed POST (or GET) to ``/`` with ``Action=...``.

Which service a request is for comes from its SigV4 credential scope (``.../iam/aws4_request`` or
``.../sts/aws4_request``), as one endpoint serves both; the action name alone would not do, since
the two services could share action names.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from packyard.api.iam import operations
from packyard.api.iam.errors import RequestFacts
from packyard.api.iam.operations import IamServices
from packyard.api.iam.protocol import SERVICES, find_operation, parse_params, render_result
from packyard.auth.environment import requested_region
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.auth.sigv4 import parse_request_signature
from packyard.errors import PackyardError
from packyard.http.request import read_body_hashed
from packyard.http.request_note import note_of, request_id_of

# Policy documents may be 131072 characters, sent URL-encoded: up to three bytes each.
MAX_QUERY_BODY = 1024 * 1024


def _service_of(request: Request, raw_query: str) -> str:
    """The service the request was signed for; IAM when unsigned, so the error is IAM's."""
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)
    try:
        service = parse_request_signature(headers, raw_query).service
    except PackyardError:
        return "iam"
    return service if service in SERVICES else "iam"


class IamEndpoint:
    """Serves ``/``: IAM's and STS's Query APIs, SigV4-signed."""

    def __init__(self, services: IamServices, authenticator: SignedRequestAuthenticator) -> None:
        self._services = services
        self._authn = authenticator

    async def __call__(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        service = _service_of(request, raw_query)
        note = note_of(request.scope)
        note.surface, note.route, note.source = service, "unknown", f"{service}.amazonaws.com"
        # For ``errors.ERRORS``, which answers whatever this raises in the service's XML.
        request.state.iam = RequestFacts(service, request_id)
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        # The signature and its key are checked before the body is read.
        pending = await run_in_threadpool(
            self._authn.begin, request.method, raw_path, raw_query, request.headers.raw,
            service)
        body, body_sha256 = await read_body_hashed(request, MAX_QUERY_BODY)
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = body.decode("latin-1")
            params.update(parse_qsl(text, keep_blank_values=True))
        request.state.iam = RequestFacts(service, request_id, params.get("Action", "?"))
        principal = self._authn.finish(pending, body_sha256)
        note.caller = principal
        op = find_operation(service, params, operations.supported(service))
        # Named only once the model knows the action: no caller can invent metric labels.
        note.name = note.route = op.name
        note.read_only = op.name.startswith(("Get", "List"))
        parsed = parse_params(op, params)
        note.request_parameters = parsed
        if service == "sts":
            # STS is regional as well as global: the request was made to the region it was
            # signed for (us-east-1 for the global endpoint), IAM's always to us-east-1.
            with requested_region(pending.parsed.region):
                result = await run_in_threadpool(operations.call, service, op.name,
                                                 self._services, principal, parsed)
        else:
            result = await run_in_threadpool(operations.call, service, op.name, self._services,
                                             principal, parsed)
        if isinstance(result, dict):
            note.response_elements = result
        payload = render_result(service, op, result, request_id)
        return Response(payload, media_type="text/xml",
                        headers={"x-amzn-RequestId": request_id})
