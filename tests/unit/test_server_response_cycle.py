"""The one patch of uvicorn's request cycle (``server.response_cycle``): a marked answer's head
and body in one write (``server.coalesce``), the app's reason phrase on the status line
(``server.reason``), and plain uvicorn when its cycle is not what the patch knows.

Against real uvicorn: the app is a ``PackyardApp`` (a hot path, then Starlette) served with
Packyard's protocol on a loopback socket, and the writes are the server thread's write system
calls as the kernel counts them (``real_server``), not what the Python code says it wrote.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http import h11_impl, httptools_impl

from packyard.http.answer import Answer
from packyard.http.server_hints import COALESCE, REASON_HEADER
from packyard.server import fence, response_cycle
from packyard.server.app import PackyardApp
from packyard.server.protocol import PackyardHttpProtocol
from tests.unit.real_server import RealServer, needs_write_counts, read_response, serving

PAGE = Answer(200, [(b"content-type", b"text/html"), (b"etag", b'"p1"'),
                    (b"content-length", b"4")], b"page")
NOT_MODIFIED = Answer(304, [(b"etag", b'"p1"')], b"")
REFUSED = "File already exists: pkg-1.0.tar.gz was uploaded before"
# A marked answer with a reason of its own: both behaviours in one response.
CONFLICT = Answer(409, [(REASON_HEADER.encode(), REFUSED.encode()),
                        (b"content-length", b"9")], b"conflict\n")


def _hot_path(scope: Any) -> Answer | None:
    if scope["path"] == "/page":
        revalidating = any(name == b"if-none-match" for name, _ in scope["headers"])
        return NOT_MODIFIED if revalidating else PAGE
    return CONFLICT if scope["path"] == "/conflict" else None


async def _plain(_request: Request) -> Response:
    return PlainTextResponse("plain")


async def _refused(_request: Request) -> Response:
    return PlainTextResponse("refused\n", status_code=409, headers={REASON_HEADER: REFUSED})


def _app() -> PackyardApp:
    return PackyardApp(Starlette(routes=[Route("/plain", _plain), Route("/refused", _refused)]),
                       {"": _hot_path})


@pytest.fixture
def uvicorn_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """uvicorn's cycles as they were before the test, whatever it installs."""
    for module, table in ((httptools_impl, "STATUS_LINE"), (h11_impl, "STATUS_PHRASES")):
        send = module.RequestResponseCycle.send
        assert send not in response_cycle._ours, "another test left uvicorn patched"
        monkeypatch.setattr(module, table, getattr(module, table))
        monkeypatch.setattr(module.RequestResponseCycle, "send", send)
    monkeypatch.setattr(PackyardHttpProtocol, "mode", None)
    yield


@pytest.fixture
def patched(uvicorn_restored: None) -> Iterator[RealServer]:
    needs_write_counts()
    fence.install()
    with serving(_app(), PackyardHttpProtocol) as server:
        yield server


# (request, the response's first line, its write system calls with the patch, without it)
REQUESTS = [
    pytest.param(b"GET /page", b"HTTP/1.1 200 OK", 1, 1, id="fast-lane"),
    pytest.param(b"GET /page?asgi", b"HTTP/1.1 200 OK", 1, 2, id="marked"),
    pytest.param(b"HEAD /page?asgi", b"HTTP/1.1 200 OK", 1, 1, id="marked-HEAD"),
    pytest.param(b"GET /page?asgi\r\nIf-None-Match: \"p1\"", b"HTTP/1.1 304 Not Modified", 1, 1,
                 id="marked-304"),
    pytest.param(b"GET /plain", b"HTTP/1.1 200 OK", 2, 2, id="plain"),
    pytest.param(b"HEAD /plain", b"HTTP/1.1 200 OK", 1, 1, id="plain-HEAD"),
    pytest.param(b"GET /refused", b"HTTP/1.1 409 " + REFUSED.encode(), 2, 2, id="reason"),
    pytest.param(b"GET /conflict?asgi", b"HTTP/1.1 409 " + REFUSED.encode(), 1, 2,
                 id="marked-with-reason"),
]


