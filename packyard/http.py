"""Small HTTP helpers shared by every protocol surface."""

from __future__ import annotations

from urllib.parse import quote

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


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without buffering them."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise TooLarge(f"Request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"Request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
