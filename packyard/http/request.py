"""Small HTTP helpers shared by every protocol surface."""

from __future__ import annotations

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


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without buffering them."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"Request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
