"""Small HTTP helpers shared by every protocol surface."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from packyard.errors import TooLarge

# The scope key under which the proxy-headers middleware (server/proxy_headers.py) keeps the
# X-Forwarded-Host of a request that came through a trusted proxy.
FORWARDED_HOST = "packyard.forwarded_host"


# A host name or address with an optional port: nothing that could bend a URL (or a command)
# built from it.
HOST = re.compile(r"[A-Za-z0-9.-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


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


# Printable ASCII but '%', which escapes the rest.
_HEADER_SAFE = "".join(chr(code) for code in range(32, 127) if chr(code) != "%")


def header_text(value: str) -> str:
    """``value`` as a header value can carry it: unchanged when it is printable ASCII, else with
    every other character (non-ASCII, control characters) and '%' percent-encoded as UTF-8.

    Header values are latin-1 on the wire, and a character outside it (a Kelvin sign in a
    filename) would turn the response into a 500; CR and LF would split the header.
    """
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe=_HEADER_SAFE)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def declared_length(request: Request) -> int | None:
    """The body size the Content-Length header declares, if it does (chunked bodies do not)."""
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None


async def read_body_hashed(request: Request, limit: int) -> tuple[bytes, str]:
    """The whole body and its sha256 (hex), hashed as it streams; more than ``limit`` bytes are
    refused without being buffered. Signed requests call it only after
    ``SignedRequestAuthenticator.begin``, so no unauthenticated caller gets its body read."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
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
