"""uvicorn's httptools protocol with a fast lane for answers the app already holds in memory.

A repeat read of a cached project page or small file is answered by the formats' hot paths
(``PackyardApp.hot_answer``) with three dictionary lookups. Served through ASGI, the same answer
also costs uvicorn a request cycle, an event, a task, two ``send`` messages and its header
checks: most of the time of such a request. So this protocol, passed to uvicorn as its ``http``
class, asks the app for a ready answer as soon as a request's headers are parsed and, when there
is one, writes it straight to the socket. Everything else (misses, bodies, upgrades, Expect,
pipelined requests behind a running one, a client that is not reading) goes the ordinary way, and an answer is the same
``Answer`` either way.
"""

from __future__ import annotations

import copy
import logging
from http import HTTPStatus
from typing import Any

import httptools
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import get_client_addr

from packyard.formats.registry import HotPath
from packyard.http.answer import Answer

_STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
                 for status in HTTPStatus}
# Headers uvicorn's proxy middleware turns into the scope's client and scheme.
_PROXY_HEADERS = frozenset({b"x-forwarded-for", b"x-forwarded-proto"})

_log = logging.getLogger(__name__)


class _Answered:
    """Stands in for uvicorn's request cycle after the fast lane answered: complete."""

    response_complete = True

    class _Event:
        def set(self) -> None:
            pass

    message_event = _Event()


_ANSWERED: Any = _Answered()


class _ServerHeaders:
    """uvicorn's own response headers (the Date, updated each second), joined once per
    change of the list the server replaces."""

    def __init__(self) -> None:
        self._source: object = None
        self._joined = b""

    def joined(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not self._source:
            self._joined = b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
            self._source = headers
        return self._joined


_server_headers = _ServerHeaders()


def find_hot_answer(app: Any) -> tuple[HotPath | None, ProxyHeadersMiddleware | None]:
    """The app's ``hot_answer`` beneath uvicorn's proxy-headers middleware, and a copy of that
    middleware (if there is one) which only rewrites a scope. Any other wrapper (uvicorn's
    message logger) disables the lane."""
    proxy = None
    if isinstance(app, ProxyHeadersMiddleware):
        proxy = copy.copy(app)
        proxy.app = _scope_only
        app = app.app
    hot = getattr(app, "hot_answer", None)
    return (hot if callable(hot) else None), proxy


async def _scope_only(scope: Any, receive: Any, send: Any) -> None:
    pass


def apply_proxy_headers(proxy: ProxyHeadersMiddleware, scope: Scope) -> None:
    """Let uvicorn's middleware set the scope's client and scheme from X-Forwarded-* headers,
    as it does for requests that go through it. It does not suspend with ``_scope_only``
    inside, so one step runs it to the end."""
    running = proxy(scope, None, None)  # type: ignore[arg-type]
    try:
        running.send(None)
    except StopIteration:
        return
    running.close()
    raise RuntimeError("the proxy-headers middleware suspended")


def response_bytes(answer: Answer, server_headers: bytes, *, head: bool,
                   keep_alive: bool) -> bytes:
    """The whole response as uvicorn would write it: status line, the server's headers, the
    answer's headers, ``connection: close`` when the connection ends, then the body."""
    parts = [_STATUS_LINES[answer.status], server_headers, answer.wire_headers]
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(answer.body)
    return b"".join(parts)


class PackyardHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot, self._proxy = find_hot_answer(self.app)

    def on_headers_complete(self) -> None:
        if (self._hot is not None and not self.pipeline and not self.expect_100_continue
                and (self.cycle is None or self.cycle.response_complete)
                and not self.flow.write_paused and self._answer_now(self._hot)):
            return
        super().on_headers_complete()

    def _answer_now(self, hot: HotPath) -> bool:
        parser = self.parser
        method = parser.get_method()
        if method != b"GET" and method != b"HEAD" or parser.should_upgrade():
            return False
        url = httptools.parse_url(self.url)
        if url.query is not None or self.root_path:
            return False
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            return False
        http_version = parser.get_http_version()
        scope: Any = self.scope
        scope["method"] = method.decode("ascii")
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = b""
        if http_version != "1.1":
            scope["http_version"] = http_version
        if self._proxy is not None:
            for name, _ in self.headers:
                if name in _PROXY_HEADERS:
                    # On a copy: if the lane declines, uvicorn's own middleware runs on the scope.
                    scope = dict(scope)
                    apply_proxy_headers(self._proxy, scope)
                    break
        try:
            answer = hot(scope)
        except Exception:  # the ordinary path will meet it again and answer 500
            _log.exception("fast lane failed on %s", path)
            return False
        if answer is None or not answer.framed:
            return False
        if self.access_log:  # uvicorn's own access line
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope),
                                    scope["method"], path, scope["http_version"], answer.status)
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        self.transport.write(response_bytes(
            answer, _server_headers.joined(self.server_state.default_headers),
            head=method == b"HEAD", keep_alive=keep_alive))
        self.cycle = _ANSWERED  # the request's body, if any, is read and dropped
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()
        return True


PROTOCOL_PATH = f"{__name__}:PackyardHttpProtocol"
"""The protocol as uvicorn imports it in worker processes."""
