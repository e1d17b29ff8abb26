"""The server's fast lane (``server.protocol``): ready answers written from the protocol, with
uvicorn's framing, keep-alive and ordering; everything else through the ASGI app.

A real uvicorn server runs in a thread on a loopback socket; the tests speak raw HTTP/1.x to it,
so pipelining, HTTP/1.0 and connection handling are what a client would see.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

from packyard.http.answer import Answer
from packyard.http.request_note import RequestIds
from packyard.server.protocol import (
    PackyardHttpProtocol,
    apply_proxy_headers,
    find_first_answer,
    find_hot_answer,
    response_bytes,
)
from packyard.server.traffic import Traffic

FIRST = Answer(200, [(b"content-length", b"5"), (b"content-type", b"text/plain")], b"first")
HOT = Answer(200, [(b"etag", b'"e1"'), (b"content-length", b"5"),
                   (b"content-type", b"text/plain")], b"hello")
UNFRAMED = Answer(200, [(b"content-type", b"text/plain")], b"no length")


class App:
    """A hot path for /hot (and /unframed); as in ``PackyardApp`` the ASGI app tries it first
    too, then answers everything else itself (/slow late). ``asgi_paths`` records what reached
    the ASGI app."""

    def __init__(self) -> None:
        self.asgi_paths: list[str] = []
        self.asgi_clients: list[Any] = []
        self.hot_scopes: list[Any] = []

    def hot_answer(self, scope: Any) -> Answer | None:
        self.hot_scopes.append(scope)
        if scope["query_string"]:
            return None
        return {"/hot": HOT, "/unframed": UNFRAMED, "/boom": None}.get(scope["path"])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.asgi_paths.append(scope["path"])
        self.asgi_clients.append(scope["client"])
        if scope["path"] == "/slow":
            await asyncio.sleep(0.2)
        if scope["path"] == "/slower":  # longer than the keep-alive timeout (1 s) leaves
            await asyncio.sleep(0.6)
        answer = self.hot_answer(scope)
        if answer is not None:
            await answer.send(send)
            return
        body = f"asgi {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class FirstReadApp(App):
    """``App`` with ``PackyardApp``'s first reads made without waiting: /first is answered by
    ``first_answer_now`` and counted by ``first_answer_sent``; an observer gives request ids."""

    def __init__(self) -> None:
        super().__init__()
        self.observer = SimpleNamespace(ids=RequestIds(), traffic=Traffic(), access_log=None)
        self.first_sent: list[tuple[str, int, int]] = []

    def first_answer_now(self, scope: Any) -> Answer | None:
        return FIRST if scope["path"] == "/first" else None

    def first_answer_sent(self, scope: Any, request_id: str, status: int, sent: int,
                          started: float) -> None:
        self.first_sent.append((request_id, status, sent))


@contextmanager
def _serving(app: App) -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=PackyardHttpProtocol, lifespan="off", log_level="error",
                            timeout_keep_alive=1, server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def served() -> Iterator[tuple[App, int]]:
    app = App()
    with _serving(app) as port:
        yield app, port


def _connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    return conn


def _read_responses(conn: socket.socket, count: int, *, head: bool = False) -> list[bytes]:
    """Read `count` whole responses (framed by content-length) off the connection."""
    buffer = b""
    responses: list[bytes] = []
    while len(responses) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head_part = buffer[:end + 4]
            length = 0
            for line in head_part.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            total = end + 4 + (0 if head else length)
            if len(buffer) >= total:
                responses.append(buffer[:total])
                buffer = buffer[total:]
                continue
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {len(responses)} responses: {buffer!r}"
        buffer += chunk
    assert buffer == b""
    return responses


def _closed(conn: socket.socket) -> bool:
    conn.settimeout(3)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_ready_answer_is_written_with_the_servers_headers(served: tuple[App, int]) -> None:
    app, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        (response,) = _read_responses(conn, 1)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1].startswith(b"date: ")
    assert lines[2:] == [b'etag: "e1"', b"content-length: 5", b"content-type: text/plain"]
    assert body == b"hello"
    assert app.asgi_paths == []


def test_keep_alive_and_head(served: tuple[App, int]) -> None:
    app, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_responses(conn, 1)
        conn.sendall(b"HEAD /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        (response,) = _read_responses(conn, 1, head=True)
        assert response.endswith(b"content-type: text/plain\r\n\r\n")
        conn.sendall(b"GET /cold HTTP/1.1\r\nHost: x\r\n\r\n")
        (cold,) = _read_responses(conn, 1)
    assert cold.endswith(b"asgi /cold")
    assert app.asgi_paths == ["/cold"]


def test_pipelined_requests_are_answered_in_order(served: tuple[App, int]) -> None:
    app, port = served
    with _connect(port) as conn:
        # A slow ASGI request first: the ready answer behind it must wait its turn.
        conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /cold HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        responses = _read_responses(conn, 5)
    bodies = [r.partition(b"\r\n\r\n")[2] for r in responses]
    assert bodies == [b"asgi /slow", b"hello", b"hello", b"asgi /cold", b"hello"]


def test_http_1_0_and_connection_close_end_the_connection(served: tuple[App, int]) -> None:
    _, port = served
    for request in (b"GET /hot HTTP/1.0\r\n\r\n",
                    b"GET /hot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        with _connect(port) as conn:
            conn.sendall(request)
            (response,) = _read_responses(conn, 1)
            assert b"\r\nconnection: close\r\n" in response
            assert response.endswith(b"hello")
            assert _closed(conn)


def test_a_request_body_is_dropped_and_the_connection_goes_on(served: tuple[App, int]) -> None:
    _, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
                     b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        assert [r.endswith(b"hello") for r in _read_responses(conn, 2)] == [True, True]


def test_a_body_after_a_fast_lane_answer_arriving_late_is_dropped(
        served: tuple[App, int]) -> None:
    # The lane's answer completes the cycle at the head; the body's end (in a later read) is
    # not handed to uvicorn's cycle, and the connection's next request is answered.
    app, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbo")
        (first,) = _read_responses(conn, 1)
        conn.sendall(b"dyGET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        (second,) = _read_responses(conn, 1)
    assert first.endswith(b"hello") and second.endswith(b"hello")
    assert app.asgi_paths == []


def test_regression_a_too_large_head_after_a_fast_lane_answer_is_still_refused(
        served: tuple[App, int]) -> None:
    # The head cap is not checked after a read that completed its request (the lane's usual
    # case); the next request's head is still counted and refused at the cap (64 KiB).
    _, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        (answer,) = _read_responses(conn, 1)
        assert answer.endswith(b"hello")
        conn.sendall(b"GET /hot HTTP/1.1\r\n")
        refused = b""
        try:
            for _ in range(40):  # up to 160 KiB of one header, in reads of its own
                conn.sendall(b"x-filler: " + b"a" * 4096 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while we were still sending
        conn.settimeout(5)
        try:
            while chunk := conn.recv(65536):
                refused += chunk
        except ConnectionResetError:
            pass
    assert refused.startswith(b"HTTP/1.1 431 "), refused[:100]


@pytest.mark.parametrize("request_line, extra", [
    (b"GET /hot?x=1 HTTP/1.1", b""),  # the hot path declines
    (b"GET /unframed HTTP/1.1", b""),  # no content-length: uvicorn frames it
    (b"POST /hot HTTP/1.1", b"Content-Length: 0\r\n"),
    (b"GET /hot HTTP/1.1", b"Expect: 100-continue\r\n"),
])
def test_other_requests_go_through_the_app(served: tuple[App, int], request_line: bytes,
                                           extra: bytes) -> None:
    app, port = served
    with _connect(port) as conn:
        conn.sendall(request_line + b"\r\nHost: x\r\n" + extra + b"\r\n")
        if b"/unframed" in request_line:  # uvicorn sends it chunked
            conn.settimeout(5)
            response = b""
            while not response.endswith(b"0\r\n\r\n"):
                response += conn.recv(65536)
            assert b"transfer-encoding: chunked" in response
        else:
            (response,) = _read_responses(conn, 1)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(app.asgi_paths) == 1


def test_an_escaped_path_is_answered_decoded_as_uvicorn_decodes_it(
        served: tuple[App, int]) -> None:
    """npm asks for scoped packuments as "@s%2fn": the lane decodes the path as uvicorn's
    cycle would (and keeps the raw path), so such reads are answered from memory too."""
    app, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /%68ot HTTP/1.1\r\nHost: x\r\n\r\n")
        (response,) = _read_responses(conn, 1)
    assert response.endswith(b"hello")
    assert app.asgi_paths == []
    assert [(s["path"], s["raw_path"]) for s in app.hot_scopes] == [("/hot", b"/%68ot")]


@pytest.mark.parametrize("request_line", [
    pytest.param(b"GET /h\xc3\xa9t HTTP/1.1", id="non-ascii-path"),
    pytest.param(b"GET /" + b"a" * 100_000 + b" HTTP/1.1", id="100-kB-url"),
    pytest.param(b"GET /hot\x01 HTTP/1.1", id="control-character"),
])
def test_a_malformed_request_gets_uvicorns_400(served: tuple[App, int],
                                               request_line: bytes) -> None:
    app, port = served
    with _connect(port) as conn:
        conn.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        (response,) = _read_responses(conn, 1)
        assert _closed(conn)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert response.endswith(b"\r\n\r\nInvalid HTTP request received.")
    assert app.asgi_paths == [] and app.hot_scopes == []


def test_proxy_headers_apply_on_both_paths(served: tuple[App, int]) -> None:
    app, port = served
    forwarded = b"X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: https\r\n"
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n" + forwarded + b"\r\n"
                     b"GET /cold HTTP/1.1\r\nHost: x\r\n" + forwarded + b"\r\n")
        _read_responses(conn, 2)
    assert app.asgi_paths == ["/cold"]
    lane_scope = app.hot_scopes[0]
    assert (lane_scope["client"][0], lane_scope["scheme"]) == ("10.1.2.3", "https")
    assert app.asgi_clients == [("10.1.2.3", 0)]


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
        served: tuple[App, int]) -> None:
    _, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_responses(conn, 1)
        started = time.monotonic()
        assert _closed(conn)
        assert time.monotonic() - started < 2.5


def _still_open(conn: socket.socket, seconds: float) -> bool:
    """Nothing arrives and the connection stays open for ``seconds``."""
    conn.settimeout(seconds)
    try:
        return conn.recv(1) != b""
    except TimeoutError:
        return True
    except ConnectionResetError:
        return False


def test_the_keep_alive_timeout_counts_from_the_last_answer(served: tuple[App, int]) -> None:
    """The timer armed after the first answer is not moved by the second (it is armed once
    per idle stretch): when due, it finds the connection idle for less than the timeout and
    waits out the rest, so the connection is closed a whole timeout after the last answer."""
    _, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_responses(conn, 1)
        time.sleep(0.7)
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.settimeout(5)
        _read_responses(conn, 1)
        answered = time.monotonic()
        assert _still_open(conn, 0.6)  # 1.3 s after the first answer, 0.6 s after the last
        assert _closed(conn)
        assert 0.9 <= time.monotonic() - answered < 2.5


def test_a_connection_busy_when_its_timer_is_due_is_not_closed(served: tuple[App, int]) -> None:
    """A request still being answered when the timeout of the idle stretch before it ends
    keeps its connection; the timeout starts again from its answer."""
    app, port = served
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_responses(conn, 1)
        time.sleep(0.8)
        conn.sendall(b"GET /slower HTTP/1.1\r\nHost: x\r\n\r\n")  # busy at the 1 s mark
        conn.settimeout(5)
        (response,) = _read_responses(conn, 1)
        answered = time.monotonic()
        assert response.endswith(b"asgi /slower")
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_responses(conn, 1)[0].endswith(b"hello")
        assert _closed(conn)
        assert 0.9 <= time.monotonic() - answered < 2.5
    assert app.asgi_paths == ["/slower"]


def test_find_hot_answer_looks_beneath_the_proxy_headers_middleware() -> None:
    from uvicorn.middleware.message_logger import MessageLoggerMiddleware
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    app = App()
    assert find_hot_answer(app) == (app.hot_answer, None)
    hot, proxy = find_hot_answer(ProxyHeadersMiddleware(app, trusted_hosts="10.0.0.1"))
    assert hot == app.hot_answer
    assert proxy is not None and proxy.app is not app
    scope = {"type": "http", "client": ("10.0.0.1", 5), "scheme": "http",
             "headers": [(b"x-forwarded-for", b"192.0.2.7")]}
    apply_proxy_headers(proxy, scope)
    assert scope["client"] == ("192.0.2.7", 0)
    untrusted = {**scope, "client": ("10.9.9.9", 5)}
    apply_proxy_headers(proxy, untrusted)
    assert untrusted["client"] == ("10.9.9.9", 5)
    assert find_hot_answer(MessageLoggerMiddleware(app)) == (None, None)


def test_response_bytes() -> None:
    server = b"date: D\r\n"
    assert response_bytes(HOT, server, head=False, keep_alive=True) == (
        b'HTTP/1.1 200 OK\r\ndate: D\r\netag: "e1"\r\ncontent-length: 5\r\n'
        b"content-type: text/plain\r\n\r\nhello")
    assert response_bytes(HOT, server, head=True, keep_alive=False).endswith(
        b"content-type: text/plain\r\nconnection: close\r\n\r\n")
    not_modified = Answer(304, [(b"etag", b'"e1"')], b"")
    assert response_bytes(not_modified, b"", head=False, keep_alive=True) == (
        b'HTTP/1.1 304 Not Modified\r\netag: "e1"\r\n\r\n')


def test_the_fast_lane_gives_each_answer_a_request_id() -> None:
    from packyard.http.request_note import RequestIds

    ids = RequestIds()
    lines = [ids.header_line() for _ in range(3)]
    assert len(set(lines)) == 3
    found = [RequestIds.id_of(line) for line in lines]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text
                            or "") for text in found)
    assert found[0] != RequestIds().next()  # another process: another prefix
    assert response_bytes(HOT, b"", head=False, keep_alive=True, request_id_line=lines[0]) == (
        b'HTTP/1.1 200 OK\r\netag: "e1"\r\ncontent-length: 5\r\n'
        b"content-type: text/plain\r\nx-amzn-requestid: " + found[0].encode() +
        b"\r\n\r\nhello")


def test_answers_from_the_lane_are_access_logged_like_uvicorns(
        served: tuple[App, int], caplog: pytest.LogCaptureFixture) -> None:
    app, port = served
    caplog.set_level("INFO", logger="uvicorn.access")
    with _connect(port) as conn:
        conn.sendall(b"GET /hot HTTP/1.1\r\nHost: x\r\n\r\nGET /cold HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_responses(conn, 2)
    assert app.asgi_paths == ["/cold"]
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert [line.split(" - ", 1)[1] for line in lines] == [
        '"GET /hot HTTP/1.1" 200', '"GET /cold HTTP/1.1" 200']


def test_log_records_outside_a_request_say_so() -> None:
    import logging

    from packyard.http.request_note import bind_request_id, release_request_id
    from packyard.server.log_context import install_request_ids

    install_request_ids()
    install_request_ids()  # idempotent
    outside = logging.getLogger("packyard.test").makeRecord(
        "packyard.test", logging.INFO, __file__, 1, "x", (), None)
    token = bind_request_id("rid-1")
    try:
        inside = logging.getLogger("packyard.test").makeRecord(
            "packyard.test", logging.INFO, __file__, 1, "x", (), None)
    finally:
        release_request_id(token)
    assert (outside.request_id, inside.request_id) == ("-", "rid-1")


def test_a_first_read_made_without_waiting_is_written_and_counted_as_the_apps() -> None:
    app = FirstReadApp()
    with _serving(app) as port, _connect(port) as conn:
        conn.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /hot HTTP/1.1\r\nHost: x\r\n\r\n")
        first, hot = _read_responses(conn, 2)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\nfirst")
    request_id = re.search(rb"x-amzn-requestid: (\S+)\r\n", first)
    assert request_id is not None
    # Counted once, as the app counts first reads (under their operation), not as a hot answer.
    assert app.first_sent == [(request_id.group(1).decode(), 200, 5)]
    assert app.observer.traffic.fast_lane_answers == 1  # the /hot one
    assert hot.endswith(b"hello") and app.asgi_paths == []


def test_find_first_answer_needs_both_halves() -> None:
    app = FirstReadApp()
    assert find_first_answer(app) == (app.first_answer_now, app.first_answer_sent)
    assert find_first_answer(App()) == (None, None)
