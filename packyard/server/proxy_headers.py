"""Which X-Forwarded-* headers Packyard believes, and from whom.

A reverse proxy tells the server who the client is (X-Forwarded-For), which scheme it used
(X-Forwarded-Proto) and which host name it asked for (X-Forwarded-Host). Any client can send the
same headers, so they count only on connections from the proxy addresses the operator trusts:
uvicorn's ``--forwarded-allow-ips`` setting (``FORWARDED_ALLOW_IPS``, default 127.0.0.1), which
Packyard reads as ``forwarded_allow_ips``.

uvicorn's own middleware applies the first two (the scope's ``client`` and ``scheme``: what
``aws:SourceIp`` and ``aws:SecureTransport`` see); this subclass of it also records the third
for the endpoint URLs Packyard hands out (``get-repository-endpoint``; ``http.request.base_url``
reads it back). It takes uvicorn's place (``packyard serve`` runs uvicorn with
``proxy_headers=False``), so the server's fast lane (``server.protocol.find_hot_answer``) still
finds it and applies it the same way (``apply_proxy_headers``).

Both read what uvicorn's middleware keeps (``trusted_hosts``, ``app``) and rely on how it runs,
so ``proxy_shape`` checks that first (``server.fence``); when it does not fit, ``trust_proxies``
leaves the middleware out and every X-Forwarded-* header is ignored: the connection's own
address and scheme count, as for a client that is not a trusted proxy.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, cast

from starlette.types import ASGIApp, Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from packyard.http.request import FORWARDED_HOST, HOST
from packyard.server.fence import Shape

if TYPE_CHECKING:  # uvicorn's private module, for the signature of the method overridden
    from uvicorn._types import ASGIReceiveCallable, ASGISendCallable
    from uvicorn._types import Scope as UvicornScope


class TrustedProxyHeaders(ProxyHeadersMiddleware):
    """uvicorn's proxy-headers middleware, plus X-Forwarded-Host, from trusted addresses only."""

    async def __call__(self, scope: UvicornScope, receive: ASGIReceiveCallable,
                       send: ASGISendCallable) -> None:
        if scope["type"] in ("http", "websocket"):
            record_forwarded_host(scope, self)
        await super().__call__(scope, receive, send)


def record_forwarded_host(scope: Any, proxy: ProxyHeadersMiddleware) -> None:
    """Keep the X-Forwarded-Host of a request from a trusted proxy in ``scope``; the last value
    is the one the nearest proxy set. Runs before uvicorn's part replaces the client address."""
    client = scope.get("client")
    if not client or client[0] not in proxy.trusted_hosts:
        return
    values = [value for name, value in scope["headers"] if name == b"x-forwarded-host"]
    if not values:
        return
    host = values[-1].decode("latin-1").split(",")[-1].strip()
    if HOST.fullmatch(host):
        scope[FORWARDED_HOST] = host


def proxy_shape() -> Shape:
    """What Packyard uses of uvicorn's proxy-headers middleware: made with ``(app,
    trusted_hosts)``, it keeps both (``address in trusted_hosts``), and run on a scope it sets a
    trusted request's client and scheme in one step (the fast lane runs it from a callback)."""
    shape = Shape()
    shape.method(ProxyHeadersMiddleware, "__init__", "self, app, trusted_hosts")
    shape.method(ProxyHeadersMiddleware, "__call__", "self, scope, receive, send", coroutine=True)
    if shape.missing:
        return shape
    try:
        probe = ProxyHeadersMiddleware(_scope_only, trusted_hosts="192.0.2.1")
    except Exception:
        shape.missing.append("ProxyHeadersMiddleware(app, trusted_hosts=\"192.0.2.1\")")
        return shape
    shape.holds("ProxyHeadersMiddleware.app", lambda: probe.app is _scope_only)
    shape.holds("ProxyHeadersMiddleware.trusted_hosts answering `address in`",
                lambda: "192.0.2.1" in probe.trusted_hosts
                and "192.0.2.2" not in probe.trusted_hosts)
    shape.holds("ProxyHeadersMiddleware setting a trusted request's client and scheme at once",
                lambda: _rewritten(probe, "192.0.2.1") == (("198.51.100.7", 0), "https")
                and _rewritten(probe, "192.0.2.2") == (("192.0.2.2", 1), "http"))
    return shape


def _rewritten(proxy: ProxyHeadersMiddleware, client: str) -> tuple[Any, str]:
    scope: Any = {"type": "http", "client": (client, 1), "scheme": "http", "headers": [
        (b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-proto", b"https")]}
    apply_proxy_headers(proxy, scope)
    return scope["client"], scope["scheme"]


def trust_proxies(app: ASGIApp, trusted_hosts: str) -> ASGIApp:
    """``app`` behind ``TrustedProxyHeaders``; the app alone if uvicorn's middleware is not
    what Packyard was tested with."""
    if not proxy_shape().fits("X-Forwarded-For, -Proto and -Host are ignored from every "
                              "address"):
        return app
    return cast(ASGIApp, TrustedProxyHeaders(cast(Any, app), trusted_hosts=trusted_hosts))


def scope_rewriter(proxy: ProxyHeadersMiddleware) -> ProxyHeadersMiddleware:
    """A copy of the middleware that only rewrites the scope it is given."""
    rewriter = copy.copy(proxy)
    rewriter.app = _scope_only
    return rewriter


async def _scope_only(scope: Any, receive: Any, send: Any) -> None:
    pass


def apply_proxy_headers(proxy: ProxyHeadersMiddleware, scope: Scope) -> None:
    """Let uvicorn's middleware (a ``scope_rewriter``) set the scope's client and scheme from
    X-Forwarded-* headers, as it does for requests that go through it. It does not suspend
    with ``_scope_only`` inside, so one step runs it to the end."""
    running = proxy(scope, None, None)  # type: ignore[arg-type]
    try:
        running.send(None)
    except StopIteration:
        return
    running.close()
    raise RuntimeError("the proxy-headers middleware suspended")
