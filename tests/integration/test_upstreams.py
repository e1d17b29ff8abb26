"""Upstream repositories and external connections, with two real servers.

The upstream is a small static PEP 691/503 index this module serves on 127.0.0.1 (it counts
every request it gets and can be stopped); the Packyard under test is a real ``packyard serve``
whose ``public:pypi`` external connection points at it. pip, uv, twine-style uploads and the AWS
CLI drive the chain the way the README's recommended layout sets it up: a team repository whose
upstream is a store repository holding the external connection.

``PACKYARD_TEST_INTERNET=1`` also runs one test against the real pypi.org, with the default
settings (``PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED`` is passed on where set, for a DNS that
answers its file host with an internal address).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import socket
import sqlite3
import threading
import time
import tomllib
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from packyard.crypto.stream import LAYOUT
from tests.integration.conftest import ServerFactory
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    DESCRIBED_METADATA,
    AwsCli,
    ClientHome,
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    build_sdist,
    codeartifact_client,
    create_pypi_repo,
    described_info,
    free_port,
    make_venv,
    normalize,
    run,
    tool,
    unique_name,
    upload,
    upload_ok,
    wheel_from_installed,
)

JSON_V1 = "application/vnd.pypi.simple.v1+json"
# Read at import: the suite's fixtures clear PACKYARD_* from the environment of the tests.
INTERNET = os.environ.get("PACKYARD_TEST_INTERNET") == "1"
# Where DNS answers pypi.org's file host with an internal address (a proxy's fake IPs).
INTERNAL_NETWORKS = os.environ.get("PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED", "")


# --------------------------------------------------------------------------- the upstream


@dataclass
class _Served:
    data: bytes
    declared_sha256: str
    metadata: bytes | None
    delay_before_body: float = 0.0
    # The bytes sent for the .metadata file, when they are not what the page declares.
    metadata_sent: bytes | None = None
    # The URL the page lists for it, when not the index's own ``../../files/NAME``.
    url: str | None = None
    upload_time: str | None = None  # PEP 700's upload-time (JSON pages only)
    yanked: bool | str = False  # PEP 592
    # The page's Requires-Python, when it is not the file's own (PyPI's pages can differ).
    requires_python: str | None = None


def _requires_python_attribute(requires_python: str | None) -> str:
    if requires_python is None:
        return ""
    return f' data-requires-python="{html.escape(requires_python)}"'


def _yanked_attribute(yanked: bool | str) -> str:
    if yanked is False:
        return ""
    return ' data-yanked=""' if yanked is True else f' data-yanked="{html.escape(yanked)}"'


@dataclass
class StaticIndex:
    """A PEP 691 JSON / PEP 503 HTML simple index in this process, on 127.0.0.1."""

    html_only: bool = False
    # Answer every request 503 (an upstream in trouble, still accepting connections).
    failing: bool = False
    # While set to an unset event, file bodies are sent only once it is set (a slow download).
    hold: threading.Event | None = None
    # The same for the PEP 658 .metadata files (an upstream slow to send them).
    metadata_hold: threading.Event | None = None
    # While set, a file's body stops after this many bytes and the connection closes (an
    # upstream that goes away in the middle of a file).
    cut_after: int | None = None
    # Answer Range requests for files 206 (as files.pythonhosted.org does) unless this is set.
    ignore_ranges: bool = False
    # Answer HEAD of a file with its length (else 501, as Python's http.server does).
    answers_head: bool = False
    port: int = field(default_factory=free_port)
    projects: dict[str, dict[str, _Served]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    # (path, Range header) of every file request that had one.
    ranges: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def add(self, dist: Dist, *, declared_sha256: str | None = None,
            delay_before_body: float = 0.0, metadata: bytes | None = None,
            metadata_sent: bytes | None = None, url: str | None = None,
            upload_time: str | None = None, yanked: bool | str = False,
            requires_python: str | None = None) -> None:
        """Serve ``dist``; a wheel with its PEP 658 core metadata (``metadata``, declared on
        the page; the wheel's own by default), sent as ``metadata_sent`` when given."""
        if dist.is_wheel and metadata is None:
            with zipfile.ZipFile(dist.path) as zf:
                metadata = next(zf.read(n) for n in zf.namelist()
                                if n.endswith(".dist-info/METADATA"))
        self.projects.setdefault(normalize(dist.spec.name), {})[dist.filename] = _Served(
            dist.data, declared_sha256 or dist.sha256, metadata, delay_before_body,
            metadata_sent, url, upload_time, yanked, requires_python)

    def file_requests(self, filename: str) -> int:
        return self.requests[f"/files/{filename}"]

    def page(self, project: str, json_page: bool) -> tuple[bytes, str]:
        files = self.projects.get(project, {})
        if json_page:
            entries = []
            for name, served in sorted(files.items()):
                entry: dict[str, Any] = {"filename": name,
                                         "url": served.url or f"../../files/{name}",
                                         "hashes": {"sha256": served.declared_sha256},
                                         "size": len(served.data)}
                if served.metadata is not None:
                    entry["core-metadata"] = {
                        "sha256": hashlib.sha256(served.metadata).hexdigest()}
                if served.upload_time is not None:
                    entry["upload-time"] = served.upload_time
                if served.yanked is not False:
                    entry["yanked"] = served.yanked
                if served.requires_python is not None:
                    entry["requires-python"] = served.requires_python
                entries.append(entry)
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": project,
                               "files": entries})
            return body.encode(), JSON_V1
        anchors = "".join(
            f'<a href="{html.escape(served.url or f"../../files/{name}")}'
            f'#sha256={served.declared_sha256}"{_yanked_attribute(served.yanked)}'
            f"{_requires_python_attribute(served.requires_python)}>"
            f"{html.escape(name)}</a><br>\n" for name, served in sorted(files.items()))
        return f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n".encode(), "text/html"

    def start(self) -> StaticIndex:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                with index._lock:
                    index.requests[self.path] += 1
                    if self.headers.get("Range") is not None:
                        index.ranges.append((self.path, self.headers["Range"]))
                if index.failing:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    return
                parts = self.path.strip("/").split("/")
                if parts[0] == "simple" and len(parts) == 2 and parts[1] in index.projects:
                    wants_json = JSON_V1 in (self.headers.get("Accept") or "")
                    body, kind = index.page(parts[1], wants_json and not index.html_only)
                    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self._send(200, body, kind, {"ETag": etag})
                    return
                if parts[0] == "files" and len(parts) == 2:
                    name = parts[1].removesuffix(".metadata")
                    for files in index.projects.values():
                        served = files.get(name)
                        if served is None:
                            continue
                        if parts[1].endswith(".metadata"):
                            if index.metadata_hold is not None:
                                index.metadata_hold.wait(timeout=60)
                            if served.metadata is not None:
                                self._send(200, served.metadata_sent or served.metadata,
                                           "text/plain", {})
                                return
                            break
                        self._send_slowly(served)
                        return
                self._send(404, b"not found\n", "text/plain", {})

            def do_HEAD(self) -> None:  # noqa: N802 - the http.server API
                with index._lock:
                    index.requests["HEAD " + self.path] += 1
                parts = self.path.strip("/").split("/")
                served = next((files[parts[1]] for files in index.projects.values()
                               if len(parts) == 2 and parts[1] in files), None)
                if not index.answers_head or parts[0] != "files" or served is None:
                    self.send_response(501)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(served.data)))
                self.end_headers()

            def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _send_range(self, data: bytes) -> bool:
                """A single ``bytes=`` range answered 206 (or 416); False when not asked."""
                wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
                if index.ignore_ranges or wanted is None or wanted.group(0) == "bytes=-":
                    return False
                first, last = wanted.group(1), wanted.group(2)
                start = int(first) if first else max(len(data) - int(last), 0)
                end = min(int(last) + 1, len(data)) if first and last else len(data)
                if start >= len(data) or (not first and int(last) == 0):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return True
                self.send_response(206)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                self.wfile.write(data[start:end])
                return True

            def _send_slowly(self, served: _Served) -> None:
                if self._send_range(served.data):
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(served.data)))
                self.end_headers()
                time.sleep(served.delay_before_body)
                if index.hold is not None:
                    index.hold.wait(timeout=60)
                step = 256 * 1024
                data = served.data if index.cut_after is None else served.data[:index.cut_after]
                for start in range(0, len(data), step):
                    self.wfile.write(data[start:start + step])
                    self.wfile.flush()
                if index.cut_after is not None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def index() -> Iterator[StaticIndex]:
    upstream = StaticIndex().start()
    yield upstream
    upstream.stop()


# --------------------------------------------------------------------------- the chain


@dataclass
class Chain:
    """A domain with a store repository (external connection public:pypi) and a team
    repository whose upstream is the store: the layout the README recommends."""

    server: ServerProcess
    api: Any
    aws: AwsCli
    home: ClientHome
    domain: str
    store: str
    team: str
    token: str

    def endpoint(self, repository: str | None = None) -> str:
        return (f"{self.server.url}/{self.domain}-{DEFAULT_ACCOUNT}/pypi/"
                f"{repository or self.team}/")

    def index_url(self, repository: str | None = None) -> str:
        scheme, rest = self.endpoint(repository).split("://", 1)
        return f"{scheme}://aws:{self.token}@{rest}simple/"

    def repo(self, repository: str | None = None) -> PypiRepo:
        return PypiRepo(self.server.url, self.domain, repository or self.team,
                        self.endpoint(repository), self.token)

    def http(self) -> httpx.Client:
        return httpx.Client(auth=("aws", self.token), timeout=60, trust_env=False)

    def versions(self, package: str, repository: str | None = None) -> list[dict[str, Any]]:
        out = self.api.list_package_versions(domain=self.domain,
                                             repository=repository or self.team,
                                             format="pypi", package=package)
        return list(out["versions"])

    def packages(self, repository: str | None = None) -> list[str]:
        out = self.api.list_packages(domain=self.domain, repository=repository or self.team)
        return [p["package"] for p in out["packages"]]


def _server(server_factory: ServerFactory, index: StaticIndex, **env: str) -> ServerProcess:
    return server_factory(env={"PACKYARD_PYPI_UPSTREAM_URL": index.url, **env})


def _chain(server: ServerProcess, tmp_path: Path) -> Chain:
    api = codeartifact_client(server.url)
    home = ClientHome(tmp_path / "home")
    domain = unique_name("up")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="pypi-store")
    api.associate_external_connection(domain=domain, repository="pypi-store",
                                      externalConnection="public:pypi")
    api.create_repository(domain=domain, repository="team",
                          upstreams=[{"repositoryName": "pypi-store"}])
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    return Chain(server, api, AwsCli(server.url, home), home, domain, "pypi-store", "team",
                 token)


def _pip_install(chain: Chain, venv: Path, *requirements: str,
                 check: bool = True) -> Any:
    python = make_venv(venv, chain.home)
    return run([tool("pip"), "--python", python, "install", "--no-cache-dir",
                "--index-url", chain.index_url(), *requirements], chain.home.env(),
               check=check)