def _exchange(server: RealServer, request: bytes) -> tuple[bytes, int]:
    """The response to ``request`` on a fresh keep-alive connection, and the writes it took."""
    with server.connect() as conn:
        before = server.writes()
        conn.sendall(request + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_response(conn, head=request.startswith(b"HEAD"))
        return response, server.writes() - before


@pytest.mark.parametrize(("request_", "first_line", "writes", "_unpatched"), REQUESTS)
def test_writes_per_response_with_the_patch(patched: RealServer, request_: bytes,
                                            first_line: bytes, writes: int,
                                            _unpatched: int) -> None:
    response, counted = _exchange(patched, request_)
    assert response.split(b"\r\n", 1)[0] == first_line
    assert REASON_HEADER.encode() not in response.lower()
    assert counted == writes


def test_writes_and_reasons_without_the_patch(uvicorn_restored: None,
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """A uvicorn whose cycle ``send`` takes other arguments is left unpatched: one log line,
    and responses exactly as uvicorn writes them (head and body apart, standard phrases)."""
    needs_write_counts()
    original = httptools_impl.RequestResponseCycle.send

    async def send(self: Any, message: Any, *more: Any) -> None:
        await original(self, message)

    monkeypatch.setattr(httptools_impl.RequestResponseCycle, "send", send)
    caplog.set_level(logging.WARNING, logger=fence.__name__)
    fence.install()
    fence.install()  # a worker's factory installs again: still one line
    lines = [r.getMessage() for r in caplog.records if r.name == fence.__name__]
    assert len(lines) == 1
    assert "RequestResponseCycle.send(self, message), found (self, message, *more)" in lines[0]
    assert "head and body in two writes" in lines[0]
    assert httptools_impl.RequestResponseCycle.send is send
    with serving(_app(), PackyardHttpProtocol) as server:
        for param in REQUESTS:
            request, first_line, _, writes = param.values
            response, counted = _exchange(server, request)
            status = first_line.split(b" ")[1]
            if status == b"409":  # the standard phrase, and the header as the app sent it
                first_line = b"HTTP/1.1 409 Conflict"
                assert REASON_HEADER.encode() in response
            assert (response.split(b"\r\n", 1)[0], counted) == (first_line, writes), param.id


def test_the_body_after_a_held_head_is_one_write_with_it(patched: RealServer) -> None:
    with patched.connect() as conn:
        for _ in range(3):  # on one keep-alive connection, no head is left behind
            before = patched.writes()
            conn.sendall(b"GET /page?asgi HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn).endswith(b"\r\n\r\npage")
            assert patched.writes() - before == 1


# The edges, on uvicorn's own RequestResponseCycle with a transport that records what reaches it.

class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Flow:
    write_paused = False


def _cycle(method: str = "GET", *, keep_alive: bool = True) -> Any:
    scope: Any = {"method": method, "http_version": "1.1", "path": "/", "query_string": b""}
    return httptools_impl.RequestResponseCycle(
        scope=scope, transport=Transport(), flow=Flow(), logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test"), access_log=False, default_headers=[],
        message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
        on_response=lambda: None)


def _send(cycle: Any, *messages: dict[str, Any]) -> list[bytes]:
    send = response_cycle.wrap_send(httptools_impl.RequestResponseCycle.send, coalesce=True)

    async def main() -> None:
        for message in messages:
            await send(cycle, message)

    asyncio.run(main())
    writes: list[bytes] = cycle.transport.writes
    return writes


START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-length", b"4")], COALESCE: True}
BODY = {"type": "http.response.body", "body": b"page"}


def test_a_closing_response_writes_its_head_and_body_before_the_close() -> None:
    cycle = _cycle(keep_alive=False)
    (write,) = _send(cycle, START, BODY)
    assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"connection: close\r\n\r\npage")
    assert cycle.transport.closed


def test_a_head_request_closing_still_sends_the_head() -> None:
    cycle = _cycle("HEAD", keep_alive=False)
    (write,) = _send(cycle, START, BODY)
    assert write.endswith(b"\r\n\r\n") and cycle.transport.closed


def test_nothing_is_written_to_a_connection_that_went_away() -> None:
    cycle = _cycle()
    assert _send(cycle, START) == []  # the head is held
    cycle.transport.close()  # what uvicorn's protocol does when the client goes
    cycle.disconnected = True
    assert _send(cycle, BODY) == []


def test_an_unmarked_response_is_left_alone() -> None:
    cycle = _cycle()
    head, body = _send(cycle, {**START, COALESCE: False}, BODY)
    assert head.endswith(b"\r\n\r\n") and body == b"page"


# An answer started before the request's body was read (an upload refused at its head).

class _Lingering:
    """Stands in for Packyard's protocol, which lingers and closes after such an answer."""

    lingers_early_answers = True

    def __init__(self) -> None:
        self.completed = 0

    def on_response_complete(self) -> None:
        self.completed += 1


def _early(protocol: object) -> Any:
    cycle = _cycle()
    cycle.on_response = getattr(protocol, "on_response_complete", lambda: None)
    assert cycle.more_body  # nothing of the request's body read yet
    return cycle


UNMARKED = {**START, COALESCE: False}


def test_an_early_answer_says_connection_close_and_the_protocol_lingers() -> None:
    protocol = _Lingering()
    cycle = _early(protocol)
    head, body = _send(cycle, UNMARKED, BODY)
    assert b"\r\nconnection: close\r\n" in head and body == b"page"
    # Not closed by uvicorn with the body still coming: the protocol lingers, then closes.
    assert not cycle.transport.closed and protocol.completed == 1


def test_an_early_answer_whose_body_arrived_meanwhile_is_closed_at_once() -> None:
    protocol = _Lingering()
    cycle = _early(protocol)
    (head,) = _send(cycle, UNMARKED)
    cycle.more_body = False  # the rest of the request arrived before the answer's end
    assert _send(cycle, BODY) == [head, b"page"]
    assert b"\r\nconnection: close\r\n" in head and cycle.transport.closed


def test_an_answer_after_the_body_was_read_keeps_the_connection() -> None:
    cycle = _early(_Lingering())
    cycle.more_body = False
    head, _body = _send(cycle, UNMARKED, BODY)
    assert b"connection" not in head.lower() and not cycle.transport.closed


def test_without_packyards_protocol_an_early_answer_is_uvicorns() -> None:
    # uvicorn's own protocol reads and drops the rest of the body and keeps the connection.
    cycle = _early(object())
    head, _body = _send(cycle, UNMARKED, BODY)
    assert b"connection" not in head.lower() and not cycle.transport.closed
