"""The access log and request ids under a real ``packyard serve``: answers the server's fast lane
writes from memory get an id and a line too."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    PypiRepo,
    codeartifact_client,
    create_pypi_repo,
    upload_ok,
)


def test_fast_lane_answers_have_ids_and_access_log_lines(server_factory: Any, tmp_path: Path,
                                                         dists: DistFactory) -> None:
    log = tmp_path / "access.jsonl"
    server = server_factory(env={"PACKYARD_ACCESS_LOG": str(log)})
    repo = create_pypi_repo(codeartifact_client(server.url), server.url, "logged")
    upload_ok(repo, dists.wheel(DistSpec(name="logged-pkg", version="1.0")))
    with repo.client() as http:
        answers = [http.get(repo.project_url("logged-pkg")) for _ in range(3)]
    ids = [answer.headers["x-amzn-requestid"] for answer in answers]
    assert len(set(ids)) == 3
    lines = _lines_for(log, ids)
    assert all(request_id in lines for request_id in ids)
    assert any(lines[request_id].get("fastLane") for request_id in ids[1:])
    assert repo.token not in log.read_text()

    # The server's own log lines name the request they were written for.
    api = codeartifact_client(server.url)
    with pytest.raises(ClientError) as info:
        api.describe_domain(domain="nowhere")
    request_id = info.value.response["ResponseMetadata"]["RequestId"]
    assert f"[{request_id}]: DescribeDomain refused" in server.log_text()


def _lines_for(log: Path, ids: list[str], timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The log's lines by request id, once every id in ``ids`` has one (or the deadline passed).

    A request-cycle answer's line is written after its last byte was sent (its duration counts
    the sending), so the client can hold the answer a moment before the line is in the file."""
    deadline = time.monotonic() + timeout
    while True:
        # Only whole lines: one may be in the middle of its write.
        lines = {line["requestId"]: line
                 for line in map(json.loads, log.read_text().split("\n")[:-1])}
        if all(request_id in lines for request_id in ids) or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def _abandoned_download(url: str, auth: tuple[str, str], keep: int) -> str:
    """GET ``url``, read ``keep`` bytes of the answer and reset the connection, as a client
    killed mid-download does; the answer's request id."""
    import base64
    import socket
    import struct
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     f"Authorization: Basic {credentials}\r\n\r\n".encode())
        got = b""
        while len(got) < keep:
            got += sock.recv(65536)
        # Closing with unread bytes and no linger resets the connection at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    head = got.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                if line.lower().startswith("x-amzn-requestid:"))


def _large_file(server_factory: Any, log: Path, dists: DistFactory, encryption: str,
                name: str) -> tuple[Any, PypiRepo, str, int]:
    """A server logging to ``log``, with a 64 MiB wheel published in repository ``name``: the
    server, the repository, the wheel's URL and its length."""
    server = server_factory(env={"PACKYARD_ACCESS_LOG": str(log),
                                 "PACKYARD_ENCRYPTION": encryption})
    repo = create_pypi_repo(codeartifact_client(server.url), server.url, name)
    wheel = dists.wheel(DistSpec(name=f"{name}-download", version="1.0",
                                 padding=64 * 1024 * 1024))
    upload_ok(repo, wheel)
    return server, repo, repo.project_url(f"{name}-download") + wheel.path.name, \
        wheel.path.stat().st_size


@pytest.mark.parametrize("encryption", ["on", "off"])
def test_regression_a_download_the_client_abandons_logs_the_bytes_sent_not_the_files_size(
        server_factory: Any, tmp_path: Path, dists: DistFactory, encryption: str) -> None:
    """A client that went away a few MB into a large download was logged with the whole
    file as bytesOut (uvicorn drops what is sent after a disconnect without a word); with
    encryption off a whole download was logged with bytesOut 0 (a file sent by its path was
    not counted at all). Each now counts what went out on the connection."""
    log = tmp_path / "access.jsonl"
    _, repo, url, length = _large_file(server_factory, log, dists, encryption, "big")

    abandoned = _abandoned_download(url, repo.auth, 1024 * 1024)
    with repo.client() as http:
        whole = http.get(url)
    assert whole.status_code == 200 and len(whole.content) == length

    lines = _lines_for(log, [abandoned, whole.headers["x-amzn-requestid"]])
    assert lines[whole.headers["x-amzn-requestid"]]["bytesOut"] == length
    cut = lines[abandoned]
    assert cut["status"] == 200
    # What reached the client (the MiB read, less the head), and what the kernel's buffers
    # took before the reset.
    assert 1024 * 1024 - 4096 <= cut["bytesOut"] < length // 2, cut


def _bytes_read(pid: int) -> int:
    """What the process has read through read(2) and pread(2) so far (``/proc/PID/io``)."""
    text = Path(f"/proc/{pid}/io").read_text()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar:")))


def test_regression_an_abandoned_encrypted_download_was_read_and_decrypted_to_its_end(
        server_factory: Any, tmp_path: Path, dists: DistFactory) -> None:
    """A client that went away 1 MiB into a 64 MiB encrypted download had the server read and
    decrypt the other 63 MiB for nobody (uvicorn drops what is sent after a disconnect, the
    application is not told): a few such downloads kept a core busy. The answer now stops
    reading once a piece could not be sent."""
    log = tmp_path / "access.jsonl"
    server, repo, url, length = _large_file(server_factory, log, dists, "on", "abandoned")
    assert server.proc is not None

    before = _bytes_read(server.proc.pid)
    abandoned = _abandoned_download(url, repo.auth, 1024 * 1024)
    cut = _lines_for(log, [abandoned])[abandoned]  # written once the answer has returned
    read = _bytes_read(server.proc.pid) - before
    assert cut["status"] == 200 and cut["bytesOut"] < length // 2, cut
    # The piece the client took, what the kernel's buffers held and one read ahead; the whole
    # file (64 MiB and more) before.
    assert read < length // 4, read

    # A download that stays to the end is whole.
    with repo.client() as http:
        whole = http.get(url)
    assert whole.status_code == 200 and len(whole.content) == length