def _uv_install(chain: Chain, venv: Path, *requirements: str, check: bool = True) -> Any:
    python = make_venv(venv, chain.home)
    return run([tool("uv"), "pip", "install", "--python", python, "--index-url",
                chain.index_url(), *requirements], chain.home.env(), check=check)


def _installed(chain: Chain, venv: Path, module: str) -> str:
    return run([venv / "bin" / "python", "-c", f"import {module} as m; print(m.VALUE)"],
               chain.home.env()).stdout.strip()


# --------------------------------------------------------------------------- the API


def test_upstreams_and_external_connections_through_the_aws_cli(
        server: ServerProcess, session_home: ClientHome) -> None:
    aws = AwsCli(server.url, session_home)
    domain = unique_name("upapi")
    ca = ("codeartifact", "--domain", domain)
    aws.run(*ca[:1], "create-domain", "--domain", domain)
    store = aws.json(ca[0], "create-repository", *ca[1:], "--repository", "store")["repository"]
    assert store["upstreams"] == [] and store["externalConnections"] == []
    linked = aws.json(ca[0], "associate-external-connection", *ca[1:], "--repository", "store",
                      "--external-connection", "public:pypi")["repository"]
    assert linked["externalConnections"] == [{"externalConnectionName": "public:pypi",
                                              "packageFormat": "pypi", "status": "Available"}]
    aws.run(ca[0], "create-repository", *ca[1:], "--repository", "lib")
    team = aws.json(ca[0], "create-repository", *ca[1:], "--repository", "team",
                    "--upstreams", "repositoryName=lib", "repositoryName=store")["repository"]
    assert team["upstreams"] == [{"repositoryName": "lib"}, {"repositoryName": "store"}]
    described = aws.json(ca[0], "describe-repository", *ca[1:], "--repository", "team")
    assert described["repository"]["upstreams"] == team["upstreams"]

    # The order is the priority: update-repository replaces the list.
    updated = aws.json(ca[0], "update-repository", *ca[1:], "--repository", "team",
                       "--upstreams", "repositoryName=store", "repositoryName=lib")
    assert updated["repository"]["upstreams"] == [{"repositoryName": "store"},
                                                  {"repositoryName": "lib"}]

    cycle = aws.fails(ca[0], "update-repository", *ca[1:], "--repository", "store",
                      "--upstreams", "repositoryName=team")
    assert "(ValidationException)" in cycle.stderr
    assert "Upstream repositories cannot form a cycle: store -> team -> store" in cycle.stderr
    missing = aws.fails(ca[0], "create-repository", *ca[1:], "--repository", "other",
                        "--upstreams", "repositoryName=nope")
    assert "(ResourceNotFoundException)" in missing.stderr
    assert f"Upstream repository nope not found in domain {domain}" in missing.stderr
    second = aws.fails(ca[0], "associate-external-connection", *ca[1:], "--repository", "store",
                       "--external-connection", "public:maven-central")
    assert "(ValidationException)" in second.stderr
    assert ("External connection public:maven-central (Maven Central) serves maven packages, "
            "a format this server does not support yet; connections available here: "
            "public:npmjs, public:pypi") in second.stderr
    again = aws.fails(ca[0], "associate-external-connection", *ca[1:], "--repository", "store",
                      "--external-connection", "public:pypi")
    assert "(ConflictException)" in again.stderr

    gone = aws.json(ca[0], "disassociate-external-connection", *ca[1:], "--repository", "store",
                    "--external-connection", "public:pypi")["repository"]
    assert gone["externalConnections"] == []
    not_there = aws.fails(ca[0], "disassociate-external-connection", *ca[1:], "--repository",
                          "store", "--external-connection", "public:pypi")
    assert "(ResourceNotFoundException)" in not_there.stderr
    assert "Repository store has no external connection public:pypi" in not_there.stderr


def test_at_most_ten_upstreams(server: ServerProcess) -> None:
    api = codeartifact_client(server.url)
    domain = unique_name("upmax")
    api.create_domain(domain=domain)
    names = [f"r{i:02d}" for i in range(11)]
    for name in names:
        api.create_repository(domain=domain, repository=name)
    with pytest.raises(api.exceptions.ServiceQuotaExceededException) as err:
        api.create_repository(domain=domain, repository="team",
                              upstreams=[{"repositoryName": n} for n in names])
    assert err.value.response["Error"]["Message"] == (
        "Repository team would have 11 upstream repositories; a repository can have at most 10")
    made = api.create_repository(domain=domain, repository="team",
                                 upstreams=[{"repositoryName": n} for n in names[:10]])
    assert len(made["repository"]["upstreams"]) == 10
    api.update_repository(domain=domain, repository="team", upstreams=[])
    assert api.describe_repository(domain=domain,
                                   repository="team")["repository"]["upstreams"] == []


# --------------------------------------------------------------------------- installing


