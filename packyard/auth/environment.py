"""The request's environment (client address, TLS, client software) for the condition keys
that describe it.

``aws:SourceIp``, ``aws:SecureTransport`` and ``aws:UserAgent`` are facts about the HTTP request,
not about the principal, and authorization happens deep in services that never see the request. A small ASGI
middleware records them in a context variable for the duration of each request; the Authorizer
reads them from there. Context variables follow the request into ``run_in_threadpool`` (anyio
copies the context), and are never shared between requests.

Only the connection's client address and scheme are used, as uvicorn reports them: uvicorn
applies X-Forwarded-For/-Proto only for connections from FORWARDED_ALLOW_IPS (default 127.0.0.1,
a proxy on the same host). Reading those headers here would let any client choose its own
aws:SourceIp. ``aws:UserAgent`` is the request's User-Agent header as the client sent it: AWS
documents it as a key the caller controls, for blocking clients rather than for trust ("AWS
global condition context keys").
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class RequestEnvironment:
    """What a request says about where it comes from."""

    source_ip: str | None
    secure_transport: bool
    # The User-Agent header; None when the request sent none (then aws:UserAgent is absent).
    user_agent: str | None = None
    # The region of the endpoint the request was made to, when the request says so (an STS
    # request's SigV4 credential scope); None leaves the Authorizer's default.
    requested_region: str | None = None


_current: ContextVar[RequestEnvironment | None] = ContextVar("packyard_request_environment",
                                                             default=None)


def current_environment() -> RequestEnvironment | None:
    """The environment of the request being served, or None outside a request."""
    return _current.get()


CONNECTION = "packyard.connection"
"""The scope key naming the connection a request came on (a number ``packyard serve``'s
protocol gives each connection, never reused in a process): grants are reused on it."""


def connection_of(scope: Scope) -> int | None:
    """The connection ``scope``'s request came on; None when the server does not say."""
    found = scope.get(CONNECTION)
    return found if isinstance(found, int) else None


# User-Agents longer than this are not remembered: the caller chooses the header, and 1,024
# remembered environments must not hold whatever it sends.
_REMEMBERED_USER_AGENT_BYTES = 512


def environment_of(scope: Scope) -> RequestEnvironment:
    client = scope.get("client")
    host, scheme = client[0] if client else None, scope.get("scheme")
    user_agent = _user_agent(scope.get("headers", ()))
    if user_agent is not None and len(user_agent) > _REMEMBERED_USER_AGENT_BYTES:
        return _environment.__wrapped__(host, scheme, user_agent)
    return _environment(host, scheme, user_agent)


def _user_agent(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The first User-Agent header's value."""
    for name, value in headers:
        if name == b"user-agent":
            return bytes(value)
    return None


@functools.lru_cache(maxsize=1024)
def _environment(host: str | None, scheme: str | None, user_agent: bytes | None
                 ) -> RequestEnvironment:
    # Clients come back many times a second; parsing their address once is enough.
    source_ip: str | None = None
    if host:
        try:
            source_ip = str(ipaddress.ip_address(host))
        except ValueError:
            source_ip = None  # e.g. a unix socket or a test client's made-up host
    return RequestEnvironment(source_ip=source_ip, secure_transport=scheme in ("https", "wss"),
                              user_agent=None if user_agent is None
                              else user_agent.decode("latin-1"))


@contextlib.contextmanager
def request_environment(scope: Scope) -> Iterator[None]:
    """``scope``'s environment as the current one, for a request served before the middleware
    (the first-read path, ``services/first_reads.py``)."""
    token = _current.set(environment_of(scope))
    try:
        yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def requested_region(region: str) -> Iterator[None]:
    """``region`` as the current request's aws:RequestedRegion while the block runs.

    STS has a global endpoint (us-east-1) and one in each region; a client signs for the region
    of the endpoint it calls (its configured region, since botocore's ``sts_regional_endpoints``
    defaults to ``regional``; with ``--endpoint-url`` always), which is what AWS's
    aws:RequestedRegion would be.
    """
    current = _current.get() or RequestEnvironment(source_ip=None, secure_transport=False)
    token = _current.set(dataclasses.replace(current, requested_region=region))
    try:
        yield
    finally:
        _current.reset(token)


class RequestEnvironmentMiddleware:
    """Records each HTTP request's environment for the Authorizer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _current.set(environment_of(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
