"""The fence around uvicorn's internals (``server.fence``): the pinned uvicorn has everything
Packyard uses; a uvicorn without some of it gets one log line naming it, and the server still
serves, the plain way.

Each fallback is forced by changing the real uvicorn class the way a release could (a method
with other parameters, an attribute no longer kept), within the test only.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from packaging.specifiers import SpecifierSet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http import h11_impl, httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from packyard.http.answer import Answer
from packyard.server import fence, response_cycle
from packyard.server.app import PackyardApp
from packyard.server.fence import Shape
from packyard.server.limits import ConnectionLimits
from packyard.server.protocol import (
    Mode,
    PackyardHttpProtocol,
    fast_lane_shape,
    limits_shape,
)
from packyard.server.proxy_headers import TrustedProxyHeaders, proxy_shape, trust_proxies
from tests.unit.real_server import RealServer, read_response, serving

HOT = Answer(200, [(b"content-length", b"3")], b"hot")


class Recorder:
    """A ``PackyardApp`` with a hot path for /hot, recording which way it answered (``lane``:
    from the protocol's callbacks; ``asgi``: in the request's task) and what reached
    Starlette."""

    def __init__(self, limits: ConnectionLimits | None = None) -> None:
        self.hot: list[str] = []
        self.asgi: list[tuple[str, Any]] = []

        def hot_path(scope: Any) -> Answer | None:
            if scope["path"] != "/hot":
                return None
            self.hot.append("asgi" if asyncio.current_task() else "lane")
            return HOT

        async def echo(request: Request) -> Response:
            self.asgi.append((request.url.path, request.scope["client"]))
            return PlainTextResponse("asgi")

        self.app = PackyardApp(Starlette(routes=[Route("/cold", echo)]), {"": hot_path}, limits)


def _get(server: RealServer, path: str, extra: bytes = b"") -> bytes:
    with server.connect() as conn:
        conn.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
        return read_response(conn)


def _fence_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == fence.__name__]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The protocol's mode chosen anew, and fence warnings captured."""
    monkeypatch.setattr(PackyardHttpProtocol, "mode", None)
    caplog.set_level(logging.WARNING, logger=fence.__name__)
    yield


# -- the pinned uvicorn ---------------------------------------------------------------------------

def test_the_installed_uvicorn_is_in_the_pinned_range() -> None:
    assert uvicorn.__version__ in SpecifierSet(fence.tested_range().removeprefix("uvicorn"))


@pytest.mark.parametrize("shape", [
    pytest.param(limits_shape, id="limits"),
    pytest.param(fast_lane_shape, id="fast-lane"),
    pytest.param(proxy_shape, id="proxy-headers"),
    pytest.param(lambda: response_cycle.cycle_shape(httptools_impl, "STATUS_LINE", coalesce=True),
                 id="httptools-cycle"),
    pytest.param(lambda: response_cycle.cycle_shape(h11_impl, "STATUS_PHRASES", coalesce=False),
                 id="h11-cycle"),
])
def test_the_pinned_uvicorn_has_everything_packyard_uses(shape: Any) -> None:
    """When this fails after moving the pin, it names what moved."""
    assert shape().missing == []


