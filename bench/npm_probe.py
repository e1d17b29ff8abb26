"""npm read figures, a first probe beside ``bench/run`` (not yet one of its suites).

Packyard, Verdaccio and nginx serving the same bytes, one after the other in one run: the
cached packument of a 3,500-version package, full and abbreviated, gzip-compressed, and a 2 KiB
tarball. A small registry served here stands for the npm registry; Packyard reaches it through
``public:npmjs`` and Verdaccio through an uplink (``maxage`` 1 h, so both answer from what they
keep); nginx serves the bytes Packyard answered, as static files. Reads are measured as each
server is usually run: Packyard with a token on every request, Verdaccio and nginx anonymous.

    .venv-test/bin/python bench/npm_probe.py --verdaccio DIR [--seconds 10]

``DIR`` holds Verdaccio 6.8.0 installed with npm (``node_modules/verdaccio``); on Node 20 its
``package.json`` needs ``"overrides": {"node-fetch": "2.7.0"}``. The publish, ``npm ci`` and
memory figures of the issue are not measured here yet.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import load
from procs import LOOPBACK, ProcessGroup, free_port, wait_until_ready

BIG, SMALL = "bench-big", "bench-small"
FULL = "application/json"
CORGI = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


def _tarball(name: str, size: int) -> bytes:
    """A package tarball of about ``size`` bytes (random filler does not compress)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in (("package/package.json",
                            json.dumps({"name": name, "version": "1.0.0"}).encode()),
                           ("package/filler.bin", secrets.token_bytes(size - 400))):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _packument(name: str, versions: int, base: str, tarball: bytes | None) -> bytes:
    manifests, times = {}, {"created": "2020-01-01T00:00:00.000Z"}
    for i in range(versions):
        version = f"{i // 100}.{i % 100}.0"
        data = tarball if tarball is not None else f"{name}@{version}".encode()
        manifests[version] = {
            "name": name, "version": version, "description": f"{name}, a benchmark package",
            "main": "index.js", "license": "MIT", "dependencies": {"left-pad": "^1.3.0"},
            "engines": {"node": ">=18"},
            "dist": {"tarball": f"{base}{name}/-/{name}-{version}.tgz",
                     "shasum": hashlib.sha1(data).hexdigest(),
                     "integrity": "sha512-" + base64.b64encode(
                         hashlib.sha512(data).digest()).decode()}}
        times[version] = f"2020-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
    times["modified"] = times[version]
    return json.dumps({"_id": name, "name": name, "dist-tags": {"latest": version},
                       "versions": manifests, "time": times, "readme": f"# {name}\n"}).encode()


@contextmanager
def _registry(files: dict[str, bytes]) -> Iterator[str]:
    """The stand-in for the npm registry: fixed documents and tarballs by path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = files.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()


def _get(url: str, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=120) as response:
        return bytes(response.read())


def _sequential(url: str, headers: dict[str, str], seconds: float) -> float:
    """Requests per second, one request at a time, for at least ``seconds`` and 3 requests."""
    started, count = time.monotonic(), 0
    while count < 3 or time.monotonic() - started < seconds:
        _get(url, headers)
        count += 1
    return count / (time.monotonic() - started)


def _packyard(group: ProcessGroup, work: Path, upstream: str) -> tuple[str, dict[str, str]]:
    import boto3

    key, secret = "AKIABENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(30)
    port = free_port()
    proc = group.start("packyard", [str(Path(sys.executable).parent / "packyard"), "serve",
                                    "--host", LOOPBACK, "--port", str(port),
                                    "--data-dir", str(work / "packyard")],
                       work / "packyard.log",
                       env={"PACKYARD_ROOT_ACCESS_KEY_ID": key,
                            "PACKYARD_ROOT_SECRET_ACCESS_KEY": secret,
                            "PACKYARD_NPM_UPSTREAM_URL": upstream})
    base = f"http://{LOOPBACK}:{port}"
    wait_until_ready(proc, base + "/health")
    api = boto3.client("codeartifact", endpoint_url=base, region_name="us-east-1",
                       aws_access_key_id=key, aws_secret_access_key=secret)
    api.create_domain(domain="bench")
    api.create_repository(domain="bench", repository="npm")
    api.associate_external_connection(domain="bench", repository="npm",
                                      externalConnection="public:npmjs")
    token = api.get_authorization_token(domain="bench")["authorizationToken"]
    endpoint = api.get_repository_endpoint(domain="bench", repository="npm",
                                           format="npm")["repositoryEndpoint"]
    return endpoint, {"Authorization": f"Bearer {token}"}


def _verdaccio(group: ProcessGroup, work: Path, upstream: str, home: Path) -> str:
    port = free_port()
    config = work / "verdaccio.yaml"
    config.write_text(f"""storage: {work / "verdaccio-storage"}
uplinks:
  npmjs:
    url: {upstream}
    maxage: 1h
packages:
  '**':
    access: $all
    publish: $authenticated
    proxy: npmjs
