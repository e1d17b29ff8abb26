"""The HTTP surface of the CodeArtifact API: authenticate, parse, call, render."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from packyard.api.codeartifact.errors import error_response
from packyard.api.codeartifact.operations import (
    CallContext,
    Operations,
    RequestBody,
    StreamResult,
)
from packyard.api.codeartifact.protocol import (
    find_operation,
    parse_request,
    serialize_output,
    streaming_payload,
)
from packyard.arn import parse_taggable
from packyard.auth.principal import Principal
from packyard.auth.signed import PendingRequest, SignedRequestAuthenticator
from packyard.auth.sigv4 import PayloadHashMismatch
from packyard.errors import Invalid
from packyard.http.request import base_url, client_ip, declared_length, read_body_hashed
from packyard.http.request_note import note_of, request_id_of
from packyard.storage.blobs import primed

# API requests are small JSON documents; anything bigger is refused unread.
MAX_API_BODY = 1024 * 1024
EVENT_SOURCE = "codeartifact.amazonaws.com"
# Operations CloudTrail marks read-only (their answers are left out of the trail).
_READ_ONLY = ("Describe", "List", "Get")
# CloudTrail's resource types, by ``parse_taggable``'s kinds.
_RESOURCE_TYPES = {"domain": "AWS::CodeArtifact::Domain",
                   "repository": "AWS::CodeArtifact::Repository",
                   "package-group": "AWS::CodeArtifact::PackageGroup"}


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
        query: dict[str, list[str]] = defaultdict(list)
        for key, value in parse_qsl(request.url.query, keep_blank_values=True):
            query[key].append(value)
        streamed = streaming_payload(op)
        if streamed is not None:
            # The body is a file for the operation to stream into storage: it is read only
            # after the members around it are valid and the caller is known (and authorized,
            # by the operation).
            parsed = parse_request(op, query, request.headers, b"")
            principal = self._authn.caller_before_body(pending)
            note.caller = principal
            note.request_parameters = parsed.params
            note.resources = self._resources(parsed.params)
            body = RequestBody(request.stream(), declared_length(request),
                               functools.partial(self._check_payload, pending, streamed))
            result = await self._ops.call_streaming(op.name, self._context(request, principal),
                                                    parsed.params, body)
        else:
            body_bytes, body_sha256 = await read_body_hashed(request, MAX_API_BODY)
            principal = self._authn.finish(pending, body_sha256)
            note.caller = principal
            parsed = parse_request(op, query, request.headers, body_bytes)
            note.request_parameters = parsed.params
            note.resources = self._resources(parsed.params)
            result = await run_in_threadpool(self._ops.call, op.name,
                                             self._context(request, principal), parsed.params)
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

    def _context(self, request: Request, principal: Principal) -> CallContext:
        return CallContext(principal=principal, base_url=self._public_url or base_url(request),
                           source_ip=client_ip(request))

    def _check_payload(self, pending: PendingRequest, member: str, sha256: str) -> None:
        """The streamed body must be what the request signed (its x-amz-content-sha256):
        otherwise it is refused, named as the member that carries that hash."""
        try:
            self._authn.finish(pending, sha256)
        except PayloadHashMismatch:
            raise Invalid(f"The {member} sent does not match the SHA-256 the request "
                          f"declared ({pending.declared_sha256}): its SHA-256 is {sha256}; "
                          "nothing was stored") from None

    def _resources(self, params: dict[str, Any]) -> list[dict[str, str]]:
        """CloudTrail's ``resources`` of a call: its domain and repository, or the resource
        whose ARN it names (TagResource, UntagResource, ListTagsForResource)."""
        named = params.get("resourceArn")
        if isinstance(named, str):
            taggable = parse_taggable(named)
            return [] if taggable is None else [{
                "ARN": named, "accountId": taggable.owner,
                "type": _RESOURCE_TYPES[taggable.kind]}]
        domain = params.get("domain")
        if not isinstance(domain, str):
            return []
        owner = params.get("domainOwner") or self._ops.arns.account_id
        arns = replace(self._ops.arns, account_id=owner)
        found = [{"ARN": arns.domain(domain), "accountId": owner,
                  "type": "AWS::CodeArtifact::Domain"}]
        repository = params.get("repository")
        if isinstance(repository, str):
            found.append({"ARN": arns.repository(domain, repository), "accountId": owner,
                          "type": "AWS::CodeArtifact::Repository"})
        return found