def test_the_full_protocol_is_chosen_without_a_word(fresh: None,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    assert PackyardHttpProtocol.choose_mode() is Mode.FULL
    assert _fence_lines(caplog) == []


# -- what a Shape notices ---------------------------------------------------------------------

class Original:
    kept = 1

    def __init__(self) -> None:
        self.state = 0

    async def send(self, message: Any) -> None:
        _ = (self.state, TABLE)  # reads an attribute and a global


TABLE = {404: b"Not Found"}


class Moved(Original):
    def send(self, message: Any, extra: int = 0) -> None:  # type: ignore[override]
        pass


@pytest.mark.parametrize(("owner", "missing"), [
    (Original, []),
    (Moved, ["Moved.send(self, message), found (self, message, extra)", "Moved.gone",
             "Moved.send reading TABLE"]),
])
def test_a_shape_names_what_is_missing(owner: type, missing: list[str]) -> None:
    shape = Shape()
    shape.method(owner, "send", "self, message", coroutine=owner is Original)
    shape.attributes(owner, "state", "kept", *(["gone"] if owner is Moved else []))
    shape.reads(owner, "send", *(["TABLE"] if owner is Moved else ["state", "TABLE"]))
    assert shape.missing == missing


def test_a_plain_function_where_a_coroutine_was_is_named() -> None:
    shape = Shape()
    shape.method(Moved, "send", "self, message, extra", coroutine=True)
    assert shape.missing == ["Moved.send(self, message, extra) as a coroutine function"]


def test_a_module_without_the_status_table_is_named() -> None:
    fake = types.ModuleType("fake_impl")
    fake.RequestResponseCycle = httptools_impl.RequestResponseCycle  # type: ignore[attr-defined]
    missing = response_cycle.cycle_shape(fake, "STATUS_LINE", coalesce=True).missing
    assert missing == ["STATUS_LINE as a dict of status code to b'HTTP/1.1 404 Not Found\\r\\n'"]
    empty = types.ModuleType("empty_impl")
    assert response_cycle.cycle_shape(empty, "STATUS_LINE", coalesce=True).missing == [
        "empty_impl.RequestResponseCycle"]
    assert not response_cycle.patch(fake, "STATUS_LINE", coalesce=True, consequence="plain")


# -- the protocol's fallbacks, on a real server --------------------------------------------------

def test_without_what_the_fast_lane_uses_the_limits_stay(
        fresh: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    original = HttpToolsProtocol.on_headers_complete

    def on_headers_complete(self: Any, *more: Any) -> None:  # a release with other parameters
        original(self)

    monkeypatch.setattr(HttpToolsProtocol, "on_headers_complete", on_headers_complete)
    assert PackyardHttpProtocol.choose_mode() is Mode.LIMITS
    assert PackyardHttpProtocol.choose_mode() is Mode.LIMITS
    (line,) = _fence_lines(caplog)
    assert "HttpToolsProtocol.on_headers_complete(self), found (self, *more)" in line
    assert "serving without the fast lane" in line
    recorder = Recorder(ConnectionLimits(header_timeout=0.5))
    with serving(recorder.app, PackyardHttpProtocol) as server, server.connect() as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(conn).endswith(b"\r\n\r\nhot")
        assert recorder.hot == ["asgi"]
        assert type(server.connections()[0]) is PackyardHttpProtocol
        conn.sendall(b"GET /cold HTTP/1.1\r\n")  # the limits hold: a head that never ends
        assert read_response(conn).startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_without_what_the_limits_use_connections_get_uvicorns_protocol(
        fresh: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    original = HttpToolsProtocol._unset_keepalive_if_required

    def renamed(self: Any, *more: Any) -> None:
        original(self)

    monkeypatch.setattr(HttpToolsProtocol, "_unset_keepalive_if_required", renamed)
    recorder = Recorder()
    with serving(recorder.app, PackyardHttpProtocol) as server:  # chosen at the first connection
        with server.connect() as conn:
            conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn).endswith(b"\r\n\r\nhot")
            assert type(server.connections()[0]) is HttpToolsProtocol
        assert recorder.hot == ["asgi"]
        assert _get(server, "/cold").endswith(b"\r\n\r\nasgi")
    assert PackyardHttpProtocol.mode is Mode.PLAIN
    (line,) = _fence_lines(caplog)
    assert "HttpToolsProtocol._unset_keepalive_if_required(self), found (self, *more)" in line
    assert "serving with uvicorn's own protocol: no request head or body deadlines" in line


# -- the proxy-headers middleware's fallback ------------------------------------------------------

def test_without_the_middlewares_trusted_hosts_forwarded_headers_are_ignored(
        fresh: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    original = ProxyHeadersMiddleware.__init__

    def keeps_them_elsewhere(self: Any, app: Any, trusted_hosts: Any = "127.0.0.1") -> None:
        original(self, app, trusted_hosts)
        self.hosts = self.__dict__.pop("trusted_hosts")

    monkeypatch.setattr(ProxyHeadersMiddleware, "__init__", keeps_them_elsewhere)
    recorder = Recorder()
    app = trust_proxies(recorder.app, "127.0.0.1")
    assert app is recorder.app
    line = _fence_lines(caplog)[0]
    assert "ProxyHeadersMiddleware.trusted_hosts answering `address in`" in line
    assert "X-Forwarded-For, -Proto and -Host are ignored from every address" in line
    with serving(app, PackyardHttpProtocol, proxy_headers=False) as server:
        forwarded = b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
        assert _get(server, "/cold", forwarded).endswith(b"asgi")
    assert recorder.asgi[0][1][0] == "127.0.0.1"


def test_with_the_middleware_as_tested_the_trusted_proxy_counts(
        fresh: None, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    app = trust_proxies(recorder.app, "127.0.0.1")
    assert isinstance(app, TrustedProxyHeaders)
    with serving(app, PackyardHttpProtocol, proxy_headers=False) as server:
        assert _get(server, "/cold", b"X-Forwarded-For: 203.0.113.9\r\n").endswith(b"asgi")
        assert _get(server, "/hot").endswith(b"hot")
    assert recorder.asgi[0][1] == ("203.0.113.9", 0)
    assert recorder.hot == ["lane"]
    assert _fence_lines(caplog) == []