log: {{type: stdout, format: pretty, level: warn}}
""")
    proc = group.start("verdaccio", ["node", str(home / "node_modules/verdaccio/bin/verdaccio"),
                                     "-c", str(config), "-l", f"{LOOPBACK}:{port}"],
                       work / "verdaccio.log")
    base = f"http://{LOOPBACK}:{port}/"
    wait_until_ready(proc, base + "-/ping")
    return base


def _nginx(group: ProcessGroup, work: Path, files: dict[str, bytes]) -> str:
    root, tmp = work / "www", work / "nginx-tmp"
    for path, data in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = work / "nginx.conf"
    config.write_text(f"""{user}daemon off;
worker_processes 1;
pid {work / "nginx.pid"};
error_log {work / "nginx-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
    client_body_temp_path {tmp / "body"}; proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"}; uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    default_type application/json;
    server {{
        listen {LOOPBACK}:{port};
        root {root};
        location ~ \\.json\\.gz$ {{ add_header Content-Encoding gzip; }}
        location / {{ }}
    }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = group.start("nginx", [nginx, "-p", str(work), "-e", str(work / "nginx-error.log"),
                                 "-c", str(config)], work / "nginx.log")
    base = f"http://{LOOPBACK}:{port}/"
    wait_until_ready(proc, base)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--verdaccio", type=Path, required=True,
                        help="the folder Verdaccio 6.8.0 was installed in with npm")
    parser.add_argument("--versions", type=int, default=3500)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    shape = load.LoadShape(seconds=args.seconds)
    work = Path(tempfile.mkdtemp(prefix="npm-probe-"))
    script = load.write_script(work)
    small = _tarball(SMALL, 2048)
    figures: dict[str, dict[str, float]] = {}
    with ProcessGroup() as group:
        upstream_files: dict[str, bytes] = {}
        with _registry(upstream_files) as upstream:
            upstream_files[f"/{BIG}"] = _packument(BIG, args.versions, upstream, None)
            upstream_files[f"/{SMALL}"] = _packument(SMALL, 1, upstream, small)
            upstream_files[f"/{SMALL}/-/{SMALL}-0.0.0.tgz"] = small
            endpoint, auth = _packyard(group, work, upstream)
            verdaccio = _verdaccio(group, work, upstream, args.verdaccio)
            gz = {"Accept-Encoding": "gzip"}
            served = {
                "full.json.gz": _get(endpoint + BIG, {**auth, **gz, "Accept": FULL}),
                "corgi.json.gz": _get(endpoint + BIG, {**auth, **gz, "Accept": CORGI}),
                "small.tgz": _get(f"{endpoint}{SMALL}/-/{SMALL}-0.0.0.tgz", auth),
            }
            for accept in (FULL, CORGI):
                _get(verdaccio + BIG, {**gz, "Accept": accept})
            _get(f"{verdaccio}{SMALL}/-/{SMALL}-0.0.0.tgz", {})
        # The upstream is gone: everyone answers from what it keeps.
        nginx = _nginx(group, work, {f"/{k}": v for k, v in served.items()})
        cases = {
            "packument, full, gzip": (
                (endpoint + BIG, {**auth, **gz, "Accept": FULL}),
                (verdaccio + BIG, {**gz, "Accept": FULL}),
                (nginx + "full.json.gz", {})),
            "packument, abbreviated, gzip": (
                (endpoint + BIG, {**auth, **gz, "Accept": CORGI}),
                (verdaccio + BIG, {**gz, "Accept": CORGI}),
                (nginx + "corgi.json.gz", {})),
            "2 KiB tarball": (
                (f"{endpoint}{SMALL}/-/{SMALL}-0.0.0.tgz", auth),
                (f"{verdaccio}{SMALL}/-/{SMALL}-0.0.0.tgz", {}),
                (nginx + "small.tgz", {})),
        }
        for figure, targets in cases.items():
            rates = {}
            for server, (url, headers) in zip(("packyard", "verdaccio", "nginx"), targets,
                                              strict=True):
                try:
                    result = load.measure(url, headers, shape, script)
                    rate, how = result.requests_per_second, f"p50 {result.p50_ms:6.1f} ms"
                except load.LoadFailed as error:
                    if "no request" not in str(error):
                        raise
                    # Slower than 16 connections can finish in the run: one at a time instead.
                    rate, how = _sequential(url, headers, args.seconds), "one at a time"
                rates[server] = rate
                print(f"{figure:32} {server:10} {rate:9.1f} req/s {how}", file=sys.stderr)
            figures[figure] = rates
    sizes = {name: len(data) for name, data in served.items()}
    print(json.dumps({"figures": figures, "bytes": sizes}, indent=2))
    print("\n| figure | Packyard req/s | ÷ Verdaccio | ÷ nginx |\n|---|---|---|---|")
    for figure, rates in figures.items():
        print(f"| {figure} | {rates['packyard']:.0f} | "
              f"{rates['packyard'] / rates['verdaccio']:.1f} | "
              f"{rates['packyard'] / rates['nginx']:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