def test_install_through_the_chain_then_again_with_the_upstream_stopped(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    lib = DistSpec(name=unique_name("up-lib"), version="2.0")
    old_lib = DistSpec(name=lib.name, version="1.0")
    app = DistSpec(name=unique_name("up-app"), version="1.0", requires_dist=(f"{lib.name}>=1",))
    for dist in (*dists.both(lib), dists.wheel(old_lib), dists.wheel(app)):
        index.add(dist)
    # Pages go stale at once, so every page request revalidates (and 304s are exercised).
    server = _server(server_factory, index, PACKYARD_UPSTREAM_PAGE_TTL_SECONDS="0")
    chain = _chain(server, tmp_path)

    _pip_install(chain, tmp_path / "pip1", app.name)
    assert _installed(chain, tmp_path / "pip1", lib.module) == f"{lib.name} 2.0"
    _uv_install(chain, tmp_path / "uv1", app.name)
    assert _installed(chain, tmp_path / "uv1", app.module) == f"{app.name} 1.0"
    pulled = {name: index.file_requests(name)
              for name in (dists.wheel(lib).filename, dists.wheel(app).filename)}
    assert pulled == dict.fromkeys(pulled, 1), "each file is downloaded from upstream once"
    assert index.requests[f"/simple/{normalize(app.name)}/"] > 1, "stale pages are revalidated"

    # What was pulled is kept in team and in the store, with the original hashes and the
    # external connection as origin.
    for repository in ("team", "pypi-store"):
        [version] = chain.versions(normalize(lib.name), repository)
        assert version["version"] == "2.0"
        assert version["origin"] == {"domainEntryPoint": {"externalConnectionName": "public:pypi"},
                                     "originType": "EXTERNAL"}
        assets = chain.api.list_package_version_assets(
            domain=chain.domain, repository=repository, format="pypi",
            package=normalize(lib.name), packageVersion="2.0")["assets"]
        assert [(a["name"], a["hashes"]["SHA-256"]) for a in assets] == [
            (dists.wheel(lib).filename, dists.wheel(lib).sha256)]
    described = chain.aws.json("codeartifact", "describe-package", "--domain", chain.domain,
                               "--repository", "team", "--format", "pypi",
                               "--package", normalize(lib.name))
    assert described["package"]["originConfiguration"] == {
        "restrictions": {"publish": "BLOCK", "upstream": "ALLOW"}}
    version = chain.aws.json("codeartifact", "describe-package-version", "--domain",
                             chain.domain, "--repository", "team", "--format", "pypi",
                             "--package", normalize(app.name), "--package-version", "1.0")
    assert version["packageVersion"]["origin"]["originType"] == "EXTERNAL"
    assert version["packageVersion"]["summary"] == app.summary

    # The upstream goes away: what was installed installs again, from Packyard alone.
    index.stop()
    before = sum(index.requests.values())
    _pip_install(chain, tmp_path / "pip2", app.name)
    assert _installed(chain, tmp_path / "pip2", lib.module) == f"{lib.name} 2.0"
    _uv_install(chain, tmp_path / "uv2", app.name)
    assert _installed(chain, tmp_path / "uv2", app.module) == f"{app.name} 1.0"
    assert sum(index.requests.values()) == before

    # Only what was never fetched fails, and says why.
    never = _pip_install(chain, tmp_path / "pip3", "never-fetched-project", check=False)
    assert never.returncode != 0
    with chain.http() as http:
        response = http.get(f"{chain.endpoint()}simple/never-fetched-project/")
    assert response.status_code == 502
    assert response.text.startswith(f"Upstream {index.url}never-fetched-project/ ")
    assert response.text.strip().endswith(
        "; Packyard has never fetched project never-fetched-project from there, so it has no "
        "copy to serve")


def test_an_html_only_upstream_works_too(server_factory: ServerFactory, dists: DistFactory,
                                         tmp_path: Path) -> None:
    upstream = StaticIndex(html_only=True).start()
    try:
        spec = DistSpec(name=unique_name("up-html"), version="3.1")
        upstream.add(dists.wheel(spec))
        chain = _chain(_server(server_factory, upstream), tmp_path)
        _uv_install(chain, tmp_path / "venv", spec.name)
        assert _installed(chain, tmp_path / "venv", spec.module) == f"{spec.name} 3.1"
    finally:
        upstream.stop()


def test_a_file_from_an_index_without_sizes_is_answered_with_its_length_while_it_arrives(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path) -> None:
    """PEP 503 HTML gives no file sizes: a file streamed while it arrives takes its length
    from the upstream's response, so the client gets a Content-Length (a progress bar, a cut
    it can tell) instead of a chunked body; an upstream that fails before answering is a 502
    with the reason, not a 200 cut short."""
    upstream = StaticIndex(html_only=True).start()
    try:
        spec = DistSpec(name=unique_name("up-len"), version="1.0", padding=4 * 1024 * 1024)
        gone = DistSpec(name=unique_name("up-len-gone"), version="1.0",
                        padding=4 * 1024 * 1024)
        wheel, other = dists.wheel(spec), dists.wheel(gone)
        upstream.add(wheel, delay_before_body=0.5)  # streamed: still arriving when answered
        upstream.add(other)
        chain = _chain(_server(server_factory, upstream), tmp_path)
        with chain.http() as http:
            base = f"{chain.endpoint()}simple/"
            page = http.get(f"{base}{normalize(spec.name)}/")
            assert page.status_code == 200
            with http.stream("GET", f"{base}{normalize(spec.name)}/{wheel.filename}") as got:
                assert got.status_code == 200
                assert got.headers.get("content-length") == str(len(wheel.data))
                assert "transfer-encoding" not in got.headers
                body = got.read()
            assert hashlib.sha256(body).hexdigest() == wheel.sha256

            assert http.get(f"{base}{normalize(gone.name)}/").status_code == 200
            upstream.failing = True
            refused = http.get(f"{base}{normalize(gone.name)}/{other.filename}")
        assert refused.status_code == 502
        assert refused.text.startswith("Upstream ") and other.filename in refused.text
        assert chain.packages("team") == [normalize(spec.name)]
    finally:
        upstream.stop()


def test_regression_a_range_of_a_file_not_kept_is_read_from_the_upstream_or_the_pull_in_flight(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """uv reads a wheel's zip directory with a HEAD and Range requests: the ranges of a file
    not kept are the upstream's (206, nothing pulled or kept); while the file is being pulled,
    a range follows the download instead."""
    spec = DistSpec(name=unique_name("up-range"), version="1.0", padding=8 * 1024 * 1024)
    wheel = dists.wheel(spec)
    index.add(wheel)
    chain = _chain(_server(server_factory, index), tmp_path)
    url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
    size = len(wheel.data)
    with chain.http() as http:
        head = http.head(url)
        assert (head.status_code, head.headers["accept-ranges"],
                head.headers["content-length"]) == (200, "bytes", str(size))
        got = http.get(url, headers={"Range": "bytes=-65536"})
        assert (got.status_code, got.headers["content-range"]) == (
            206, f"bytes {size - 65536}-{size - 1}/{size}")
        assert got.content == wheel.data[-65536:]
    assert index.ranges == [(f"/files/{wheel.filename}", f"bytes={size - 65536}-{size - 1}")]
    assert index.file_requests(wheel.filename) == 1
    assert chain.packages("team") == chain.packages("pypi-store") == []

    index.hold = threading.Event()  # the pull's body waits: ranges asked meanwhile join it

    def get(headers: dict[str, str]) -> httpx.Response:
        with chain.http() as client:
            return client.get(url, headers=headers)

    with ThreadPoolExecutor(3) as pool:
        whole = pool.submit(get, {})
        deadline = time.monotonic() + 30
        while index.file_requests(wheel.filename) < 2:
            assert time.monotonic() < deadline, "the pull never reached the upstream"
            time.sleep(0.01)
        first = pool.submit(get, {"Range": "bytes=100-199"})
        last = pool.submit(get, {"Range": "bytes=-1000"})
        index.hold.set()
        assert whole.result().content == wheel.data
        assert (first.result().status_code, first.result().content) == (206, wheel.data[100:200])
        assert (last.result().status_code, last.result().headers["content-range"],
                last.result().content) == (206, f"bytes {size - 1000}-{size - 1}/{size}",
                                           wheel.data[-1000:])
    assert index.file_requests(wheel.filename) == 2 and len(index.ranges) == 1
    assert chain.packages("team") == [normalize(spec.name)]


def test_regression_a_client_reading_a_large_range_slowly_holds_no_upstream_slot(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """A range of a file not kept was streamed from the upstream as the client read it: a
    client that reads slowly (or not at all) held one of the upstream's concurrency slots for
    as long, and a few of them stopped every pull-through ("Upstream busy"). A large range is
    now answered from a pull (which reads the upstream at its own pace), a small one read
    whole before it is answered."""
    spec = DistSpec(name=unique_name("up-slow"), version="1.0", padding=32 * 1024 * 1024)
    other = DistSpec(name=unique_name("up-other"), version="1.0")
    wheel = dists.wheel(spec)
    index.add(wheel)
    index.add(dists.wheel(other))
    chain = _chain(_server(server_factory, index, PACKYARD_UPSTREAM_MAX_CONCURRENCY="1",
                           PACKYARD_UPSTREAM_READ_TIMEOUT_SECONDS="5"), tmp_path)
    url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
    with chain.http() as slow, chain.http() as http, \
            slow.stream("GET", url, headers={"Range": "bytes=100-"}) as ranged:
        assert ranged.status_code == 206
        # Nothing of the body read yet: the other project's page needs the one slot.
        page = http.get(f"{chain.endpoint()}simple/{normalize(other.name)}/")
        assert page.status_code == 200, page.text
        assert ranged.read() == wheel.data[100:]
    assert index.ranges == []
    assert chain.packages("pypi-store") == [normalize(spec.name)]


@pytest.mark.parametrize("answers_head", [True, False], ids=["head", "range"])
def test_regression_a_head_of_a_file_an_index_gives_no_size_for_has_its_length(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path,
        answers_head: bool) -> None:
    """A HEAD of a file not kept, from an index that declares no sizes (PEP 503 HTML), had no
    Content-Length, so uv read no range of it and downloaded (and Packyard kept) the whole
    file. The length is asked of the upstream (its HEAD; a one-byte range where it answers no
    HEAD), after authorization, and nothing is downloaded or kept."""
    upstream = StaticIndex(html_only=True, answers_head=answers_head).start()
    try:
        spec = DistSpec(name=unique_name("up-head"), version="1.0", padding=2 * 1024 * 1024)
        wheel = dists.wheel(spec)
        upstream.add(wheel)
        chain = _chain(_server(server_factory, upstream), tmp_path)
        url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
        with httpx.Client(trust_env=False, timeout=60) as anonymous:
            assert anonymous.head(url).status_code == 401
        assert not upstream.requests  # nothing asked before authorization
        with chain.http() as http:
            head = http.head(url)
        assert (head.status_code, head.headers.get("content-length"),
                head.headers.get("accept-ranges")) == (200, str(len(wheel.data)), "bytes"), \
            head.text
        assert upstream.ranges == ([] if answers_head else
                                   [(f"/files/{wheel.filename}", "bytes=0-0")])
        assert upstream.requests[f"HEAD /files/{wheel.filename}"] == 1
        assert chain.packages("team") == chain.packages("pypi-store") == []
    finally:
        upstream.stop()


def test_regression_uv_resolving_without_pep_658_metadata_reads_ranges_and_keeps_nothing(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """An index without core metadata: uv reads each wheel's METADATA through Range requests
    (as ``uv pip compile`` against PyPI's torch and jupyter wheels does); Packyard forwards them
    instead of pulling whole wheels it would keep and never install."""
    spec = DistSpec(name=unique_name("up-peek"), version="2.0", padding=4 * 1024 * 1024)
    wheel = dists.wheel(spec)
    index.add(wheel)
    index.projects[normalize(spec.name)][wheel.filename].metadata = None
    chain = _chain(_server(server_factory, index), tmp_path)
    requirements = tmp_path / "requirements.in"
    requirements.write_text(f"{spec.name}\n")
    compiled = run([tool("uv"), "pip", "compile", "--no-cache", "--index-url", chain.index_url(),
                    requirements], chain.home.env())
    assert f"{normalize(spec.name)}==2.0" in compiled.stdout
    assert index.ranges and all(path == f"/files/{wheel.filename}" for path, _ in index.ranges)
    assert chain.packages("team") == chain.packages("pypi-store") == []


def test_regression_uv_against_an_index_without_sizes_or_metadata_keeps_nothing(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path) -> None:
    """With an HTML-only upstream (no sizes, no PEP 658 files), uv's HEAD of a wheel had no
    Content-Length, so uv downloaded the whole wheel (and Packyard pulled and kept it) to read
    its metadata; with the length, uv reads ranges and nothing is kept."""
    upstream = StaticIndex(html_only=True).start()
    try:
        spec = DistSpec(name=unique_name("up-peek-html"), version="2.0",
                        padding=4 * 1024 * 1024)
        wheel = dists.wheel(spec)
        upstream.add(wheel)
        upstream.projects[normalize(spec.name)][wheel.filename].metadata = None
        chain = _chain(_server(server_factory, upstream), tmp_path)
        requirements = tmp_path / "requirements.in"
        requirements.write_text(f"{spec.name}\n")
        compiled = run([tool("uv"), "pip", "compile", "--no-cache", "--index-url",
                        chain.index_url(), requirements], chain.home.env())
        assert f"{normalize(spec.name)}==2.0" in compiled.stdout
        assert chain.packages("team") == chain.packages("pypi-store") == []
        assert len(upstream.ranges) == upstream.file_requests(wheel.filename) >= 2
    finally:
        upstream.stop()


def test_a_uv_project_publishes_locks_and_syncs_through_the_chain(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """What uv users do beyond ``uv pip install``, with the team repository as the project's
    ``[[tool.uv.index]]`` (credentials from ``UV_INDEX_<NAME>_USERNAME``/``_PASSWORD``):
    ``uv publish --index`` (whose check URL then finds the files there), ``uv add``,
    ``uv lock --exclude-newer`` (PEP 700 upload times of uploaded and upstream files),
    ``uv lock --upgrade`` past an upstream's yank, ``uv sync``, ``uv tree``, and ``uv export``
    hashes that ``pip install --require-hashes`` accepts."""
    dep = unique_name("up-uv-dep")
    old, old_sdist = dists.both(DistSpec(name=dep, version="1.0"))
    new, bad = (dists.wheel(DistSpec(name=dep, version=v)) for v in ("2.0", "2.1"))
    index.add(old, upload_time="2020-01-01T00:00:00Z")
    index.add(old_sdist, upload_time="2020-01-01T00:00:01.250000Z")
    index.add(new, upload_time="2023-06-01T12:00:00.5+00:00")
    index.add(bad, upload_time="2023-07-01T00:00:00Z", yanked="broken build")
    chain = _chain(_server(server_factory, index), tmp_path)
    private = unique_name("uv-private")
    wheel, sdist = dists.both(DistSpec(name=private, version="1.0", requires_dist=(dep,)))
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
        'dependencies = []\n\n[[tool.uv.index]]\nname = "packyard"\n'
        f'url = "{chain.endpoint()}simple/"\npublish-url = "{chain.endpoint()}"\n'
        "default = true\n")
    env = chain.home.env(UV_INDEX_PACKYARD_USERNAME="aws",
                         UV_INDEX_PACKYARD_PASSWORD=chain.token)
    del env["UV_NO_CONFIG"]  # the project's [tool.uv] is what is tried here

    def uv(*args: str | Path) -> str:
        done = run([tool("uv"), *args], env, cwd=project)
        return done.stdout + done.stderr

    def locked() -> dict[str, Any]:
        text = (project / "uv.lock").read_text()
        assert chain.token not in text
        return {p["name"]: p for p in tomllib.loads(text)["package"]}

    publish = ("publish", "--index", "packyard", "--trusted-publishing", "never",
               wheel.path, sdist.path)
    uv(*publish)
    assert uv(*publish).count("already exists, skipping") == 2  # found through the check URL
    cutoff = datetime.now(UTC) + timedelta(hours=1)
    uv("add", private)
    packages = locked()
    assert packages[normalize(dep)]["version"] == "2.0"
    served = {d.filename: d for d in (old, old_sdist, new, wheel, sdist)}
    for name in (private, dep):
        entry = packages[normalize(name)]
        assert entry["source"] == {"registry": f"{chain.endpoint()}simple/"}
        for file in [*entry.get("wheels", []), *filter(None, [entry.get("sdist")])]:
            dist = served[file["url"].rsplit("/", 1)[-1]]
            assert file["hash"] == f"sha256:{dist.sha256}"
            assert file["size"] == len(dist.data)
            uploaded = datetime.fromisoformat(file["upload-time"].replace("Z", "+00:00"))
            if name == dep:
                assert uploaded == datetime(2023, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)
            else:
                assert datetime(2024, 1, 1, tzinfo=UTC) < uploaded < cutoff
    # As of 2022: the upstream's 2.0 is newer; the private package is let through by name.
    uv("lock", "--exclude-newer", "2022-01-01T00:00:00Z",
       "--exclude-newer-package", f"{private}={cutoff:%Y-%m-%dT%H:%M:%SZ}")
    packages = locked()
    assert packages[normalize(dep)]["version"] == "1.0"
    assert packages[normalize(dep)]["sdist"]["upload-time"].startswith("2020-01-01T00:00:01.25")
    uv("lock", "--upgrade")
    assert locked()[normalize(dep)]["version"] == "2.0"  # 2.1 is yanked upstream
    uv("sync")
    assert f"{normalize(dep)} v2.0" in uv("tree")
    assert _installed(chain, project / ".venv", normalize(dep).replace("-", "_")) == f"{dep} 2.0"
    requirements = tmp_path / "requirements.txt"
    uv("export", "--format", "requirements-txt", "--no-emit-project", "-o", requirements)
    venv = tmp_path / "hashed"
    run([tool("pip"), "--python", make_venv(venv, chain.home), "install", "--no-cache-dir",
         "--require-hashes", "--index-url", chain.index_url(), "-r", requirements],
        chain.home.env())
    assert _installed(chain, venv, normalize(private).replace("-", "_")) == f"{private} 1.0"


def test_pip_beyond_install_through_the_chain(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """What pip users do beyond ``pip install NAME``, through a team repository and its
    upstream: a name spelled otherwise (``Up_Pip.Private``), extras with markers, a second
    repository as ``--extra-index-url``, an upstream's Requires-Python (on its page, not in
    the file) kept through a pull, ``--pre`` and ``pip index versions``, an upstream's yank
    (installed pinned with pip's warning, passed over otherwise) and ``--no-binary``."""
    tag = unique_name("pip")
    old_name, pre_name, yank_name = (f"up-{tag}-{kind}" for kind in ("old", "pre", "yank"))
    index.add(dists.wheel(DistSpec(name=old_name, version="1.0", requires_python=None)))
    python2_only = dists.wheel(DistSpec(name=old_name, version="2.0", requires_python=None))
    index.add(python2_only, requires_python="<3")
    for version in ("1.0", "2.0b1"):
        index.add(dists.wheel(DistSpec(name=pre_name, version=version)))
    index.add(dists.wheel(DistSpec(name=yank_name, version="1.0")))
    index.add(dists.wheel(DistSpec(name=yank_name, version="1.1")), yanked="broken build")
    chain = _chain(_server(server_factory, index), tmp_path)
    private = f"Up_Pip.Private{tag.replace('-', '_')}"
    upload_ok(chain.repo(), *dists.both(DistSpec(name=private, version="1.0", requires_dist=(
        pre_name, f"{old_name}; extra == 'old' and python_version >= '3'",
        "not-there-anywhere; extra == 'old' and sys_platform == 'win32'"),
        more_metadata=("Provides-Extra: old",))))
    chain.api.create_repository(domain=chain.domain, repository="extra")
    extra_only = f"up-{tag}-extra-only"
    upload_ok(chain.repo("extra"), dists.wheel(DistSpec(name=extra_only, version="1.0")))

    asked: list[str] = []

    def chosen(*requirements: str) -> dict[str, str]:
        asked.append(" ".join(requirements))
        report = tmp_path / f"report-{len(asked)}.json"
        _pip_install(chain, tmp_path / f"dry-{len(asked)}", "--dry-run", "--report", str(report),
                     "--extra-index-url", chain.index_url("extra"), *requirements)
        return {normalize(i["metadata"]["name"]): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}

    assert chosen(f"{private}[old]", extra_only) == {
        normalize(private): "1.0", pre_name: "1.0", old_name: "1.0", extra_only: "1.0"}
    # Kept (pinned past its Requires-Python), 2.0 is still for Python 2 only.
    downloads = tmp_path / "downloads"
    run([tool("pip"), "download", "--no-cache-dir", "--no-deps", "--ignore-requires-python",
         "-d", downloads, "--index-url", chain.index_url(), f"{old_name}==2.0"],
        chain.home.env())
    assert [v["version"] for v in chain.versions(old_name)] == ["2.0"]
    page_url = f"{chain.endpoint()}simple/{old_name}/"
    with chain.http() as http:
        entries = {f["filename"]: f for f in http.get(
            page_url, headers={"Accept": JSON_V1}).json()["files"]}
        html_page = http.get(page_url, headers={"Accept": "text/html"}).text
    assert entries[python2_only.filename]["requires-python"] == "<3"
    assert 'data-requires-python="&lt;3"' in html_page
    assert chosen(old_name) == {old_name: "1.0"}
    assert chosen("--pre", pre_name) == {pre_name: "2.0b1"}
    versions = run([tool("pip"), "index", "versions", "--pre", "--index-url", chain.index_url(),
                    pre_name], chain.home.env()).stdout
    assert "Available versions: 2.0b1, 1.0" in versions
    assert chosen(yank_name) == {yank_name: "1.0"}
    pinned = _pip_install(chain, tmp_path / "pinned", f"{yank_name}==1.1")
    assert "Reason for being yanked: broken build" in pinned.stdout + pinned.stderr
    assert _installed(chain, tmp_path / "pinned", yank_name.replace("-", "_")) == \
        f"{yank_name} 1.1"
    # The sdist, built with the setuptools the upstream serves, as public:pypi would.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    setuptools = wheel_from_installed("setuptools", wheels)
    index.add(Dist(DistSpec(name="setuptools", version=setuptools.name.split("-")[1]),
                   setuptools))
    run([tool("pip"), "download", "--no-cache-dir", "--no-deps", "--no-binary", private,
         "-d", downloads, "--index-url", chain.index_url(), private.lower()], chain.home.env())
    assert (downloads / f"{normalize(private).replace('-', '_')}-1.0.tar.gz").exists()


def test_a_repository_upstream_without_external_connection(
        server: ServerProcess, dists: DistFactory, tmp_path: Path) -> None:
    api = codeartifact_client(server.url)
    domain = unique_name("upint")
    api.create_domain(domain=domain)
    api.create_repository(domain=domain, repository="lib")
    api.create_repository(domain=domain, repository="team", upstreams=[{"repositoryName": "lib"}])
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    chain = Chain(server, api, AwsCli(server.url, ClientHome(tmp_path / "home")),
                  ClientHome(tmp_path / "home"), domain, "lib", "team", token)
    spec = DistSpec(name=unique_name("up-shared"), version="0.5")
    upload_ok(chain.repo("lib"), dists.wheel(spec))

    _pip_install(chain, tmp_path / "venv", spec.name)
    assert _installed(chain, tmp_path / "venv", spec.module) == f"{spec.name} 0.5"
    [version] = chain.versions(normalize(spec.name), "team")
    assert version["origin"] == {"domainEntryPoint": {"repositoryName": "lib"},
                                 "originType": "INTERNAL"}
    # Retained copies survive the upstream's removal.
    api.update_repository(domain=domain, repository="team", upstreams=[])
    _pip_install(chain, tmp_path / "venv2", spec.name)


# --------------------------------------------------------------------------- names from the path


@pytest.mark.parametrize("raw", [
    pytest.param("%252e%252e%252fadmin", id="double-encoded-dot-dot-slash"),
    pytest.param("a%3Fx=1%23", id="query-and-fragment"),
    pytest.param("%2e%2e", id="dot-dot"),
    pytest.param("a%20b", id="space"),
])
def test_invalid_project_name_in_the_path_never_reaches_the_upstream(
        server_factory: ServerFactory, index: StaticIndex, tmp_path: Path, raw: str) -> None:
    chain = _chain(_server(server_factory, index), tmp_path)
    with chain.http() as http:
        for suffix in ("/", "/pkg-1.0-py3-none-any.whl", "/pkg-1.0-py3-none-any.whl.metadata"):
            url = f"{chain.endpoint()}simple/{raw}{suffix}"
            response = http.get(url, headers={"Accept": JSON_V1})
            assert response.status_code == 404, (url, response.status_code, response.text)
            assert "not a valid project name" in response.text, response.text
    assert dict(index.requests) == {}, "the upstream was asked for an invalid name"


# --------------------------------------------------------------------------- integrity


def test_a_file_whose_hash_does_not_match_is_refused_and_not_kept(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    small = DistSpec(name=unique_name("up-bad"), version="1.0")
    big = DistSpec(name=unique_name("up-badbig"), version="1.0", padding=3 * 1024 * 1024)
    wrong = "0" * 64
    index.add(dists.wheel(small), declared_sha256=wrong)
    index.add(dists.wheel(big), declared_sha256=wrong)
    chain = _chain(_server(server_factory, index), tmp_path)

    failed = _pip_install(chain, tmp_path / "venv", small.name, check=False)
    assert failed.returncode != 0
    expected = (f"Upstream file {dists.wheel(small).filename} failed verification: its index "
                f"page declares sha256 {wrong}, the bytes sent have {dists.wheel(small).sha256}; "
                "nothing was kept")
    with chain.http() as http:
        url = f"{chain.endpoint()}simple/{normalize(small.name)}/{dists.wheel(small).filename}"
        response = http.get(url)
        assert (response.status_code, response.text.strip()) == (502, expected)

        # A large file is streamed as it arrives: the client gets all but the last chunk,
        # then the connection is cut; nothing is kept either way, and the next request is
        # answered at once.
        url = f"{chain.endpoint()}simple/{normalize(big.name)}/{dists.wheel(big).filename}"
        with pytest.raises(httpx.HTTPError), http.stream("GET", url) as streamed:
            received = b"".join(streamed.iter_bytes())
            assert len(received) < len(dists.wheel(big).data)
        again = http.get(url)
        assert again.status_code == 502 and "failed verification" in again.text
    assert index.file_requests(dists.wheel(small).filename) == 1
    assert index.file_requests(dists.wheel(big).filename) == 1
    assert chain.packages("team") == [] and chain.packages("pypi-store") == []


def test_regression_a_small_file_an_html_index_gives_no_size_for_is_verified_before_it_is_sent(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path) -> None:
    """A PEP 503 page declares no size, so a small file whose bytes do not match its hash was
    streamed: the first client got a 200 cut short (uv: 'end of file before message length
    reached'; pip: that it 'Got' the empty file's sha256), never why. The upstream's
    Content-Length says it is small: it is verified first, and uv shows the 502 with both
    hashes."""
    upstream = StaticIndex(html_only=True).start()
    try:
        spec = DistSpec(name=unique_name("up-bad-html"), version="1.0")
        wheel, wrong = dists.wheel(spec), "0" * 64
        upstream.add(wheel, declared_sha256=wrong)
        chain = _chain(_server(server_factory, upstream), tmp_path)
        expected = (f"Upstream file {wheel.filename} failed verification: its index page "
                    f"declares sha256 {wrong}, the bytes sent have {wheel.sha256}; "
                    "nothing was kept")
        with chain.http() as http:
            url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
            first = http.get(url)  # the request that downloads it
            assert (first.status_code, first.text.strip()) == (502, expected)
        failed = _uv_install(chain, tmp_path / "venv", spec.name, check=False)
        assert failed.returncode != 0
        assert expected in failed.stdout + failed.stderr, failed.stdout + failed.stderr
        assert chain.packages("team") == [] and chain.packages("pypi-store") == []
    finally:
        upstream.stop()


def test_regression_an_upstream_page_cannot_point_packyard_at_an_internal_service(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """A hostile index lists a file on another local service (a metadata endpoint, an admin
    port): pip's and uv's range reads and downloads of it used to be fetched from there and
    answered with its bytes. Nothing is asked of it now, and the clients see why."""
    inside = StaticIndex().start()  # the internal service: a second server on 127.0.0.1
    try:
        spec = DistSpec(name=unique_name("up-ssrf"), version="1.0")
        wheel = dists.wheel(spec)
        inside.add(wheel)
        index.add(wheel, url=f"http://127.0.0.1:{inside.port}/files/{wheel.filename}")
        chain = _chain(_server(server_factory, index), tmp_path)
        url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
        with chain.http() as http:
            for headers in ({"Range": "bytes=0-99"}, {}):
                answer = http.get(url, headers=headers)
                assert answer.status_code == 502, (headers, answer.status_code)
                assert f"Upstream host 127.0.0.1:{inside.port} is at 127.0.0.1, an internal " \
                    "address" in answer.text, answer.text
        failed = _uv_install(chain, tmp_path / "venv", spec.name, check=False)
        assert failed.returncode != 0 and "an internal address" in failed.stderr, failed.stderr
        assert dict(inside.requests) == {}
        assert chain.packages("team") == []
    finally:
        inside.stop()


def test_an_upstream_file_url_that_does_not_parse_leaves_that_file_out_and_the_rest_installs(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    # Before, the file was listed, and every pull of any file of the project answered 500:
    # the hosts its files may be fetched from were worked out by splitting every URL.
    old = DistSpec(name=unique_name("up-url"), version="1.0")
    new = replace(old, version="1.1")
    index.add(dists.wheel(old))
    index.add(dists.wheel(new), url=f"https://[files.example/{dists.wheel(new).filename}")
    chain = _chain(_server(server_factory, index), tmp_path)
    _pip_install(chain, tmp_path / "venv", old.name)
    assert _installed(chain, tmp_path / "venv", old.module) == f"{old.name} 1.0"
    with chain.http() as http:
        page = http.get(f"{chain.endpoint()}simple/{normalize(old.name)}/")
    assert page.status_code == 200
    assert dists.wheel(old).filename in page.text
    assert dists.wheel(new).filename not in page.text
    assert chain.server.log_text().count(
        f"left out 1 file(s) of {normalize(old.name)}, e.g. {dists.wheel(new).filename}: its "
        "URL does not parse (Invalid IPv6 URL)") == 1


def _old_sdist_upstream(index: StaticIndex, spec: DistSpec, suffix: str,
                        tmp_path: Path) -> Dist:
    """The upstream serves ``spec``'s sdist named ``<name>-<suffix>`` (a name from before
    PEP 625 or 527), and the setuptools its build needs, as public:pypi would."""
    out = tmp_path / "dists"
    out.mkdir()
    sdist = build_sdist(spec, out, filename=f"{spec.name.replace('-', '_')}-{suffix}")
    index.add(sdist)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    setuptools = wheel_from_installed("setuptools", wheels)
    index.add(Dist(DistSpec(name="setuptools", version=setuptools.name.split("-")[1]),
                   setuptools))
    return sdist


def test_regression_an_old_sdist_with_a_hyphen_in_its_version_is_listed_and_downloads(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    # docutils-0.15.1-post1.tar.gz and cffi-1.0.2-2.tar.gz were left out of PyPI's pages
    # ("invalid version"; "names project cffi-1-0-2, not cffi"): pip reads their version after
    # the project's name, 0.15.1.post1 and 1.0.2.post2.
    spec = DistSpec(name=unique_name("up-hyphen"), version="0.15.1.post1")
    sdist = _old_sdist_upstream(index, spec, "0.15.1-post1.tar.gz", tmp_path)
    chain = _chain(_server(server_factory, index), tmp_path)
    with chain.http() as http:
        page = http.get(f"{chain.endpoint()}simple/{normalize(spec.name)}/")
    assert page.status_code == 200 and sdist.filename in page.text
    run([tool("pip"), "download", "--no-cache-dir", "--no-deps", "--no-binary", spec.name,
         "--index-url", chain.index_url(), "--dest", str(tmp_path / "got"),
         f"{spec.name}==0.15.1.post1"], chain.home.env())
    assert (tmp_path / "got" / sdist.filename).read_bytes() == sdist.data
    assert [v["version"] for v in chain.versions(normalize(spec.name))] == ["0.15.1-post1"]


def test_regression_an_old_tar_bz2_sdist_is_listed_installed_and_kept_with_its_metadata(
        server_factory: ServerFactory, index: StaticIndex, tmp_path: Path) -> None:
    # PyPI still serves .tar.bz2 sdists of old releases (Twisted 8-12, WebOb 1.0.2) and pip
    # installs them; Packyard left them off upstream pages, so pip found no such version.
    spec = DistSpec(name=unique_name("up-bz2"), version="1.0.2",
                    summary="An sdist from before PEP 527")
    sdist = _old_sdist_upstream(index, spec, "1.0.2.tar.bz2", tmp_path)
    chain = _chain(_server(server_factory, index), tmp_path)
    venv = tmp_path / "venv"
    _pip_install(chain, venv, f"{spec.name}==1.0.2")
    assert _installed(chain, venv, spec.module) == f"{spec.name} 1.0.2"
    name = normalize(spec.name)
    assert [v["version"] for v in chain.versions(name)] == ["1.0.2"]
    described = chain.api.describe_package_version(
        domain=chain.domain, repository=chain.team, format="pypi", package=name,
        packageVersion="1.0.2")["packageVersion"]
    assert described["summary"] == "An sdist from before PEP 527"
    with chain.http() as http:
        got = http.get(f"{chain.endpoint()}simple/{name}/{sdist.filename}")
    assert got.status_code == 200 and got.content == sdist.data


def test_an_upstream_that_goes_away_mid_file_cuts_the_download_short_and_keeps_nothing(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    big = DistSpec(name=unique_name("up-cut"), version="1.0", padding=3 * 1024 * 1024)
    wheel = dists.wheel(big)
    index.add(wheel)
    server = _server(server_factory, index)
    chain = _chain(server, tmp_path)
    index.cut_after = len(wheel.data) // 2

    failed = _pip_install(chain, tmp_path / "venv", big.name, check=False)
    assert failed.returncode != 0
    assert chain.packages("team") == [] and chain.packages("pypi-store") == []
    # The operator's log says what happened in two lines, without a traceback: the pull
    # that failed, and the response cut short for it.
    log = server.log_text()
    assert (f"pulling {wheel.filename} from upstream failed: Upstream "
            f"{index.url.removesuffix('simple/')}files/{wheel.filename} failed while sending") in log
    assert "response cut short: Upstream" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log

    # pip retried (each retry a pull of its own: a failure mid-file is not remembered).
    tried = index.file_requests(wheel.filename)
    index.cut_after = None  # back: the next install pulls the whole file and keeps it
    _pip_install(chain, tmp_path / "venv2", big.name)
    assert index.file_requests(wheel.filename) == tried + 1
    assert normalize(big.name) in chain.packages("team")


def test_a_wheels_pep_658_metadata_is_taken_from_the_upstream_not_from_the_wheel(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """The upstream's .metadata file, verified against the hash its page declares, is what is
    recorded and served: a summary only it has shows. Sent with other bytes than declared
    (a lying or damaged file), it is not used: the wheel's own metadata is."""
    told = DistSpec(name=unique_name("up-meta"), version="1.0")
    lying = DistSpec(name=unique_name("up-metalie"), version="1.0")
    wheel, other = dists.wheel(told), dists.wheel(lying)
    with zipfile.ZipFile(wheel.path) as zf:
        own = next(zf.read(n) for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    upstream_says = own.replace(told.summary.encode(), b"Summary from the .metadata file")
    index.add(wheel, metadata=upstream_says)
    with zipfile.ZipFile(other.path) as zf:
        other_own = next(zf.read(n) for n in zf.namelist()
                         if n.endswith(".dist-info/METADATA"))
    index.add(other, metadata_sent=other_own.replace(lying.summary.encode(), b"Not declared"))
    chain = _chain(_server(server_factory, index), tmp_path)

    with chain.http() as http:
        for spec, dist, served in ((told, wheel, upstream_says), (lying, other, other_own)):
            base = f"{chain.endpoint()}simple/{normalize(spec.name)}/{dist.filename}"
            assert http.get(base).content == dist.data
            assert http.get(base + ".metadata").content == served
    assert index.requests[f"/files/{wheel.filename}.metadata"] == 1
    described = chain.api.describe_package_version(
        domain=chain.domain, repository="team", format="pypi", package=normalize(told.name),
        packageVersion="1.0")["packageVersion"]
    assert described["summary"] == "Summary from the .metadata file"
    described = chain.api.describe_package_version(
        domain=chain.domain, repository="team", format="pypi", package=normalize(lying.name),
        packageVersion="1.0")["packageVersion"]
    assert described["summary"] == lying.summary


def test_regression_a_kept_file_keeps_the_upstreams_upload_time_and_yank(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """Keeping a file must not change what the index says of it: its upload-time (uv.lock
    records it; --exclude-newer reads it) stays the upstream's, and a yanked release stays
    yanked, so pip still passes it over unless pinned."""
    name = unique_name("up-yank")
    good, yanked = (dists.wheel(DistSpec(name=name, version=v)) for v in ("1.0", "1.1"))
    index.add(good, upload_time="2020-01-02T03:04:05.000000Z")
    index.add(yanked, upload_time="2021-06-07T08:09:10.500000Z", yanked="broken build")
    chain = _chain(_server(server_factory, index), tmp_path)
    project = f"{chain.endpoint()}simple/{normalize(name)}/"
    with chain.http() as http:
        # A pinned install takes the yanked file: it is pulled and kept.
        assert http.get(project + yanked.filename).content == yanked.data
        assert http.get(project + good.filename).content == good.data
        assert [v["version"] for v in chain.versions(normalize(name))] == ["1.0", "1.1"]
        entries = {f["filename"]: f for f in http.get(
            project, headers={"Accept": JSON_V1}).json()["files"]}
        html_page = http.get(project, headers={"Accept": "text/html"}).text
        released = http.get(f"{chain.endpoint()}pypi/{normalize(name)}/json").json()
    assert entries[good.filename]["upload-time"] == "2020-01-02T03:04:05.000000Z"
    assert entries[yanked.filename]["upload-time"] == "2021-06-07T08:09:10.500000Z"
    assert entries[yanked.filename]["yanked"] == "broken build"
    assert entries[good.filename].get("yanked", False) is False
    assert 'data-yanked="broken build"' in html_page
    assert released["releases"]["1.0"][0]["upload_time_iso_8601"].startswith(
        "2020-01-02T03:04:05")
    published = {v["version"]: v for v in chain.versions(normalize(name))}
    assert chain.api.describe_package_version(
        domain=chain.domain, repository="team", format="pypi", package=normalize(name),
        packageVersion="1.0")["packageVersion"]["publishedTime"].year == 2020
    assert set(published) == {"1.0", "1.1"}
    # pip passes the yanked release over, as it does against the upstream itself.
    report = tmp_path / "report.json"
    _pip_install(chain, tmp_path / "venv", "--dry-run", "--report", str(report), name)
    chosen = json.loads(report.read_text())["install"]
    assert [(i["metadata"]["name"], i["metadata"]["version"]) for i in chosen] == [
        (name, "1.0")]


def test_regression_a_release_pypi_yanked_was_installable_after_export_and_import(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """The air-gap workflow with what the upstream says of its files: a repository filled by
    uv through public:pypi, exported, imported into a fresh server with no upstream. The
    import published every version at the import (``uv --exclude-newer`` found nothing
    older) and the release the upstream yanked arrived as an ordinary one that pip chose;
    the export's ``index.json`` now carries each file's upload-time and yank, and the
    import dates the files by it and makes the yanked release Unlisted."""
    name = unique_name("gap-yank")
    project = normalize(name)
    old, good, bad = (dists.wheel(DistSpec(name=name, version=v)) for v in ("0.9", "1.0", "1.1"))
    index.add(old, upload_time="2019-05-06T07:08:09.000000Z")
    index.add(good, upload_time="2020-01-02T03:04:05.000000Z")
    index.add(bad, upload_time="2021-06-07T08:09:10.500000Z", yanked="broken build")
    chain = _chain(_server(server_factory, index), tmp_path)
    for pin in ("", "==0.9", "==1.1"):  # the yanked release kept too: pinned, it installs
        _uv_install(chain, tmp_path / f"venv-keep{pin}", name + pin)
    dest = tmp_path / "usb"
    exported = run([tool("packyard"), "export", "--data-dir", chain.server.data_dir,
                    "--domain", chain.domain, "--repository", "team", dest], chain.home.env())
    assert "3 written" in exported.stdout, exported.stdout
    document = json.loads((dest / "pypi" / project / "index.json").read_text())
    assert {f["filename"]: (f["upload-time"], f["yanked"]) for f in document["files"]} == {
        old.filename: ("2019-05-06T07:08:09.000000Z", False),
        good.filename: ("2020-01-02T03:04:05.000000Z", False),
        bad.filename: ("2021-06-07T08:09:10.500000Z", "broken build")}

    airgapped = server_factory()
    other_api = codeartifact_client(airgapped.url)
    target = create_pypi_repo(other_api, airgapped.url, "airgap")
    imported = run([tool("packyard"), "import", "--data-dir", airgapped.data_dir, "--domain",
                    target.domain, "--repository", target.repository, dest], chain.home.env())
    assert "3 imported" in imported.stdout, imported.stdout
    assert "yanks (versions made Unlisted) 1 set" in imported.stdout, imported.stdout

    def page(url: str, auth: tuple[str, str]) -> dict[str, tuple[str, bool]]:
        with httpx.Client(auth=auth, timeout=60, trust_env=False) as http:
            files = http.get(url, headers={"Accept": JSON_V1}).json()["files"]
        return {f["filename"]: (f["upload-time"], f.get("yanked", False) is not False)
                for f in files}

    # PEP 691: the same upload times, the same release yanked (the reason here is Unlisted's).
    connected = page(f"{chain.endpoint()}simple/{project}/", ("aws", chain.token))
    assert page(target.project_url(project), target.auth) == connected == {
        old.filename: ("2019-05-06T07:08:09.000000Z", False),
        good.filename: ("2020-01-02T03:04:05.000000Z", False),
        bad.filename: ("2021-06-07T08:09:10.500000Z", True)}
    described = other_api.describe_package_version(
        domain=target.domain, repository=target.repository, format="pypi", package=project,
        packageVersion="1.0")["packageVersion"]
    assert described["publishedTime"] == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    # On both sides: pip passes the yanked release over, and uv --exclude-newer resolves the
    # release of that time.
    for side, index_url in (("connected", chain.index_url()),
                            ("airgapped", target.index_url_with_token)):
        python = make_venv(tmp_path / f"venv-pip-{side}", chain.home)
        run([tool("pip"), "--python", python, "install", "--no-cache-dir", "--index-url",
             index_url, name], chain.home.env())
        assert _installed(chain, tmp_path / f"venv-pip-{side}", old.spec.module) == (
            f"{name} 1.0"), side
        python = make_venv(tmp_path / f"venv-uv-{side}", chain.home)
        run([tool("uv"), "pip", "install", "--python", python, "--index-url", index_url,
             "--exclude-newer", "2020-01-01T00:00:00Z", name], chain.home.env())
        assert _installed(chain, tmp_path / f"venv-uv-{side}", old.spec.module) == (
            f"{name} 0.9"), side


def test_regression_the_json_api_answers_for_a_project_only_an_upstream_offers(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """``pypi/NAME/json`` answered 404 for a project the repository offers only through its
    upstream, though the Simple page lists it, so pip-tools' ``pip-compile --generate-hashes``
    (7.7: ``piptools/repositories/pypi.py``, hashes matched to the page's links by URL)
    downloaded every file to hash it. It answers from the merged page now: each file's URL
    is the page's link, with the page's sha256, size, upload time and yank; asking fetches no file, and nothing of the upstream before the caller is known."""
    name = unique_name("up-json")
    old_wheel, old_sdist = dists.both(DistSpec(name=name, version="1.0"))
    bad = dists.wheel(DistSpec(name=name, version="2.0"))
    for dist in (old_wheel, old_sdist):
        index.add(dist, upload_time="2022-03-04T05:06:07.250000Z")
    index.add(bad, upload_time="2023-01-01T00:00:00.000000Z", yanked="broken build")
    chain = _chain(_server(server_factory, index), tmp_path)
    project = normalize(name)
    document_url = f"{chain.endpoint()}pypi/{project}/json"
    with httpx.Client(trust_env=False, timeout=60) as anonymous:
        assert anonymous.get(document_url).status_code == 401
    assert index.requests[f"/simple/{project}/"] == 0  # nothing asked before authorization
    with chain.http() as http:
        response = http.get(document_url)
        assert response.status_code == 200, response.text
        document = response.json()
        page_url = f"{chain.endpoint()}simple/{project}/"
        page = http.get(page_url, headers={"Accept": JSON_V1}).json()
        release = http.get(f"{chain.endpoint()}pypi/{project}/2.0/json").json()
    listed = {f["filename"]: f for f in page["files"]}
    served = {f["filename"]: f for files in document["releases"].values() for f in files}
    assert sorted(document["releases"]) == ["1.0", "2.0"]
    assert set(served) == set(listed) == {old_wheel.filename, old_sdist.filename, bad.filename}
    for filename, entry in served.items():
        # pip-tools looks a candidate's hash up by the link's absolute URL.
        assert entry["url"] == urljoin(page_url, listed[filename]["url"])
        assert entry["digests"]["sha256"] == listed[filename]["hashes"]["sha256"]
        assert entry["size"] == listed[filename]["size"]
        assert entry["yanked"] == (filename == bad.filename)
    assert served[old_sdist.filename]["upload_time_iso_8601"] == "2022-03-04T05:06:07.250000Z"
    assert served[bad.filename]["yanked_reason"] == "broken build"
    # The latest release is the newest not yanked, as on PyPI.
    assert (document["info"]["name"], document["info"]["version"]) == (project, "1.0")
    assert [f["filename"] for f in document["urls"]] == sorted(
        [old_wheel.filename, old_sdist.filename])
    assert (release["info"]["yanked"], release["info"]["yanked_reason"]) == (
        True, "broken build")
    assert int(response.headers["X-PyPI-Last-Serial"]) == document["last_serial"] > 0
    assert all(index.file_requests(f) == 0 for f in served)  # nothing downloaded


def test_regression_the_json_api_shows_an_upstreams_yank_of_a_kept_file(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """A file kept from the upstream showed in the JSON API as the repository's own view (not
    yanked) while the Simple page carries the upstream's yank (PEP 592), made before or after
    it was kept: the JSON API says what the page says."""
    name = unique_name("up-json-yank")
    before, after = (dists.wheel(DistSpec(name=name, version=v)) for v in ("1.0", "1.1"))
    index.add(before, yanked="yanked before")
    index.add(after)
    chain = _chain(_server(server_factory, index, PACKYARD_UPSTREAM_PAGE_TTL_SECONDS="0"),
                   tmp_path)
    project = normalize(name)
    page_url = f"{chain.endpoint()}simple/{project}/"
    with chain.http() as http:
        for dist in (before, after):
            assert http.get(page_url + dist.filename).content == dist.data  # kept
        index.projects[project][after.filename].yanked = "yanked after"
        page = {f["filename"]: f.get("yanked", False) for f in http.get(
            page_url, headers={"Accept": JSON_V1}).json()["files"]}
        document = http.get(f"{chain.endpoint()}pypi/{project}/json").json()
        release = http.get(f"{chain.endpoint()}pypi/{project}/1.1/json").json()
    assert [v["version"] for v in chain.versions(project)] == ["1.0", "1.1"]
    assert page == {before.filename: "yanked before", after.filename: "yanked after"}
    served = {f["filename"]: f["yanked_reason"] for files in document["releases"].values()
              for f in files}
    assert served == page
    assert (release["info"]["yanked"], release["info"]["yanked_reason"]) == (
        True, "yanked after")
    assert [f["yanked"] for f in release["urls"]] == [True]


def test_fifty_concurrent_requests_for_one_file_make_one_upstream_download(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    # Larger than the verify-before-send size, so the first clients are streamed to.
    spec = DistSpec(name=unique_name("up-hot"), version="1.0", padding=4 * 1024 * 1024)
    wheel = dists.wheel(spec)
    index.add(wheel, delay_before_body=1.0)  # the download stays in flight while all arrive
    chain = _chain(_server(server_factory, index), tmp_path)
    url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
    with chain.http() as http:
        http.get(f"{chain.endpoint()}simple/{normalize(spec.name)}/")  # page cached first

        def fetch(_: int) -> tuple[int, str]:
            with chain.http() as client:
                response = client.get(url)
                return response.status_code, hashlib.sha256(response.content).hexdigest()

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(fetch, range(50)))
    assert results == [(200, wheel.sha256)] * 50
    assert index.file_requests(wheel.filename) == 1
    [version] = chain.versions(normalize(spec.name), "team")
    assert version["origin"]["originType"] == "EXTERNAL"


def test_a_kill_during_cold_pulls_leaves_both_repositories_whole(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path) -> None:
    """kill -9 while several files are being pulled through team from the store's external
    connection, after others were kept: after a restart every version either repository lists
    has its file, readable and as the upstream sent it, in both; the files in flight are in
    neither; and pulling them again keeps them in both."""
    index = StaticIndex(hold=threading.Event()).start()
    assert index.hold is not None
    index.hold.set()
    try:
        wheels = [dists.wheel(DistSpec(name=unique_name(f"crash-pull-{n}"), version="1.0",
                                       padding=300_000)) for n in range(4)]
        for wheel in wheels:
            index.add(wheel)
        kept, in_flight = wheels[:2], wheels[2:]
        sent = {w.filename: w.sha256 for w in wheels}
        first = _server(server_factory, index)
        chain = _chain(first, tmp_path)

        def pull(http: httpx.Client, wheel: Dist) -> httpx.Response:
            return http.get(f"{chain.endpoint()}simple/{normalize(wheel.spec.name)}/"
                            f"{wheel.filename}")

        with chain.http() as http:
            for wheel in kept:
                assert pull(http, wheel).content == wheel.data
        index.hold.clear()  # the next files' bodies are held back: their pulls stay in flight
        with ThreadPoolExecutor(len(in_flight)) as pool, chain.http() as http:
            for wheel in in_flight:
                pool.submit(pull, http, wheel)  # ends in an error when the server dies
            deadline = time.monotonic() + 30
            while not all(index.file_requests(w.filename) for w in in_flight):
                assert time.monotonic() < deadline, "the upstream was never asked"
                time.sleep(0.02)
            first.kill()
        index.hold.set()

        second = server_factory(env={"PACKYARD_PYPI_UPSTREAM_URL": index.url},
                                data_dir=first.data_dir)
        chain = Chain(second, codeartifact_client(second.url), chain.aws, chain.home,
                      chain.domain, chain.store, chain.team, chain.token)

        def listed() -> dict[str, set[str]]:
            """Each repository's files, every one read back whole through the API."""
            found: dict[str, set[str]] = {}
            for repository in (chain.team, chain.store):
                names = found.setdefault(repository, set())
                for package in chain.packages(repository):
                    for version in chain.versions(package, repository):
                        where = {"domain": chain.domain, "repository": repository,
                                 "format": "pypi", "package": package,
                                 "packageVersion": version["version"]}
                        assets = chain.api.list_package_version_assets(**where)["assets"]
                        assert assets, f"{package} {version['version']} has no file"
                        for asset in assets:
                            body = chain.api.get_package_version_asset(
                                **where, asset=asset["name"])["asset"].read()
                            assert len(body) == asset["size"]
                            assert hashlib.sha256(body).hexdigest() == asset["hashes"][
                                "SHA-256"] == sent[asset["name"]]
                            names.add(asset["name"])
            return found

        after_kill = listed()
        assert after_kill[chain.team] == after_kill[chain.store] == {w.filename for w in kept}
        with chain.http() as http:
            for wheel in wheels:
                response = pull(http, wheel)
                assert response.status_code == 200, response.text
                assert hashlib.sha256(response.content).hexdigest() == sent[wheel.filename]
        again = listed()
        assert again[chain.team] == again[chain.store] == set(sent)
    finally:
        index.hold.set()
        index.stop()


def test_regression_a_file_pulled_while_its_version_closed_leaves_no_bytes_behind(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path) -> None:
    """A file whose version is archived in both repositories while it is being pulled is
    sent to the client and kept in neither; its bytes go with the next sweep (at the latest
    the next start). They stayed, with a catalog row of their own that no file used."""
    index = StaticIndex(hold=threading.Event()).start()
    assert index.hold is not None
    index.hold.set()
    try:
        spec = DistSpec(name=unique_name("closed-pull"), version="1.0", padding=300_000)
        wheel, sdist = dists.wheel(spec), dists.sdist(spec)
        index.add(wheel)
        index.add(sdist)
        first = _server(server_factory, index)
        chain = _chain(first, tmp_path)
        project = normalize(spec.name)
        url = f"{chain.endpoint()}simple/{project}/"
        with chain.http() as http:
            assert http.get(url + wheel.filename).status_code == 200
        index.hold.clear()
        with ThreadPoolExecutor(1) as pool, chain.http() as http:
            pulled = pool.submit(http.get, url + sdist.filename)
            deadline = time.monotonic() + 30
            while not index.file_requests(sdist.filename):
                assert time.monotonic() < deadline, "the upstream was never asked"
                time.sleep(0.02)
            for repository in (chain.team, chain.store):
                chain.api.update_package_versions_status(
                    domain=chain.domain, repository=repository, format="pypi",
                    package=project, versions=["1.0"], targetStatus="Archived")
            index.hold.set()
            assert pulled.result().content == sdist.data
        for repository in (chain.team, chain.store):
            assets = chain.api.list_package_version_assets(
                domain=chain.domain, repository=repository, format="pypi", package=project,
                packageVersion="1.0")["assets"]
            assert [a["name"] for a in assets] == [wheel.filename]
        first.stop()
        server_factory(env={"PACKYARD_PYPI_UPSTREAM_URL": index.url}, data_dir=first.data_dir)
        blobs = first.data_dir / "blobs"
        assert [p for p in blobs.rglob(sdist.sha256)] == []
        assert [p for p in blobs.rglob(wheel.sha256)] != []
    finally:
        index.hold.set()
        index.stop()


def test_regression_a_pull_racing_the_deletion_of_the_repository_asked_is_kept_upstream(
        server_factory: ServerFactory, dists: DistFactory, tmp_path: Path) -> None:
    """team is deleted while a file asked through it is being pulled: the client gets the
    file and the store keeps it. The kept copy's new package in team failed its foreign key:
    a 502 ("IntegrityError"), nothing kept anywhere, and the bytes left behind."""
    index = StaticIndex(hold=threading.Event()).start()
    assert index.hold is not None
    try:
        spec = DistSpec(name=unique_name("gone-pull"), version="1.0", padding=300_000)
        wheel = dists.wheel(spec)
        index.add(wheel)
        chain = _chain(_server(server_factory, index), tmp_path)
        project = normalize(spec.name)
        with ThreadPoolExecutor(1) as pool, chain.http() as http:
            pulled = pool.submit(http.get, f"{chain.endpoint()}simple/{project}/"
                                           f"{wheel.filename}")
            deadline = time.monotonic() + 30
            while not index.file_requests(wheel.filename):
                assert time.monotonic() < deadline, "the upstream was never asked"
                time.sleep(0.02)
            chain.api.delete_repository(domain=chain.domain, repository=chain.team)
            index.hold.set()
            response = pulled.result()
        assert response.status_code == 200, response.text
        assert response.content == wheel.data
        assets = chain.api.list_package_version_assets(
            domain=chain.domain, repository=chain.store, format="pypi", package=project,
            packageVersion="1.0")["assets"]
        assert [a["name"] for a in assets] == [wheel.filename]
    finally:
        index.hold.set()
        index.stop()


def _asset_digests(data_dir: Path, filename: str) -> set[tuple[Any, ...]]:
    """Every row of the asset ``filename`` in the catalog: (md5, sha1, sha512, and the
    BLAKE2b in PyPI's attributes)."""
    with sqlite3.connect(data_dir / "packyard.db") as db:
        return set(db.execute("SELECT md5, sha1, sha512, json_extract(attributes, "
                              "'$.blake2_256') FROM assets WHERE name = ?", (filename,)))


def _until_filled(data_dir: Path, filename: str, expected: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 30
    while _asset_digests(data_dir, filename) != {expected}:
        assert time.monotonic() < deadline, _asset_digests(data_dir, filename)
        time.sleep(0.1)


def _expected_digests(data: bytes) -> tuple[str, str, str, str]:
    return (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
            hashlib.sha512(data).hexdigest(), hashlib.blake2b(data, digest_size=32).hexdigest())


def test_a_pulled_files_md5_sha1_sha512_and_blake2b_are_filled_in_after_it_is_kept(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """A pull computes sha256 and leaves MD5, SHA-1, SHA-512 and PyPI's BLAKE2b to be filled
    in once it is kept; whoever asks for them before that gets them all the same
    (ListPackageVersionAssets, PyPI's JSON API), and the background filler fills in every
    repository's row of the file in the catalog."""
    specs = [DistSpec(name=unique_name(f"up-digests-{n}"), version="1.0", padding=200_000)
             for n in range(2)]
    wheels = [dists.wheel(spec) for spec in specs]
    for wheel in wheels:
        index.add(wheel)
    server = _server(server_factory, index)
    chain = _chain(server, tmp_path)
    asked, left = wheels
    with chain.http() as http:
        for wheel in wheels:
            url = f"{chain.endpoint()}simple/{normalize(wheel.spec.name)}/{wheel.filename}"
            assert http.get(url).content == wheel.data
        # Asked for at once: every digest, each of the file's own bytes.
        md5, sha1, sha512, _ = _expected_digests(asked.data)
        for repository in ("team", "pypi-store"):
            [asset] = chain.api.list_package_version_assets(
                domain=chain.domain, repository=repository, format="pypi",
                package=normalize(asked.spec.name), packageVersion="1.0")["assets"]
            assert asset["hashes"] == {"MD5": md5, "SHA-1": sha1, "SHA-256": asked.sha256,
                                       "SHA-512": sha512}
        document = http.get(f"{chain.endpoint()}pypi/{normalize(left.spec.name)}/json").json()
        assert [(f["md5_digest"], f["digests"]) for f in document["urls"]] == [
            (hashlib.md5(left.data).hexdigest(),
             {"md5": hashlib.md5(left.data).hexdigest(), "sha256": left.sha256,
              "blake2b_256": hashlib.blake2b(left.data, digest_size=32).hexdigest()})]
    for wheel in wheels:
        _until_filled(server.data_dir, wheel.filename, _expected_digests(wheel.data))
    assert _metric(server, "packyard_upstream_digests_filled_total") >= 2


def test_digests_left_unfilled_by_a_stopped_server_are_filled_in_at_the_next_start(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """What ``kill -9`` between a pull and its filler leaves (assets without MD5, SHA-1,
    SHA-512 and BLAKE2b) is filled in by the next start, read back from the stored (encrypted)
    file."""
    spec = DistSpec(name=unique_name("up-unfilled"), version="1.0", padding=100_000)
    wheel = dists.wheel(spec)
    index.add(wheel)
    first = _server(server_factory, index)
    chain = _chain(first, tmp_path)
    with chain.http() as http:
        url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
        assert http.get(url).content == wheel.data
    _until_filled(first.data_dir, wheel.filename, _expected_digests(wheel.data))
    first.kill()
    with sqlite3.connect(first.data_dir / "packyard.db") as db:
        db.execute("UPDATE assets SET md5 = NULL, sha1 = NULL, sha512 = NULL, attributes = "
                   "json_set(attributes, '$.blake2_256', NULL) WHERE name = ?",
                   (wheel.filename,))
    assert _asset_digests(first.data_dir, wheel.filename) == {(None, None, None, None)}
    second = server_factory(env={"PACKYARD_PYPI_UPSTREAM_URL": index.url},
                            data_dir=first.data_dir)
    _until_filled(second.data_dir, wheel.filename, _expected_digests(wheel.data))
    assert index.file_requests(wheel.filename) == 1  # from the stored copy, not the upstream


# --------------------------------------------------------------------------- origin controls


def test_a_pulled_file_is_kept_as_the_ciphertext_made_while_it_arrived(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """With encryption on (the default), a file pulled from an upstream that declares its
    sha256 is encrypted as it arrives (decision 0020) and kept as that ciphertext: what pip
    installs is the upstream's wheel, what is on disk is its ciphertext of the expected size
    under the data key the catalog recorded, and nothing staged is left (neither the
    plaintext the download's readers followed nor a second ciphertext). The wheel is larger
    than ``OWN_FLUSH_AT``, so its commit flushes its own files."""
    spec = DistSpec(name=unique_name("up-sealed"), version="1.0", padding=9 * 1024 * 1024)
    wheel = dists.wheel(spec)
    index.add(wheel)
    server = _server(server_factory, index)
    chain = _chain(server, tmp_path)
    _pip_install(chain, tmp_path / "venv", spec.name)
    assert _installed(chain, tmp_path / "venv", spec.module) == f"{spec.name} 1.0"
    blobs = server.data_dir / "blobs"
    [stored] = list(blobs.glob(f"d*.enc/{wheel.sha256[:2]}/{wheel.sha256}"))
    ciphertext = stored.read_bytes()
    assert len(ciphertext) == LAYOUT.ciphertext_size(len(wheel.data))
    assert wheel.data[:4096] not in ciphertext and b"_padding.bin" not in ciphertext
    assert [p for p in blobs.glob(f"d[0-9]*/{wheel.sha256[:2]}/{wheel.sha256}")
            if not p.parent.parent.name.endswith(".enc")] == []  # no plain copy
    with sqlite3.connect(server.data_dir / "packyard.db") as db:
        assert db.execute("SELECT plaintext_size FROM data_keys WHERE sha256 = ?",
                          (wheel.sha256,)).fetchall() == [(len(wheel.data),)]
    assert list((blobs / ".staging").iterdir()) == []
    # Read back, decrypted, as another client would get it.
    with chain.http() as http:
        url = f"{chain.endpoint()}simple/{normalize(spec.name)}/{wheel.filename}"
        assert hashlib.sha256(http.get(url).content).hexdigest() == wheel.sha256


def test_a_private_package_never_shows_the_public_versions_of_its_name(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    private = DistSpec(name=unique_name("acme-internal"), version="1.0")
    attack = DistSpec(name=private.name, version="99.0", summary="not ours")
    index.add(dists.wheel(attack))
    chain = _chain(_server(server_factory, index), tmp_path)
    upload_ok(chain.repo("team"), dists.wheel(private))
    package = normalize(private.name)

    described = chain.api.describe_package(domain=chain.domain, repository="team",
                                           format="pypi", package=package)["package"]
    assert described["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                                 "upstream": "BLOCK"}
    with chain.http() as http:
        page = http.get(f"{chain.endpoint()}simple/{package}/", headers={"Accept": JSON_V1})
        assert page.json()["versions"] == ["1.0"]
        public_file = http.get(f"{chain.endpoint()}simple/{package}/"
                               f"{dists.wheel(attack).filename}")
        assert public_file.status_code == 404
    _pip_install(chain, tmp_path / "venv", private.name)
    assert _installed(chain, tmp_path / "venv", private.module) == f"{private.name} 1.0"
    assert index.file_requests(dists.wheel(attack).filename) == 0

    # An administrator may allow upstream versions on purpose.
    allowed = chain.aws.json("codeartifact", "put-package-origin-configuration", "--domain",
                             chain.domain, "--repository", "team", "--format", "pypi",
                             "--package", package, "--restrictions",
                             "publish=ALLOW,upstream=ALLOW")
    assert allowed["originConfiguration"]["restrictions"] == {"publish": "ALLOW",
                                                              "upstream": "ALLOW"}
    with chain.http() as http:
        page = http.get(f"{chain.endpoint()}simple/{package}/", headers={"Accept": JSON_V1})
        assert page.json()["versions"] == ["1.0", "99.0"]


def test_blocking_upstream_before_a_package_exists(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    spec = DistSpec(name=unique_name("up-preblock"), version="1.0")
    index.add(dists.wheel(spec))
    chain = _chain(_server(server_factory, index), tmp_path)
    chain.api.put_package_origin_configuration(
        domain=chain.domain, repository="team", format="pypi", package=spec.name,
        restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    failed = _pip_install(chain, tmp_path / "venv", spec.name, check=False)
    assert failed.returncode != 0
    assert index.file_requests(dists.wheel(spec).filename) == 0


def test_publishing_over_a_package_pulled_from_upstream_is_refused(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    public = DistSpec(name=unique_name("up-public"), version="1.0")
    index.add(dists.wheel(public))
    chain = _chain(_server(server_factory, index), tmp_path)
    _uv_install(chain, tmp_path / "venv", public.name)
    mine = DistSpec(name=public.name, version="1.1")
    response = upload(chain.repo("team"), dists.wheel(mine))
    assert response.status_code == 403
    assert response.text.strip() == (
        f"Publishing {mine.name} to repository team is blocked by the package's origin "
        "configuration (publish: BLOCK); an administrator can allow it with "
        "put-package-origin-configuration")


# --------------------------------------------------------------------------- the internet


@pytest.mark.internet
@pytest.mark.skipif(not INTERNET, reason="set PACKYARD_TEST_INTERNET=1 to reach pypi.org")
def test_real_packages_through_public_pypi(server_factory: ServerFactory,
                                          tmp_path: Path) -> None:
    # The default upstream: https://pypi.org/simple/
    server = server_factory(env={"PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED": INTERNAL_NETWORKS})
    chain = _chain(server, tmp_path)
    _uv_install(chain, tmp_path / "uv", "requests==2.32.3", "six")
    _pip_install(chain, tmp_path / "pip", "idna", "attrs")
    kept = set(chain.packages("pypi-store"))
    assert {"requests", "six", "idna", "attrs", "urllib3", "certifi"} <= kept
    [version] = chain.versions("requests", "team")
    assert version["origin"]["domainEntryPoint"] == {"externalConnectionName": "public:pypi"}


def _metric(server: ServerProcess, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics", trust_env=False).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name)


def test_upstream_fetches_hits_pulls_and_stale_answers_are_in_the_metrics(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    lib = DistSpec(name=unique_name("up-metrics"), version="1.0")
    wheel = dists.wheel(lib)
    index.add(wheel)
    fresh = _server(server_factory, index)
    chain = _chain(fresh, tmp_path / "fresh")
    page = f"{chain.endpoint()}simple/{normalize(lib.name)}/"
    with chain.http() as http:
        assert http.get(page).status_code == 200
        assert http.get(page + wheel.filename).content == wheel.data
        assert http.get(page).status_code == 200  # the pull changed the repository: re-render
    assert _metric(fresh, "packyard_upstream_document_fetches_total") == 1
    assert _metric(fresh, "packyard_upstream_document_hits_total") >= 1
    assert _metric(fresh, "packyard_upstream_file_pulls_total") == 1
    assert _metric(fresh, "packyard_upstream_file_pull_bytes_total") == len(wheel.data)

    stale = _server(server_factory, index, PACKYARD_UPSTREAM_PAGE_TTL_SECONDS="0")
    chain = _chain(stale, tmp_path / "stale")
    page = f"{chain.endpoint()}simple/{normalize(lib.name)}/"
    with chain.http() as http:
        assert http.get(page).status_code == 200
        assert http.get(page + wheel.filename).status_code == 200
        index.failing = True
        assert http.get(page).status_code == 200
    assert _metric(stale, "packyard_upstream_errors_total") >= 1
    assert _metric(stale, "packyard_upstream_stale_answers_total") >= 1


def _page_cache(server: ServerProcess) -> tuple[float, float]:
    """The PyPI page cache's (hits, misses) so far."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics", trust_env=False).text
    found = {sample.name: sample.value for family in text_string_to_metric_families(text)
             for sample in family.samples if sample.labels.get("cache") == "pypi_pages"}
    return found["packyard_cache_hits_total"], found["packyard_cache_misses_total"]


def test_the_next_install_reads_every_page_the_pulls_changed_from_the_cache(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    """Each file a cold install keeps changes its package's page, which used to be merged and
    rendered again on the next install's read of it. The pages are made again in the quiet
    after the pulls (``services/page_warmer.py``): uv's next install finds every one made."""
    lib = DistSpec(name=unique_name("warm-lib"), version="1.0")
    app = DistSpec(name=unique_name("warm-app"), version="1.0", requires_dist=(lib.name,))
    for dist in (dists.wheel(lib), dists.wheel(app)):
        index.add(dist)
    server = _server(server_factory, index)
    chain = _chain(server, tmp_path)
    _uv_install(chain, tmp_path / "cold", app.name)
    assert _installed(chain, tmp_path / "cold", lib.module) == f"{lib.name} 1.0"
    # Made again a second after the last kept file, while nothing is served.
    deadline = time.monotonic() + 30
    while _metric(server, "packyard_upstream_pages_made_again_total") < 2:
        assert time.monotonic() < deadline, "the pages were not made again"
        time.sleep(0.1)
    hits, misses = _page_cache(server)
    _uv_install(chain, tmp_path / "warm", "--no-cache", app.name)
    assert _installed(chain, tmp_path / "warm", app.module) == f"{app.name} 1.0"
    after_hits, after_misses = _page_cache(server)
    assert after_misses == misses, "a page the pulls changed was merged again on its read"
    assert after_hits >= hits + 2  # both projects' pages


def test_regression_the_json_api_shows_the_metadata_of_a_release_kept_from_the_upstream(
        server_factory: ServerFactory, index: StaticIndex, dists: DistFactory,
        tmp_path: Path) -> None:
    # A release kept from an upstream showed null author, keywords and project URLs and no
    # classifiers in the JSON API, though its files' metadata had them.
    name = unique_name("up-json-info")
    wheel = dists.wheel(DistSpec(name=name, version="1.0", more_metadata=DESCRIBED_METADATA))
    index.add(wheel)
    chain = _chain(_server(server_factory, index), tmp_path)
    project = normalize(name)
    with chain.http() as http:
        assert http.get(f"{chain.endpoint()}simple/{project}/{wheel.filename}").content == \
            wheel.data  # kept
        info = http.get(f"{chain.endpoint()}pypi/{project}/json").json()["info"]
    expected = described_info()
    assert {key: info[key] for key in expected} == expected
