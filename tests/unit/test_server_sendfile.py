"""Files sent by the kernel (``server.sendfile``) through ASGI's ``http.response.pathsend`` and
``http.response.zerocopysend``, which the patched request cycle answers
(``server.response_cycle``).

Against real uvicorn on uvloop with Packyard's protocol, as ``real_server`` runs it: the app is
Starlette's ``FileResponse``, which uses pathsend when the scope offers it, and an app sending
ranges of an open file as the pull-through's spool response does; the server's
count of what it sent with sendfile(2) (``sendfile.stats``) tells which way the bytes went.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http import httptools_impl

from packyard.server import fence, response_cycle, sendfile
from packyard.server.protocol import PackyardHttpProtocol
from tests.unit.real_server import RealServer, needs_write_counts, read_response, serving
from tests.unit.test_server_response_cycle import uvicorn_restored  # noqa: F401 - fixture

SIZE = 24 * 1024 * 1024 + 12345  # more than any socket buffer takes at once


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def _app(path: Path) -> Starlette:
    async def file(_request: Request) -> Response:
        return FileResponse(path, media_type="application/octet-stream")

    async def extensions(request: Request) -> Response:
        return JSONResponse(sorted(request.scope.get("extensions", {})))

    async def body(request: Request) -> Response:
        size = int(request.query_params.get("size", str(SIZE)))
        return Response(path.read_bytes()[:size], media_type="application/octet-stream")

    async def pieces(_request: Request) -> Response:
        data = path.read_bytes()

        async def each() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 512 * 1024):
                yield data[start:start + 512 * 1024]

        return StreamingResponse(each(), media_type="application/octet-stream")

    return Starlette(routes=[Route("/file", file, methods=["GET", "HEAD"]),
                             Route("/body", body, methods=["GET", "HEAD"]),
                             Route("/pieces", pieces),
                             Route("/extensions", extensions),
                             Route("/ranges", _Ranges(path), methods=["GET", "HEAD"])])


class _Ranges:
    """An ASGI app sending ``path`` as ranges of its open descriptor (``?cuts=A,B`` splits it
    there; ``?chunked`` sends no Content-Length; ``?short`` promises more than the file has;
    ``?positioned`` sends the last range without offset or count, from the file's position)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = self.path
        query = dict(pair.partition("=")[::2]
                     for pair in scope["query_string"].decode().split("&") if pair)
        size = path.stat().st_size
        cuts = [int(c) for c in query.get("cuts", "").split(",") if c]
        edges = [0, *cuts, size]
        headers = [(b"content-type", b"application/octet-stream")]
        if "chunked" not in query:
            promised = size + (10 if "short" in query else 0)
            headers.append((b"content-length", str(promised).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with path.open("rb") as file:
            for index, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
                last = index == len(edges) - 2
                message: dict[str, Any] = {"type": "http.response.zerocopysend", "file": file,
                                           "offset": start, "count": end - start,
                                           "more_body": not last}
                if last and "positioned" in query:
                    file.seek(start)
                    del message["offset"], message["count"]
                elif last and "short" in query:
                    message["count"] += 10
                await send(message)


@pytest.fixture
def patched(uvicorn_restored: None, big_file: Path) -> Iterator[RealServer]:  # noqa: F811
    needs_write_counts()
    fence.install()
    with serving(_app(big_file), PackyardHttpProtocol) as server:
        yield server


def _get(server: RealServer, request: bytes, way: str = "bytes") -> tuple[bytes, bytes, int]:
    """The response's head and body, and how many bytes of it went the ``way`` counted in
    ``sendfile.stats``: by sendfile (``bytes``), or written on the socket directly
    (``written``)."""
    with server.connect() as conn:
        before = getattr(sendfile.stats, way)
        conn.sendall(request)
        response = read_response(conn, head=request.startswith(b"HEAD"))
        head, _, body = response.partition(b"\r\n\r\n")
        return head, body, getattr(sendfile.stats, way) - before


def test_a_whole_file_is_sent_by_the_kernel(patched: RealServer, big_file: Path) -> None:
    head, body, by_kernel = _get(patched, b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == big_file.read_bytes()
    assert by_kernel == SIZE


def test_the_connection_is_kept_alive_after_a_sent_file(patched: RealServer,
                                                        big_file: Path) -> None:
    data = big_file.read_bytes()
    with patched.connect() as conn:
        for _ in range(2):
            conn.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn).partition(b"\r\n\r\n")[2] == data


def test_head_and_ranges_go_the_ordinary_way(patched: RealServer, big_file: Path) -> None:
    head, body, by_kernel = _get(patched, b"HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"content-length: {SIZE}".encode() in head
    assert (body, by_kernel) == (b"", 0)
    head, body, by_kernel = _get(
        patched, b"GET /file HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206")
    assert (body, by_kernel) == (big_file.read_bytes()[10:20], 0)


@pytest.mark.parametrize("path", [b"/file", b"/body", b"/ranges?cuts=70000"],
                         ids=["sendfile", "socket write", "zerocopysend"])
def test_a_client_that_goes_away_mid_body_leaves_the_server_serving(
        patched: RealServer, big_file: Path, path: bytes) -> None:
    conn = patched.connect()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    # A reset, not a FIN: the server's next write fails at once.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
    _, body, _ = _get(patched, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert body == big_file.read_bytes()


def test_the_extension_is_offered_only_where_the_cycle_answers_it(
        uvicorn_restored: None, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        big_file: Path) -> None:
    """uvicorn's cycle left unpatched (not what the patch knows): no pathsend in the scope, and
    files still go out whole, read in pieces."""
    needs_write_counts()
    original = httptools_impl.RequestResponseCycle.send

    async def send(self: Any, message: Any, *more: Any) -> None:
        await original(self, message)

    monkeypatch.setattr(httptools_impl.RequestResponseCycle, "send", send)
    fence.install()
    assert not response_cycle.pathsend_ready(httptools_impl.RequestResponseCycle)
    with serving(_app(big_file), PackyardHttpProtocol) as server:
        _, offered, _ = _get(server, b"GET /extensions HTTP/1.1\r\nHost: x\r\n\r\n")
        assert offered == b"[]"
        _, body, by_kernel = _get(server, b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        assert body == big_file.read_bytes() and by_kernel == 0


def test_the_patched_cycle_offers_the_extension(patched: RealServer) -> None:
    _, offered, _ = _get(patched, b"GET /extensions HTTP/1.1\r\nHost: x\r\n\r\n")
    assert offered == b'["http.response.pathsend","http.response.zerocopysend"]'


def test_ranges_of_an_open_file_are_sent_by_the_kernel(patched: RealServer,
                                                      big_file: Path) -> None:
    """What a file still arriving from an upstream is sent as (``SpoolResponse``): each range
    as the download releases it, then the end of the body; the connection stays usable."""
    cuts = b"1,65536,9000000"
    head, body, by_kernel = _get(patched, b"GET /ranges?cuts=" + cuts + b" HTTP/1.1\r\n"
                                 b"Host: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"content-length: {SIZE}".encode() in head
    assert body == big_file.read_bytes()
    assert by_kernel == SIZE
    data = big_file.read_bytes()
    with patched.connect() as conn:
        for _ in range(2):
            conn.sendall(b"GET /ranges?cuts=" + cuts + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn).partition(b"\r\n\r\n")[2] == data


def test_a_range_without_offset_or_count_is_the_rest_from_the_files_position(
        patched: RealServer, big_file: Path) -> None:
    _, body, by_kernel = _get(patched, b"GET /ranges?cuts=1000&positioned HTTP/1.1\r\n"
                              b"Host: x\r\n\r\n")
    assert body == big_file.read_bytes()
    assert by_kernel == SIZE


def test_ranges_of_a_chunked_answer_go_in_pieces(patched: RealServer, big_file: Path) -> None:
    """Without a Content-Length the body is chunked, and raw bytes from the kernel would break
    the framing: the ranges are read and sent as ordinary pieces."""
    before = sendfile.stats.bytes
    head, unchunked = _get_chunked(patched, b"GET /ranges?cuts=70000&chunked HTTP/1.1\r\n"
                                   b"Host: x\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert sendfile.stats.bytes == before
    assert unchunked == big_file.read_bytes()


def test_a_head_answer_sends_no_ranges(patched: RealServer) -> None:
    head, body, by_kernel = _get(patched, b"HEAD /ranges?cuts=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"content-length: {SIZE}".encode() in head
    assert (body, by_kernel) == (b"", 0)


def test_a_file_shorter_than_its_range_cuts_the_answer_short(patched: RealServer) -> None:
    """The answer promised bytes the file does not have: the connection is closed before the
    promised length, so the client cannot take the answer for whole."""
    with patched.connect() as conn:
        conn.sendall(b"GET /ranges?cuts=4096&short HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.settimeout(30)
        received = b""
        while chunk := conn.recv(1 << 20):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert f"content-length: {SIZE + 10}".encode() in head
    assert len(body) == SIZE  # all the file has, then the close


def _get_chunked(server: RealServer, request: bytes) -> tuple[bytes, bytes]:
    """A chunked response's head and its body unchunked."""
    with server.connect() as conn:
        conn.sendall(request)
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = conn.recv(1 << 20)
            assert chunk, "connection closed mid-response"
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    body = bytearray()
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return head, bytes(body)
        body += rest[:size]
        rest = rest[size + 2:]


def test_a_large_piece_of_a_body_is_written_on_the_socket_itself(patched: RealServer,
                                                                  big_file: Path) -> None:
    """What an encrypted download's decrypted mebibytes take: the socket written directly,
    the interpreter lock let go while the kernel copies (the transport's write keeps it), so
    the next piece is decrypted meanwhile; the connection stays usable."""
    head, body, direct = _get(patched, b"GET /body HTTP/1.1\r\nHost: x\r\n\r\n", "written")
    assert head.startswith(b"HTTP/1.1 200") and body == big_file.read_bytes()
    assert direct == SIZE
    with patched.connect() as conn:
        for _ in range(2):
            conn.sendall(b"GET /body HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn).partition(b"\r\n\r\n")[2] == big_file.read_bytes()


def test_small_pieces_heads_and_chunked_bodies_go_through_the_transport(
        patched: RealServer, big_file: Path) -> None:
    _, body, direct = _get(patched, b"GET /body?size=1000 HTTP/1.1\r\nHost: x\r\n\r\n", "written")
    assert (body, direct) == (big_file.read_bytes()[:1000], 0)
    head, body, direct = _get(patched, b"HEAD /body HTTP/1.1\r\nHost: x\r\n\r\n", "written")
    assert f"content-length: {SIZE}".encode() in head and (body, direct) == (b"", 0)
    before = sendfile.stats.written
    head, body = _get_chunked(patched, b"GET /pieces HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower() and body == big_file.read_bytes()
    assert sendfile.stats.written == before

