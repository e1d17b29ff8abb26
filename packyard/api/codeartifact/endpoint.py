"""The HTTP surface of the CodeArtifact API: authenticate, parse, call, render."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from packyard.api.codeartifact.errors import error_response
from packyard.api.codeartifact.operations import CallContext, Operations, StreamResult
from packyard.api.codeartifact.protocol import find_operation, parse_request, serialize_output
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.http.request import base_url, client_ip, read_body_hashed
from packyard.http.request_note import note_of, request_id_of
from packyard.storage.blobs import primed

# API requests are small JSON documents; anything bigger is refused unread.
MAX_API_BODY = 1024 * 1024
EVENT_SOURCE = "codeartifact.amazonaws.com"
# Operations CloudTrail marks read-only (their answers are left out of the trail).
_READ_ONLY = ("Describe", "List", "Get")


class CodeArtifactEndpoint:
    """Serves ``/v1/...``: CodeArtifact's REST-JSON API, SigV4-signed."""

    def __init__(self, operations: Operations, authenticator: SignedRequestAuthenticator,
                 public_url: str | None) -> None:
        self._ops = operations
        self._authn = authenticator
        self._public_url = public_url

    async def __call__(self, request: Request) -> Response:
        note = note_of(request.scope)
        note.surface = "codeartifact"
        op = find_operation(request.method, request.url.path)
        if op is None:
            note.route = "unknown"
            return error_response("UnknownOperationException", 404,
                                  f"No CodeArtifact operation at {request.method} "
                                  f"{request.url.path}")
        # For the log lines of ``errors.ERRORS``, which answers whatever this raises.
        request.state.operation = op.name
        # For the audit trail and the metrics (http/request_note.py): operation names come
        # from the service model, so no caller can invent labels.
        note.source, note.name, note.route = EVENT_SOURCE, op.name, op.name
        note.read_only = op.name.startswith(_READ_ONLY)
        # The signature and its key are checked before the body is read.
        pending = await run_in_threadpool(
            self._authn.begin, request.method, request.scope.get("raw_path", b"")
            .decode("latin-1") or request.url.path, request.scope.get("query_string", b"")
            .decode("latin-1"), request.headers.raw, "codeartifact")
        body, body_sha256 = await read_body_hashed(request, MAX_API_BODY)
        principal = self._authn.finish(pending, body_sha256)
        note.caller = principal
        query: dict[str, list[str]] = defaultdict(list)
        for key, value in parse_qsl(request.url.query, keep_blank_values=True):
            query[key].append(value)
        parsed = parse_request(op, query, request.headers, body)
        note.request_parameters = parsed.params
        note.resources = self._resources(parsed.params)
        ctx = CallContext(principal=principal,
                          base_url=self._public_url or base_url(request),
                          source_ip=client_ip(request))
        result = await run_in_threadpool(self._ops.call, op.name, ctx, parsed.params)
        request_id = request_id_of(request.scope)
        if isinstance(result, StreamResult):
            note.response_elements = dict(result.headers)
            # Its first piece is read before the answer starts, so a stored file that fails its
            # integrity check answers InternalServerException, not a cut-short 200.
            return StreamingResponse(await primed(result.body), media_type="application/octet-stream",
                                     headers={**result.headers, "x-amzn-RequestId": request_id,
                                              "Content-Length": str(result.size)})
        if isinstance(result, dict):
            note.response_elements = result
        payload, headers = serialize_output(op, result)
        headers["x-amzn-RequestId"] = request_id
        return Response(payload, media_type="application/json", headers=headers)

    def _resources(self, params: dict[str, Any]) -> list[dict[str, str]]:
        """CloudTrail's ``resources`` of a call: its domain and repository."""
        domain = params.get("domain")
        if not isinstance(domain, str):
            return []
        arns = self._ops.arns
        owner = params.get("domainOwner") or arns.account_id
        found = [{"ARN": arns.domain(domain), "accountId": owner,
                  "type": "AWS::CodeArtifact::Domain"}]
        repository = params.get("repository")
        if isinstance(repository, str):
            found.append({"ARN": arns.repository(domain, repository), "accountId": owner,
                          "type": "AWS::CodeArtifact::Repository"})
        return found
