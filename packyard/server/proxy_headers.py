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
finds it and applies it the same way.
"""

from __future__ import annotations

import re
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable
from uvicorn._types import Scope as UvicornScope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from packyard.http.request import FORWARDED_HOST

# A host name or address with an optional port: nothing that could bend the URL built from it.
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


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
    if _HOST.fullmatch(host):
        scope[FORWARDED_HOST] = host

