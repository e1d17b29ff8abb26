"""Deadlines and the connection cap of ``packyard serve`` (server_limits.py), with raw sockets.

Each test starts a server with the limit under test shortened to about a second, plays the
client that stalls, and checks the connection is answered and closed in time, and that clients
that keep moving are not cut off.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import ServerFactory
from tests.integration.conftest import _start as start_server
from tests.integration.helpers import (
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    unique_name,
    upload,
    upload_ok,
)

_BOUNDARY = "packyard-limits-boundary"


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when that was."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the connection was still open after {within} s; got {data[:200]!r}")
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


@pytest.fixture(scope="module")
def short_deadlines(tmp_path_factory: pytest.TempPathFactory,
                    _server_registry: list[ServerProcess]) -> Iterator[ServerProcess]:
    """One server for the module, its head and body deadlines shortened to a second."""
    srv = start_server(_server_registry, tmp_path_factory.mktemp("short-deadlines") / "data",
                       {"PACKYARD_HEADER_TIMEOUT_SECONDS": "1",
                        "PACKYARD_BODY_TIMEOUT_SECONDS": "1"})
    yield srv
    srv.stop()


# ------------------------------------------------------------------ the request head


def test_half_a_request_line_is_closed_after_the_header_deadline(
        short_deadlines: ServerProcess) -> None:
    with _connect(short_deadlines) as sock:
        sock.sendall(b"GET /hea")
        data, elapsed = _until_closed(sock, within=10)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
    assert data.endswith(b"The request head did not arrive in time\n"), data
    assert 0.9 <= elapsed < 3.5, elapsed


def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(
        short_deadlines: ServerProcess) -> None:
    with _connect(short_deadlines) as sock:
        data, elapsed = _until_closed(sock, within=10)
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert elapsed < 3.5, elapsed


def test_trickling_a_request_head_does_not_extend_its_deadline(
        short_deadlines: ServerProcess) -> None:
    with _connect(short_deadlines) as sock:
        started = time.monotonic()
        try:
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, _ = _until_closed(sock, within=10)
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert elapsed < 3.5, elapsed


def _one_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_keep_alive_connection_gets_a_new_head_deadline_for_each_request(
        short_deadlines: ServerProcess) -> None:
    with _connect(short_deadlines) as sock:
        for _ in range(3):
            time.sleep(0.6)  # less than the head deadline and uvicorn's 5 s keep-alive
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _one_response(sock).startswith(b"HTTP/1.1 200 OK\r\n")


def test_regression_a_huge_request_head_is_refused_431_instead_of_stalling_the_worker(
        short_deadlines: ServerProcess) -> None:
    # One client sent 100 MB of a single header within the head deadline; httptools gathered
    # it by concatenation and the worker's event loop answered nothing else for ~20 s.
    with _connect(short_deadlines) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 50_000_000:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, _ = _until_closed(sock, within=10)
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), data[:200]
    assert data.endswith(b"The request head is too large\n"), data
    assert sent < 10_000_000, sent  # refused as soon as the cap passed, not at the deadline
    assert elapsed < 3.5, elapsed


def test_a_request_head_under_the_cap_is_served_and_the_next_one_is_counted_afresh(
        short_deadlines: ServerProcess) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 50_000 + b"\r\n\r\n"
    with _connect(short_deadlines) as sock:
        for _ in range(3):  # 150 KB on one connection, each head under 64 KiB
            sock.sendall(head)
            assert _one_response(sock).startswith(b"HTTP/1.1 200 OK\r\n")


# ------------------------------------------------------------------ the request body


def _upload_parts(repo: PypiRepo, dist: Dist) -> tuple[bytes, bytes, bytes]:
    """An upload as raw bytes: head (with Content-Length), form with the file, closing line."""
    form = b"".join(f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                    f"{value}\r\n".encode() for key, value in dist.form_fields().items()
                    if isinstance(value, str))
    form += (f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
             f'filename="{dist.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
             ).encode() + dist.data
    tail = f"\r\n--{_BOUNDARY}--\r\n".encode()
    url = urlsplit(repo.endpoint)
    credentials = base64.b64encode(f"aws:{repo.token}".encode()).decode()
    head = (f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Basic {credentials}\r\n"
            f"Content-Type: multipart/form-data; boundary={_BOUNDARY}\r\n"
            f"Content-Length: {len(form) + len(tail)}\r\n\r\n").encode()
    return head, form, tail


def _staging(server: ServerProcess) -> list[Path]:
    return list((server.data_dir / "blobs" / ".staging").iterdir())


def test_a_stalled_upload_body_is_cut_off_and_nothing_is_left_staged(
        short_deadlines: ServerProcess, dists: DistFactory) -> None:
    repo = create_pypi_repo(codeartifact_client(short_deadlines.url), short_deadlines.url,
                            "stall")
    dist = dists.wheel(DistSpec(name=unique_name("stall"), version="1.0", padding=512 * 1024))
    head, form, _ = _upload_parts(repo, dist)
    with _connect(short_deadlines) as sock:
        sock.sendall(head + form[: len(form) // 2])  # then nothing more
        data, elapsed = _until_closed(sock, within=10)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
    assert data.endswith(b"The request body stopped arriving\n"), data
    assert elapsed < 3.5, elapsed
    deadline = time.monotonic() + 5
    while _staging(short_deadlines):
        assert time.monotonic() < deadline, "the stalled upload's staging file stayed"
        time.sleep(0.05)
    upload_ok(repo, dist)  # and its place among the uploads was given back


def test_a_slow_body_that_keeps_moving_is_not_cut_off(short_deadlines: ServerProcess,
                                                      dists: DistFactory) -> None:
    repo = create_pypi_repo(codeartifact_client(short_deadlines.url), short_deadlines.url,
                            "slow")
    dist = dists.wheel(DistSpec(name=unique_name("slow"), version="1.0", padding=64 * 1024))
    head, form, tail = _upload_parts(repo, dist)
    body = form + tail
    pieces = 8
    step = len(body) // pieces + 1
    with _connect(short_deadlines) as sock:
        sock.sendall(head)
        for start in range(0, len(body), step):  # about 4 s in all, half a second per piece
            time.sleep(0.5)
            sock.sendall(body[start:start + step])
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer


def test_an_early_answer_closes_the_connection_instead_of_reading_the_whole_body(
        server: ServerProcess, pypi_repo: PypiRepo) -> None:
    # Unauthenticated: refused at the head. uvicorn alone would read the whole declared body
    # (a TiB: more than this test could send) to drop it.
    url = urlsplit(pypi_repo.endpoint)
    head = (f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: multipart/form-data; boundary={_BOUNDARY}\r\n"
            f"Content-Length: {1024 ** 4}\r\n\r\n").encode()
    with _connect(server) as sock:
        sock.sendall(head)
        sock.settimeout(5)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 401 ")
        # Said, so that no client or proxy sends another request into it meanwhile.
        head = answer.partition(b"\r\n\r\n")[0].lower()
        assert b"\r\nconnection: close\r\n" in head + b"\r\n"
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):  # noqa: PT012
            while time.monotonic() - started < 15:
                sock.sendall(b"\0" * 65536)
        assert time.monotonic() - started < 6


def test_regression_an_early_answer_says_connection_close(
        server: ServerProcess, pypi_repo: PypiRepo, dists: DistFactory) -> None:
    # A refused upload: the server closes that connection after a short linger, so the answer
    # says so. Without it a client or proxy that pools connections could send its next request
    # into the closing one (httpx notices the half-close first; a proxy's pool may not).
    # Larger than what the server reads ahead of an app that has not asked for the body.
    dist = dists.wheel(DistSpec(name=unique_name("early"), version="1.0",
                                padding=4 * 1024 * 1024))
    with httpx.Client(auth=("aws", "not-a-token"), timeout=10, trust_env=False) as http:
        refused = upload(pypi_repo, dist, client=http)
        assert refused.status_code == 401
        assert refused.headers.get("connection") == "close"
        started = time.monotonic()
        assert http.get(f"{server.url}/health").status_code == 200
        assert time.monotonic() - started < 1  # not waiting out the refused one's linger
    # A request whose body was read keeps its connection.
    with pypi_repo.client() as http:
        kept = upload(pypi_repo, dist, client=http)
        assert kept.status_code == 200 and "connection" not in kept.headers


# ------------------------------------------------------------------ the connection cap


@contextmanager
def _idle_connections(server: ServerProcess, count: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        yield [stack.enter_context(_connect(server)) for _ in range(count)]


def test_connections_past_the_limit_are_refused_at_once(server_factory: ServerFactory) -> None:
    srv = server_factory(env={"PACKYARD_MAX_CONNECTIONS": "5"})
    with _idle_connections(srv, 5):
        time.sleep(0.2)  # accepted, and counted
        with _connect(srv) as extra:
            data, elapsed = _until_closed(extra, within=5)
        assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), data
        assert b"retry-after: 1" in data
        assert elapsed < 1
    # Once they are gone, requests are served again.
    deadline = time.monotonic() + 5
    while True:
        try:
            response = httpx.get(f"{srv.url}/health", timeout=5, trust_env=False)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            break
        assert time.monotonic() < deadline, "requests were still refused"
        time.sleep(0.1)
    assert "refusing connections: 5 open, the limit is 5" in srv.log_text()
