"""Small HTTP helpers shared by every protocol surface."""

from __future__ import annotations

import hashlib

from starlette.requests import Request

from packyard.errors import TooLarge


def base_url(request: Request) -> str:
    """The scheme://host[:port] the client used to reach us."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def read_body_hashed(request: Request, limit: int) -> tuple[bytes, str]:
    """The whole body and its sha256 (hex), hashed as it streams; more than ``limit`` bytes are
    refused without being buffered. Signed requests call it only after
    ``SignedRequestAuthenticator.begin``, so no unauthenticated caller gets its body read."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"Request body larger than {limit} bytes")
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"Request body larger than {limit} bytes")
        digest.update(chunk)
        chunks.append(chunk)
    return b"".join(chunks), digest.hexdigest()
