"""Storage: a server killed mid-upload leaves nothing half-visible; assets are stored once per domain."""

from __future__ import annotations

import base64
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.helpers import (
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    files_under,
    normalize,
    upload_ok,
)

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def _multipart(dist: Dist) -> tuple[str, bytes]:
    """The body twine would send for ``dist``, with its boundary."""
    boundary = f"packyard-{secrets.token_hex(8)}"
    parts: list[bytes] = []
    for key, value in dist.form_fields().items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                         f"{item}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
                 f'filename="{dist.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + dist.data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return boundary, b"".join(parts)


def _start_half_upload(repo: PypiRepo, dist: Dist) -> socket.socket:
    """Send the headers and half the body of an upload on a raw socket, and keep it open."""
    boundary, body = _multipart(dist)
    url = httpx.URL(repo.endpoint)
    auth = base64.b64encode(f"aws:{repo.token}".encode()).decode()
    head = (f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Authorization: Basic {auth}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection((str(url.host), int(url.port or 80)), timeout=30)
    sock.sendall(head)
    half = len(body) // 2
    for start in range(0, half, 64 * 1024):
        sock.sendall(body[start:min(start + 64 * 1024, half)])
    return sock


def _wait_for_new_bytes_on_disk(root: Path, before: set[Path], timeout: float = 5.0) -> None:
    """Give the server the chance to stream part of the upload to disk before the kill.

    Where Packyard spools is its business; if no new file shows up under the data directory
    within the timeout the kill still happens, just without that evidence.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p not in before and p.stat().st_size > 0 for p in files_under(root)):
            return
        time.sleep(0.02)


def _assert_no_response_yet(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        early = sock.recv(4096)
    except BlockingIOError:
        return
    raise AssertionError(f"the server answered a half-sent upload: {early[:300]!r}")


def _project_files(repo: PypiRepo, project: str) -> list[dict[str, Any]] | None:
    with repo.client() as http:
        response = http.get(repo.project_url(project), headers={"Accept": JSON_V1})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    files: list[dict[str, Any]] = response.json()["files"]
    return files


def _moved(repo: PypiRepo, server: ServerProcess) -> PypiRepo:
    """The same repository, reached through a restarted server on another port."""
    path = repo.endpoint.removeprefix(repo.server_url)
    return PypiRepo(server.url, repo.domain, repo.repository, server.url + path, repo.token)


def test_kill_during_upload_leaves_nothing_visible(server_factory: Any,
                                                  dists: DistFactory) -> None:
    first = server_factory()
    api = codeartifact_client(first.url)
    repo = create_pypi_repo(api, first.url, "crash")
    big = dists.wheel(DistSpec(name="crash-pkg", version="1.0", padding=8_000_000))
    before = set(files_under(first.data_dir))

    sock = _start_half_upload(repo, big)
    try:
        _wait_for_new_bytes_on_disk(first.data_dir, before)
        _assert_no_response_yet(sock)  # the server is really mid-upload, waiting for the rest
        first.kill()
    finally:
        sock.close()

    second = server_factory(data_dir=first.data_dir)  # must start cleanly on the same data
    api = codeartifact_client(second.url)
    repo = _moved(repo, second)
    assert api.list_packages(domain=repo.domain, repository=repo.repository)["packages"] == []
    assert api.describe_domain(domain=repo.domain)["domain"]["assetSizeBytes"] == 0
    assert _project_files(repo, "crash-pkg") is None
    with repo.client() as http:
        root = http.get(repo.simple_url, headers={"Accept": JSON_V1}).json()
    assert "crash-pkg" not in {normalize(p["name"]) for p in root["projects"]}

    # The complete file uploads fine afterwards and is served intact.
    upload_ok(repo, big)
    [entry] = _project_files(repo, "crash-pkg") or []
    assert entry["hashes"]["sha256"] == big.sha256
    with repo.client() as http:
        assert http.get(repo.project_url("crash-pkg") + big.filename).content == big.data


def test_kill_right_after_an_upload_keeps_it(server_factory: Any, dists: DistFactory) -> None:
    first = server_factory()
    repo = create_pypi_repo(codeartifact_client(first.url), first.url, "durable")
    dist = dists.wheel(DistSpec(name="durable-pkg", version="1.0", padding=100_000))
    upload_ok(repo, dist)  # a 200 means committed: metadata and blob
    first.kill()

    second = server_factory(data_dir=first.data_dir)
    repo = _moved(repo, second)
    with repo.client() as http:
        assert http.get(repo.project_url("durable-pkg") + dist.filename).content == dist.data


def _domain_size(api: Any, domain: str) -> int:
    return int(api.describe_domain(domain=domain)["domain"]["assetSizeBytes"])


def test_identical_file_in_two_repositories_is_counted_once(api: Any, server: ServerProcess,
                                                            dists: DistFactory) -> None:
    first = create_pypi_repo(api, server.url, "dedup")
    second = create_pypi_repo(api, server.url, "dedup", domain=first.domain)
    name = f"dedup-pkg-{secrets.token_hex(3)}"
    wheel, sdist = dists.both(DistSpec(name=name, version="1.0", padding=30_000))

    upload_ok(first, wheel)
    after_first = _domain_size(api, first.domain)
    assert after_first > 0
    upload_ok(second, wheel)
    assert _domain_size(api, first.domain) == after_first, "the second copy was counted"
    upload_ok(second, sdist)
    assert _domain_size(api, first.domain) > after_first


def test_domain_asset_size_is_the_sum_of_its_assets(api: Any, server: ServerProcess,
                                                    dists: DistFactory) -> None:
    # assetSizeBytes counts assets, i.e. what list-package-version-assets reports: the wheel and
    # the sdist, not files derived from them (the PEP 658 .metadata).
    repo = create_pypi_repo(api, server.url, "size")
    wheel, sdist = dists.both(DistSpec(name=f"size-pkg-{secrets.token_hex(3)}", version="1.0"))
    upload_ok(repo, wheel, sdist)
    both = len(wheel.data) + len(sdist.data)
    assets = api.list_package_version_assets(
        domain=repo.domain, repository=repo.repository, format="pypi",
        package=normalize(wheel.spec.name), packageVersion="1.0")["assets"]
    assert sum(a["size"] for a in assets) == both
    assert _domain_size(api, repo.domain) == both


def test_identical_file_in_two_repositories_is_one_blob_on_disk(
        api: Any, server: ServerProcess, dists: DistFactory) -> None:
    first = create_pypi_repo(api, server.url, "blob")
    second = create_pypi_repo(api, server.url, "blob", domain=first.domain)
    wheel = dists.wheel(DistSpec(name=f"blob-pkg-{secrets.token_hex(3)}", version="1.0"))
    upload_ok(first, wheel)
    upload_ok(second, wheel)
    blobs = server.data_dir / "blobs"
    # Blobs are named by the plaintext's sha256 (their bytes are ciphertext: encryption at
    # rest is on by default).
    copies = [p for p in files_under(blobs) if wheel.sha256 in p.name]
    assert len(copies) == 1, f"{len(copies)} copies of the asset under {blobs}: {copies}"


def test_deleting_one_repository_keeps_the_shared_asset(api: Any, server: ServerProcess,
                                                        dists: DistFactory) -> None:
    first = create_pypi_repo(api, server.url, "keep")
    second = create_pypi_repo(api, server.url, "keep", domain=first.domain)
    name = f"keep-pkg-{secrets.token_hex(3)}"
    wheel = dists.wheel(DistSpec(name=name, version="1.0"))
    upload_ok(first, wheel)
    upload_ok(second, wheel)
    size = _domain_size(api, first.domain)
    api.delete_repository(domain=first.domain, repository=first.repository)
    assert _domain_size(api, first.domain) == size, "the asset is still held by a repository"
    with second.client() as http:
        assert http.get(second.project_url(normalize(name)) + wheel.filename).content == wheel.data
