"""Uploads are refused before their body is stored: without publish rights, past the
concurrency limit, or when the disk would keep less than its reserve.

A raw socket plays the client that sends the head of a large upload and then waits: the answer
must come before the body does, with nothing written to the staging area.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import httpx

from tests.integration.conftest import ServerFactory
from tests.integration.helpers import (
    DEFAULT_REGION,
    ClientHome,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    run,
    tool,
    unique_name,
    upload,
    upload_ok,
)

_BOUNDARY = "packyard-test-boundary-7d1f"
_DECLARED_FILE_BYTES = 1024 * 1024 * 1024  # what the head announces; never sent in full


def _staging(server: ServerProcess) -> list[Path]:
    return sorted((server.data_dir / "blobs" / ".staging").iterdir())


@contextmanager
def _upload_head(repo: PypiRepo, token: str, project: str) -> Iterator[socket.socket]:
    """A connection that has sent an upload's head, its form fields (``name`` first, as twine
    sends them) and the first MiB of a 1 GiB file, and sends no more."""
    fields = {":action": "file_upload", "protocol_version": "1", "name": project,
              "version": "1.0", "filetype": "bdist_wheel", "pyversion": "py3",
              "metadata_version": "2.1"}
    form = b"".join(f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                    f"{value}\r\n".encode() for key, value in fields.items())
    form += (f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
             f'filename="{project.replace("-", "_")}-1.0-py3-none-any.whl"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{_BOUNDARY}--\r\n".encode()
    url = urlsplit(repo.endpoint)
    credentials = base64.b64encode(f"aws:{token}".encode()).decode()
    head = (f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Basic {credentials}\r\n"
            f"Content-Type: multipart/form-data; boundary={_BOUNDARY}\r\n"
            f"Content-Length: {len(form) + _DECLARED_FILE_BYTES + len(tail)}\r\n\r\n").encode()
    sock = socket.create_connection((url.hostname, url.port or 80), timeout=10)
    try:
        sock.sendall(head + form + b"\0" * (1024 * 1024))
        yield sock
    finally:
        sock.close()


def _read_response(sock: socket.socket, within: float) -> bytes:
    """What the server answered within ``within`` seconds (at least its status line)."""
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    return data


def _iam(server: ServerProcess) -> Any:
    return boto3.session.Session(
        aws_access_key_id="AKIAPACKYARDTESTROOT",
        aws_secret_access_key="packyard-integration-test-secret-key-0001",
        region_name=DEFAULT_REGION).client(
            "iam", endpoint_url=server.url,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def _read_only_token(server: ServerProcess, domain: str) -> str:
    iam = _iam(server)
    name = unique_name("reader")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name,
                           PolicyArn="arn:aws:iam::aws:policy/AWSCodeArtifactReadOnlyAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    reader = boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                   aws_secret_access_key=key["SecretAccessKey"],
                                   region_name=DEFAULT_REGION).client(
        "codeartifact", endpoint_url=server.url)
    token: str = reader.get_authorization_token(domain=domain)["authorizationToken"]
    return token


def test_upload_without_publish_rights_is_refused_before_the_file_is_stored(
        server: ServerProcess, pypi_repo: PypiRepo) -> None:
    token = _read_only_token(server, pypi_repo.domain)
    before = _staging(server)
    project = unique_name("not-mine")
    with _upload_head(pypi_repo, token, project) as sock:
        started = time.monotonic()
        answer = _read_response(sock, within=5.0)
        elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 403 "), answer[:300]
        assert b"is not authorized to perform: codeartifact:PublishPackageVersion" in answer
        # Answered while 1 GiB of body is still owed, and nothing of it was written.
        assert elapsed < 2.0, f"the refusal took {elapsed:.2f} s"
        assert _staging(server) == before


def test_upload_past_the_concurrency_limit_gets_503_with_retry_after(
        server_factory: ServerFactory, dists: DistFactory) -> None:
    srv = server_factory(env={"PACKYARD_MAX_CONCURRENT_UPLOADS": "1"})
    repo = create_pypi_repo(codeartifact_client(srv.url), srv.url, "busy")
    wheel = dists.wheel(DistSpec(name=unique_name("busy"), version="1.0"))
    with _upload_head(repo, repo.token, unique_name("slow")):
        # The slow upload holds the one place; the server takes it within a moment.
        deadline = time.monotonic() + 10
        while not _staging(srv):
            assert time.monotonic() < deadline, "the first upload never started"
            time.sleep(0.05)
        response = upload(repo, wheel)
        assert response.status_code == 503, response.text
        assert response.headers.get("retry-after") == "5"
        assert response.reason_phrase.startswith("Too many uploads in progress on this server")
    # The place is free again once the slow client is gone.
    deadline = time.monotonic() + 10
    while (response := upload(repo, wheel)).status_code == 503:
        assert time.monotonic() < deadline, "the place of the closed upload was never freed"
        time.sleep(0.1)
    assert response.status_code == 200, response.text
    assert _staging(srv) == []


def test_upload_when_the_disk_is_low_is_refused_with_507(
        server_factory: ServerFactory, dists: DistFactory, fresh_home: ClientHome) -> None:
    srv = server_factory(env={"PACKYARD_MIN_FREE_DISK_BYTES": str(2 ** 60)})
    repo = create_pypi_repo(codeartifact_client(srv.url), srv.url, "disk")
    wheel = dists.wheel(DistSpec(name=unique_name("disk"), version="1.0"))
    response = upload(repo, wheel)
    assert response.status_code == 507, response.text
    assert response.reason_phrase.startswith(
        "Not enough free disk space on the server for this upload"), response.reason_phrase
    assert _staging(srv) == []
    # twine names the status and shows the reason under it.
    fresh_home.pypirc.write_text(
        "[distutils]\nindex-servers =\n    codeartifact\n\n"
        f"[codeartifact]\nrepository: {repo.endpoint}\nusername: aws\npassword: {repo.token}\n")
    proc = run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
                str(wheel.path)], fresh_home.env(), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "507 Insufficient Storage" in out, out
    assert "Not enough free disk space on the server" in out, out


def test_uploads_under_the_limits_still_work(server_factory: ServerFactory,
                                             dists: DistFactory) -> None:
    # Control: a small reserve and one place are enough for uploads one after the other.
    srv = server_factory(env={"PACKYARD_MAX_CONCURRENT_UPLOADS": "1",
                              "PACKYARD_MIN_FREE_DISK_BYTES": str(1024 * 1024)})
    repo = create_pypi_repo(codeartifact_client(srv.url), srv.url, "ok")
    for version in ("1.0", "2.0"):
        upload_ok(repo, dists.wheel(DistSpec(name="limits-ok", version=version)))
    with httpx.Client(trust_env=False) as http:
        assert http.get(f"{srv.url}/health").status_code == 200
