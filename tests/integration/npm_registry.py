"""An npm repository on a real Packyard server for the npm integration tests, and a small
static npm registry to stand for public:npmjs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from tests.integration.helpers import unique_name


@dataclass
class NpmRepo:
    server_url: str
    domain: str
    repository: str
    endpoint: str
    token: str

    def client(self) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def packument(self, name: str) -> httpx.Response:
        with self.client() as http:
            return http.get(self.endpoint + name.replace("/", "%2f"),
                            headers={"Accept": "application/json"})


def create_npm_repo(api: Any, server_url: str, prefix: str, *, domain: str | None = None,
                    repository: str | None = None) -> NpmRepo:
    if domain is None:
        domain = unique_name(prefix)
        api.create_domain(domain=domain)
    repository = repository or unique_name(f"{prefix}-repo")
    api.create_repository(domain=domain, repository=repository)
    endpoint = api.get_repository_endpoint(domain=domain, repository=repository,
                                           format="npm")["repositoryEndpoint"]
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    return NpmRepo(server_url, domain, repository, endpoint, token)


def npm_tarball(name: str, version: str, dependencies: dict[str, str] | None = None) -> bytes:
    """What ``npm pack`` makes of a tiny package."""
    manifest = {"name": name, "version": version, "main": "index.js",
                "description": f"{name} from the test registry"}
    if dependencies:
        manifest["dependencies"] = dependencies
    files = {"package/package.json": json.dumps(manifest).encode(),
             "package/index.js": f"module.exports = {json.dumps(name)}\n".encode(),
             "package/README.md": f"# {name}\n".encode()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class StaticRegistry:
    """A public registry stand-in on loopback: packuments and tarballs, nothing else, counting
    what it was asked for. ``stop`` makes it go away (connections refused). While ``hold``
    is set to an unset event, tarballs are sent only once it is set (a slow download)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packages: dict[str, dict[str, Any]] = {}
        self.tarballs: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.hold: threading.Event | None = None
        self.post_status = 200  # what a POST (npm audit's advisories) is answered
        self.post_body = b"{}"  # and with what
        self.posted: list[tuple[str, bytes]] = []  # each POST's path and body
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                registry.requests.append(self.path)
                path = unquote(self.path.lstrip("/"))
                if path in registry.tarballs:
                    if registry.hold is not None:
                        registry.hold.wait(timeout=60)
                    self._send(200, registry.tarballs[path], "application/octet-stream")
                elif path in registry.packages:
                    self._send(200, json.dumps(registry.packages[path]).encode(),
                               "application/json")
                else:
                    self._send(404, b'{"error":"Not found"}', "application/json")

            def do_POST(self) -> None:  # noqa: N802
                registry.requests.append("POST " + self.path)
                length = int(self.headers.get("content-length") or 0)
                registry.posted.append((self.path, self.rfile.read(length)))
                self._send(registry.post_status, registry.post_body, "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def add(self, name: str, version: str, dependencies: dict[str, str] | None = None) -> bytes:
        data = npm_tarball(name, version, dependencies)
        bare = name.split("/")[-1]
        path = f"{name}/-/{bare}-{version}.tgz"
        self.tarballs[path] = data
        document = self.packages.setdefault(name, {"_id": name, "name": name, "versions": {},
                                                   "dist-tags": {}, "time": {}})
        manifest: dict[str, Any] = {
            "name": name, "version": version, "main": "index.js",
            "dist": {"tarball": self.url + path,
                     "integrity": "sha512-" + base64.b64encode(
                         hashlib.sha512(data).digest()).decode(),
                     "shasum": hashlib.sha1(data).hexdigest()}}
        if dependencies:
            manifest["dependencies"] = dependencies
        document["versions"][version] = manifest
        document["dist-tags"]["latest"] = version
        document["time"][version] = "2024-01-01T00:00:00.000Z"
        document["time"].setdefault("created", "2024-01-01T00:00:00.000Z")
        document["time"]["modified"] = "2024-01-01T00:00:00.000Z"
        document["readme"] = f"# {name}\n"
        return data

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
