"""Small HTTP helpers shared by every protocol surface."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request

from packyard.errors import TooLarge

# The scope key under which the proxy-headers middleware (server/proxy_headers.py) keeps the
# X-Forwarded-Host of a request that came through a trusted proxy.
FORWARDED_HOST = "packyard.forwarded_host"


def forwarded_host(scope: Any) -> str | None:
    """The host a trusted proxy says the client asked for, if any."""
    value = scope.get(FORWARDED_HOST)
    return value if isinstance(value, str) else None


def base_url(request: Request) -> str:
    """The scheme://host[:port] the client used to reach us.

    X-Forwarded-Proto and -Host count only from trusted proxies (``server/proxy_headers``): the
    scheme is the scope's, which uvicorn's rules set, and the forwarded host is what the proxy
    middleware recorded.
    """
    scheme = request.url.scheme
    host = forwarded_host(request.scope) or request.headers.get("host")
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
