"""``bench/run npm``: issue 12's npm figures, Packyard beside Verdaccio and nginx, in one run.

Reads: the cached packument of a 3,500-version package, full and abbreviated, gzip-compressed,
and a 2 KiB tarball. A small registry served here stands for the npm registry; Packyard reaches
it through ``public:npmjs`` and Verdaccio through an uplink (``maxage`` 1 h, so both answer
from what they keep; the stand-in is stopped before the load runs); nginx serves the bytes
Packyard answered, as static files. Reads are measured as each server is usually run: Packyard
with a token on every request, Verdaccio and nginx anonymous, with wrk in ``--rounds``
interleaved rounds (the servers' order turns each round).

Writes, with the real npm 11 in a home of its own: ``npm publish`` of small packages (one
package at a time, Packyard and Verdaccio alternating package by package), then the same
number of npm's publish bodies sent without the client (the server's share), then the same
number again as the workspaces of one monorepo, published by one ``npm publish --workspaces``
per server (one npm process for all: what npm's start-up leaves of a publish); ``npm ci`` of a
50-package tree from each server's lockfile, cold (empty npm cache) and warm (the cache the cold
run filled), in interleaved rounds; the publish of a ``--speed-mib`` tarball, timed (below
Verdaccio's V8 string limit), and each server's RSS while a ``--big-mib`` tarball is published
(npm's own body, streamed from a file: npm itself cannot build a body that big).

Verdaccio 6.8.0 (Node 20; ``node-fetch`` pinned to 2.7.0 through ``overrides``) and npm 11 are
installed with the machine's npm under the bench's work folder on first use.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import load
import rss
from envs import interpreter_of
from installs import group_cpu_seconds
from procs import (
    LOOPBACK,
    ProcessGroup,
    free_port,
    run_checked,
    terminate_as_interrupt,
    wait_until_ready,
)
from servers import Context, Packyard

BENCH = Path(__file__).resolve().parent
MiB = 1024 * 1024

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


def _packyard(group: ProcessGroup, work: Path, upstream: str, binary: str
              ) -> tuple[str, str, dict[str, str], str, int]:
    """The read endpoint (with ``public:npmjs``), the write endpoint (a repository of its own:
    no upstream to ask about a new name), the auth header, its base URL and its pid."""
    import boto3

    key, secret = "AKIABENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(30)
    port = free_port()
    proc = group.start("packyard", [binary, "serve",
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
    api.create_repository(domain="bench", repository="local")
    token = api.get_authorization_token(domain="bench")["authorizationToken"]
    endpoint = api.get_repository_endpoint(domain="bench", repository="npm",
                                           format="npm")["repositoryEndpoint"]
    local = api.get_repository_endpoint(domain="bench", repository="local",
                                        format="npm")["repositoryEndpoint"]
    return endpoint, local, {"Authorization": f"Bearer {token}"}, base, proc.pid


def _verdaccio(group: ProcessGroup, work: Path, upstream: str, home: Path
               ) -> tuple[str, dict[str, str], int]:
    """Its URL, a publisher's auth header (a user added through its htpasswd plug-in, as
    ``npm adduser`` does) and its pid. Only ``bench-*`` is proxied: the packages published
    here have no uplink to ask."""
    port = free_port()
    config = work / "verdaccio.yaml"
    config.write_text(f"""storage: {work / "verdaccio-storage"}
max_body_size: 2gb
auth:
  htpasswd:
    file: {work / "htpasswd"}
    max_users: 10
uplinks:
  npmjs:
    url: {upstream}
    maxage: 1h
packages:
  'bench-*':
    access: $all
    publish: $authenticated
    proxy: npmjs
  '**':
    access: $all
    publish: $authenticated
log: {{type: stdout, format: pretty, level: warn}}
""")
    proc = group.start("verdaccio", ["node", str(home / "node_modules/verdaccio/bin/verdaccio"),
                                     "-c", str(config), "-l", f"{LOOPBACK}:{port}"],
                       work / "verdaccio.log")
    base = f"http://{LOOPBACK}:{port}/"
    wait_until_ready(proc, base + "-/ping")
    user = json.dumps({"name": "bench", "password": secrets.token_urlsafe(16)}).encode()
    request = urllib.request.Request(base + "-/user/org.couchdb.user:bench", data=user,
                                     method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        token = json.loads(response.read())["token"]
    return base, {"Authorization": f"Bearer {token}"}, proc.pid


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


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else "one round"


# -- the npm client ------------------------------------------------------------------------------


class Npm:
    """The real npm in a home of its own (as tests/integration/npm_clients.py builds one)."""

    def __init__(self, cli: Path, home: Path, auth: dict[str, str]) -> None:
        self.cli, self.home = cli, home
        for sub in ("tmp", "etc"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        lines = []
        for registry, token in auth.items():
            parts = urllib.parse.urlsplit(registry)
            lines.append(f"//{parts.netloc}{parts.path}:_authToken={token}")
        (home / ".npmrc").write_text("\n".join(lines) + "\n")
        (home / "etc" / "npmrc").touch()

    def env(self, cache: Path) -> dict[str, str]:
        node = shutil.which("node") or "/usr/bin/node"
        return {"PATH": os.pathsep.join([str(Path(node).parent), "/usr/bin", "/bin"]),
                "HOME": str(self.home), "TMPDIR": str(self.home / "tmp"), "NO_PROXY": "*",
                "NPM_CONFIG_USERCONFIG": str(self.home / ".npmrc"),
                "NPM_CONFIG_GLOBALCONFIG": str(self.home / "etc" / "npmrc"),
                "NPM_CONFIG_CACHE": str(cache), "NPM_CONFIG_UPDATE_NOTIFIER": "false",
                "NPM_CONFIG_FUND": "false", "NPM_CONFIG_AUDIT": "false"}

    def run(self, *args: str, cwd: Path, cache: Path | None = None) -> float:
        """Seconds ``npm args`` took; fails loudly on a non-zero exit."""
        node = shutil.which("node") or "/usr/bin/node"
        started = time.monotonic()
        proc = subprocess.run([node, str(self.cli), *args], cwd=cwd, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=600,
                              env=self.env(cache or self.home / "cache"))
        took = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"npm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return took


def _project(folder: Path, name: str, dependencies: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {"name": name, "version": "1.0.0", "main": "index.js",
                                   "description": f"{name}, a benchmark package",
                                   "license": "MIT"}
    if dependencies:
        manifest["dependencies"] = dependencies
    (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / "index.js").write_text(f"module.exports = {json.dumps(name)}\n")
    (folder / "README.md").write_text(f"# {name}\n")
    return folder


def _publish_figure(npm: Npm, work: Path, registries: dict[str, str],
                    auths: dict[str, dict[str, str]], count: int) -> dict[str, object]:
    """``npm publish`` of ``count`` small packages to each registry, package by package in
    turn (who goes first alternates), so both see the same machine; then the same number of
    npm's publish bodies sent without the client (the server's share of a publish)."""
    times: dict[str, list[float]] = {server: [] for server in registries}
    order = list(registries)
    for i in range(count):
        folder = _project(work / "publish" / f"pub-{i:03d}", f"pub-{i:03d}")
        for server in order if i % 2 == 0 else order[::-1]:
            times[server].append(npm.run("publish", "--registry", registries[server],
                                         cwd=folder))
    rates = {server: count / sum(t) for server, t in times.items()}
    # The spread: the ratio in each quarter of the packages.
    quarter = max(1, count // 4)
    blocks = [sum(times["verdaccio"][j:j + quarter]) / sum(times["packyard"][j:j + quarter])
              for j in range(0, count, quarter)]
    bare: dict[str, list[float]] = {server: [] for server in registries}
    for i in range(count):
        name = f"bare-{i:03d}"
        tarball = _package_tarball(name, {})
        for server in order if i % 2 == 0 else order[::-1]:
            started = time.monotonic()
            _put_package(registries[server], auths[server], name, tarball, {})
            bare[server].append(time.monotonic() - started)
    bare_rates = {server: count / sum(t) for server, t in bare.items()}
    bare_blocks = [sum(bare["verdaccio"][j:j + quarter]) / sum(bare["packyard"][j:j + quarter])
                   for j in range(0, count, quarter)]
    workspaces = _workspaces_publish(npm, work, registries, count)
    return {"count": count, "packages_per_second": rates, "median_seconds":
            {server: statistics.median(t) for server, t in times.items()},
            "ratio": rates["packyard"] / rates["verdaccio"], "blocks": blocks,
            "bare_packages_per_second": bare_rates,
            "bare_ratio": bare_rates["packyard"] / bare_rates["verdaccio"],
            "bare_blocks": bare_blocks, "workspaces": workspaces}


def _workspaces_publish(npm: Npm, work: Path, registries: dict[str, str],
                        count: int) -> dict[str, object]:
    """``count`` small packages as the workspaces of one monorepo, published to each registry
    by one ``npm publish --workspaces`` (npm publishes them one after another in one process:
    node and npm start once), in two halves so that each server goes first once."""
    halves = (count - count // 2, count // 2)
    seconds: dict[str, list[float]] = {server: [] for server in registries}
    order = list(registries)
    for half, size in enumerate(halves):
        for server in order if half == 0 else order[::-1]:
            root = work / "workspaces" / f"{server}-{half}"
            (root / "packages").mkdir(parents=True, exist_ok=True)
            (root / "package.json").write_text(json.dumps(
                {"name": "monorepo", "private": True, "workspaces": ["packages/*"]}) + "\n")
            for i in range(size):
                _project(root / "packages" / f"ws-{half}-{i:03d}", f"ws-{half}-{i:03d}")
            seconds[server].append(npm.run("publish", "--workspaces",
                                           "--registry", registries[server], cwd=root))
    rates = {server: count / sum(t) for server, t in seconds.items()}
    halves_ratio = [v / p for v, p in zip(seconds["verdaccio"], seconds["packyard"],
                                          strict=True)]
    return {"seconds": seconds, "packages_per_second": rates,
            "ratio": rates["packyard"] / rates["verdaccio"], "halves": halves_ratio}


def _put_package(registry: str, auth: dict[str, str], name: str, tarball: bytes,
                 dependencies: dict[str, str]) -> None:
    """npm's publish body, sent as npm sends it (for seeding the ``npm ci`` tree quickly)."""
    version = "1.0.0"
    filename = f"{name}-{version}.tgz"
    body = json.dumps({
        "_id": name, "name": name, "description": f"{name}, a benchmark package",
        "dist-tags": {"latest": version},
        "versions": {version: {
            "_id": f"{name}@{version}", "name": name, "version": version, "main": "index.js",
            "dependencies": dependencies,
            "dist": {"tarball": f"{registry}{name}/-/{filename}",
                     "shasum": hashlib.sha1(tarball).hexdigest(),
                     "integrity": "sha512-" + base64.b64encode(
                         hashlib.sha512(tarball).digest()).decode()}}},
        "_attachments": {filename: {"content_type": "application/octet-stream",
                                    "data": base64.b64encode(tarball).decode(),
                                    "length": len(tarball)}}}).encode()
    request = urllib.request.Request(registry + name, data=body, method="PUT",
                                     headers={**auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120):
        pass


def _package_tarball(name: str, dependencies: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    manifest = json.dumps({"name": name, "version": "1.0.0", "main": "index.js",
                           "dependencies": dependencies}).encode()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in (("package/package.json", manifest),
                           ("package/index.js", f"module.exports = {name!r}\n".encode()),
                           ("package/filler.bin", secrets.token_bytes(1500))):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _ci_figure(npm: Npm, work: Path, registries: dict[str, str],
               auths: dict[str, dict[str, str]], rounds: int) -> dict[str, object]:
    """``npm ci`` of a 50-package tree (ten chains of five: the project needs the ten heads),
    cold (an empty npm cache) and warm (the cache the cold run filled), in interleaved rounds.
    Each server gets its own lockfile (resolved URLs name the registry)."""
    heads = {}
    for i in range(50):
        name = f"tree-{i:02d}"
        dependencies = {f"tree-{i + 1:02d}": "^1.0.0"} if i % 5 != 4 else {}
        tarball = _package_tarball(name, dependencies)
        for server, registry in registries.items():
            _put_package(registry, auths[server], name, tarball, dependencies)
        if i % 5 == 0:
            heads[name] = "^1.0.0"
    projects = {}
    for server, registry in registries.items():
        project = _project(work / "ci" / server, "ci-project", heads)
        (project / ".npmrc").write_text(f"registry={registry}\n")
        npm.run("install", "--package-lock-only", cwd=project, cache=work / "ci-lock-cache")
        projects[server] = project
    seconds: dict[str, dict[str, list[float]]] = {
        server: {"cold": [], "warm": []} for server in registries}
    order = list(registries)
    for round_ in range(rounds):
        for server in order if round_ % 2 == 0 else order[::-1]:
            project, cache = projects[server], work / "ci-cache" / f"{server}-{round_}"
            for temperature in ("cold", "warm"):
                shutil.rmtree(project / "node_modules", ignore_errors=True)
                seconds[server][temperature].append(npm.run("ci", cwd=project, cache=cache))
            shutil.rmtree(cache, ignore_errors=True)
    out: dict[str, object] = {"seconds": seconds}
    for temperature in ("cold", "warm"):
        # Verdaccio's time ÷ Packyard's: above 1 is Packyard faster.
        ratios = [v / p for v, p in zip(seconds["verdaccio"][temperature],
                                        seconds["packyard"][temperature], strict=True)]
        out[temperature] = {"ratio": statistics.median(ratios), "rounds": ratios}
    return out


def _big_body(work: Path, name: str, mib: int, registry: str) -> tuple[Path, int]:
    """Write a ``mib`` MiB tarball's publish body to a file (gzip level 0: random bytes do not
    compress, and the file is written in seconds), base64 in chunks."""
    tar_path, body_path = work / f"{name}.tgz", work / f"{name}.json"
    filler = mib * 1024 * 1024

    class Random(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            data = os.urandom(len(buffer))
            buffer[:len(data)] = data
            return len(data)

    with tarfile.open(tar_path, mode="w:gz", compresslevel=0) as tar:
        manifest = json.dumps({"name": name, "version": "1.0.0"}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo("package/filler.bin")
        info.size = filler
        tar.addfile(info, io.BufferedReader(Random(), 1 << 20))  # type: ignore[type-var]
    sha512, sha1 = hashlib.sha512(), hashlib.sha1()
    with tar_path.open("rb") as tar_file:
        while chunk := tar_file.read(1 << 20):
            sha512.update(chunk)
            sha1.update(chunk)
    size = tar_path.stat().st_size
    filename = f"{name}-1.0.0.tgz"
    head, tail = json.dumps({
        "_id": name, "name": name, "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"_id": f"{name}@1.0.0", "name": name, "version": "1.0.0",
                               "dist": {"tarball": f"{registry}{name}/-/{filename}",
                                        "shasum": sha1.hexdigest(),
                                        "integrity": "sha512-" + base64.b64encode(
                                            sha512.digest()).decode()}}},
        "_attachments": {filename: {"content_type": "application/octet-stream",
                                    "data": "@DATA@", "length": size}}}).split('"@DATA@"')
    with body_path.open("wb") as body, tar_path.open("rb") as tar_file:
        body.write(head.encode() + b'"')
        while chunk := tar_file.read(3 << 20):
            body.write(base64.b64encode(chunk))
        body.write(b'"' + tail.encode())
    tar_path.unlink()
    return body_path, size


def _big_publish_figure(work: Path, registries: dict[str, str],
                        auths: dict[str, dict[str, str]], pids: dict[str, int], mib: int,
                        name: str) -> dict[str, object]:
    """Each server's time, CPU seconds (its process group's, which a loaded machine moves far
    less than the wall time) and RSS (before, peak, after) for one publish of a ``mib`` MiB
    tarball, npm's body streamed from a file."""
    body, size = _big_body(work, name, mib, "http://registry.invalid/")
    out: dict[str, object] = {"tarball_bytes": size, "body_bytes": body.stat().st_size}
    for server, registry in registries.items():
        parts = urllib.parse.urlsplit(registry)
        before = rss.tree_rss_kib(pids[server]) / 1024
        connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port,
                                                timeout=1800, blocksize=1 << 20)
        started, cpu = time.monotonic(), group_cpu_seconds(pids[server])
        with rss.track_peak(pids[server]) as peak, body.open("rb") as stream:
            try:
                connection.request("PUT", parts.path + name, body=stream, headers={
                    **auths[server], "Content-Type": "application/json",
                    "Content-Length": str(body.stat().st_size)})
                response = connection.getresponse()
                status, answer = response.status, response.read()[:300]
            except (OSError, http.client.HTTPException) as error:
                # Verdaccio 6.8.0 parses the body as one string: past V8's limit it dies.
                status, answer = 0, f"{type(error).__name__}: {error}".encode()
        took, cpu = time.monotonic() - started, group_cpu_seconds(pids[server]) - cpu
        connection.close()
        after = rss.tree_rss_kib(pids[server]) / 1024 if _alive(pids[server]) else 0.0
        out[server] = {"status": status, "answer": answer.decode(errors="replace"),
                       "seconds": took, "cpu_seconds": cpu, "rss_before_mib": round(before, 1),
                       "rss_peak_mib": peak.mib, "rss_after_mib": round(after, 1),
                       "growth_mib": round(peak.mib - before, 1)}
        print(f"{mib} MiB publish {server:10} {out[server]}", file=sys.stderr)
    body.unlink()
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _hot_answers(base: str) -> dict[str, float]:
    """Packyard's own count of what its hot path and fast lane answered (``/metrics``)."""
    wanted = ('packyard_hot_answers_total{format="npm"', "packyard_hot_answers_sent_total")
    text = _get(base + "/metrics", {}).decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(wanted)}


# -- what the suite installs -------------------------------------------------------------------

VERDACCIO = "6.8.0"
NPM = "npm@11.21.2"


def _npm_install(folder: Path, args: list[str], what: str) -> None:
    """``npm install`` into ``folder`` with the machine's npm, unless a finished install
    (``.complete``) is there."""
    if (folder / ".complete").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise SystemExit(f"bench/run npm needs node and npm on PATH to install {what}")
    print(f"installing {what} into {folder}", file=sys.stderr)
    run_checked([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                 "--loglevel=error", *args], 600, what=f"installing {what}")
    (folder / ".complete").touch()


def ensure_verdaccio(work: Path) -> Path:
    """Verdaccio from the npm registry, pinned (6.10 needs Node 22; on Node 20 6.8.0 installs
    only with node-fetch held at 2.7.0)."""
    folder = work / f"verdaccio-{VERDACCIO}"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(json.dumps({
            "private": True, "dependencies": {"verdaccio": VERDACCIO},
            "overrides": {"node-fetch": "2.7.0"}}))
    _npm_install(folder, [], f"verdaccio {VERDACCIO}")
    return folder


def ensure_npm(work: Path) -> Path:
    """npm 11 in a prefix of its own (the client measured), as scripts/test installs it."""
    folder = work / NPM.replace("@", "-")
    _npm_install(folder, ["--no-save", "--no-package-lock", "--ignore-scripts", NPM], NPM)
    return folder / "node_modules" / "npm" / "bin" / "npm-cli.js"


def ensure_packyard(work: Path, group: ProcessGroup, binary: str | None) -> str:
    """``packyard``: the given executable, or this checkout installed as ``bench/run`` does."""
    server = Packyard(Context(work=work, group=group, repo_root=BENCH.parent,
                              packyard_bin=binary))
    server.install()
    return server.binary


# -- the table ---------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _rows(figures: dict[str, dict[str, list[float]]], report: dict[str, Any]
          ) -> list[dict[str, object]]:
    """One row per figure of issue 12's bench list: Packyard's value, its ratios and targets."""
    rows: list[dict[str, object]] = []
    targets = {"packument, full, gzip": (10.0, 0.5), "packument, abbreviated, gzip": (10.0, 0.5),
               "2 KiB tarball": (None, 0.5)}
    for figure, rates in figures.items():
        by_nginx = [p / n for p, n in zip(rates["packyard"], rates["nginx"], strict=True)]
        by_verdaccio = [p / v for p, v in zip(rates["packyard"], rates["verdaccio"],
                                              strict=True)]
        least_verdaccio, least_nginx = targets[figure]
        met = _median(by_nginx) >= least_nginx and (
            least_verdaccio is None or _median(by_verdaccio) >= least_verdaccio)
        goal = (f"≥ {least_verdaccio:g}× Verdaccio, " if least_verdaccio else "") + \
            f"≥ {least_nginx:g}× nginx"
        rows.append({"figure": figure + ", req/s", "packyard": _median(rates["packyard"]),
                     "verdaccio": _median(rates["verdaccio"]), "nginx": _median(rates["nginx"]),
                     "by_verdaccio": _median(by_verdaccio),
                     "by_verdaccio_spread": _spread(by_verdaccio),
                     "by_nginx": _median(by_nginx), "by_nginx_spread": _spread(by_nginx),
                     "target": goal, "met": met})
    publish = report.get("publish")
    if publish:
        rate = publish["packages_per_second"]
        rows.append({"figure": f"npm publish × {publish['count']}, one npm each, packages/s",
                     "packyard": rate["packyard"], "verdaccio": rate["verdaccio"],
                     "by_verdaccio": publish["ratio"],
                     "by_verdaccio_spread": _spread(publish["blocks"]),
                     "target": "≥ 3× Verdaccio", "met": publish["ratio"] >= 3})
        bare = publish["bare_packages_per_second"]
        rows.append({"figure": "the same bodies without npm (server's share), packages/s",
                     "packyard": bare["packyard"], "verdaccio": bare["verdaccio"],
                     "by_verdaccio": publish["bare_ratio"],
                     "by_verdaccio_spread": _spread(publish["bare_blocks"])})
        workspaces = publish.get("workspaces")
        if workspaces:
            rate = workspaces["packages_per_second"]
            rows.append({"figure": f"npm publish --workspaces × {publish['count']} (one npm), "
                                   "packages/s",
                         "packyard": rate["packyard"], "verdaccio": rate["verdaccio"],
                         "by_verdaccio": workspaces["ratio"],
                         "by_verdaccio_spread": _spread(workspaces["halves"]),
                         "target": "≥ 3× Verdaccio", "met": workspaces["ratio"] >= 3})
    ci = report.get("ci")
    if ci:
        for temperature in ("cold", "warm"):
            seconds = ci["seconds"]
            rows.append({"figure": f"npm ci, 50 packages, {temperature}, s (lower is better)",
                         "packyard": _median(seconds["packyard"][temperature]),
                         "verdaccio": _median(seconds["verdaccio"][temperature]),
                         "by_verdaccio": ci[temperature]["ratio"],
                         "by_verdaccio_spread": _spread(ci[temperature]["rounds"]),
                         "note": "Verdaccio's time ÷ Packyard's",
                         "target": "faster than Verdaccio",
                         "met": ci[temperature]["ratio"] > 1})
    for key, what in (("speed", "s (lower is better)"), ("memory", "RSS growth, MiB")):
        big = report.get(key)
        if not big:
            continue
        mib = big["tarball_bytes"] / MiB
        packyard, verdaccio = big["packyard"], big["verdaccio"]
        row: dict[str, object] = {"figure": f"publish of a {mib:.0f} MiB tarball, {what}"}
        if key == "speed":
            row.update(packyard=packyard["seconds"], verdaccio=verdaccio["seconds"],
                       note="Verdaccio's time ÷ Packyard's; server CPU Packyard "
                            f"{packyard['cpu_seconds']:.2f} s, Verdaccio "
                            f"{verdaccio['cpu_seconds']:.2f} s; RSS growth Packyard "
                            f"{packyard['growth_mib']:+.1f} MiB, Verdaccio "
                            f"{verdaccio['growth_mib']:+.1f} MiB")
            if verdaccio["status"] in (200, 201) and packyard["status"] in (200, 201):
                row["by_verdaccio"] = verdaccio["seconds"] / packyard["seconds"]
                rows.append(row)
                row = {"figure": f"publish of a {mib:.0f} MiB tarball, server CPU s (lower "
                                 "is better)", "packyard": packyard["cpu_seconds"],
                       "verdaccio": verdaccio["cpu_seconds"],
                       "by_verdaccio": verdaccio["cpu_seconds"] / packyard["cpu_seconds"],
                       "note": "Verdaccio's CPU ÷ Packyard's"}
        else:
            row.update(packyard=packyard["growth_mib"], verdaccio=verdaccio["growth_mib"],
                       note=f"Packyard {packyard['seconds']:.1f} s, answered "
                            f"{packyard['status']}; Verdaccio answered "
                            f"{verdaccio['status'] or verdaccio['answer']}",
                       target="flat", met=packyard["growth_mib"] < 64)
        rows.append(row)
    return rows


def _cell(value: object, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        value = value + 0.0  # no "-0.00" for a growth that rounds to nothing
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def print_table(rows: list[dict[str, object]]) -> None:
    print("| figure | Packyard | Verdaccio | nginx | ÷ Verdaccio (rounds) | ÷ nginx (rounds) "
          "| target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        by_v = _cell(row.get("by_verdaccio"))
        if row.get("by_verdaccio_spread"):
            by_v += f" ({row['by_verdaccio_spread']})"
        by_n = _cell(row.get("by_nginx"))
        if row.get("by_nginx_spread"):
            by_n += f" ({row['by_nginx_spread']})"
        print(f"| {row['figure']} | {_cell(row.get('packyard'))} | "
              f"{_cell(row.get('verdaccio'))} | {_cell(row.get('nginx'))} | {by_v} | {by_n} | "
              f"{row.get('target', '')} | {_cell(row.get('met'))} |")
    for row in rows:
        if row.get("note"):
            print(f"- {row['figure']}: {row['note']}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs: 2 s loads, one round, 20 publishes, 100/200 MiB "
                             "tarballs (a few minutes)")
    parser.add_argument("--verdaccio", type=Path, default=None,
                        help="a folder Verdaccio 6.8.0 was installed in with npm (default: "
                             "installed under the work folder)")
    parser.add_argument("--npm", type=Path, default=None,
                        help="npm 11's bin/npm-cli.js (default: installed under the work folder)")
    parser.add_argument("--packyard-bin", default=os.environ.get("BENCH_PACKYARD_BIN"),
                        help="an existing `packyard` executable (default: this checkout)")
    parser.add_argument("--versions", type=int, default=3500)
    parser.add_argument("--seconds", type=float, default=None, help="each load run (10; quick 2)")
    parser.add_argument("--rounds", type=int, default=None, help="read and ci rounds (3; quick 1)")
    parser.add_argument("--publish-count", type=int, default=None, help="100; quick 20")
    parser.add_argument("--speed-mib", type=int, default=None,
                        help="the timed big publish (300; quick 100; 0 skips it)")
    parser.add_argument("--big-mib", type=int, default=None,
                        help="the RSS figure's tarball (500; quick 200; 0 skips it)")
    parser.add_argument("--only", default="reads,publish,ci,speed,memory")
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("BENCH_WORK", BENCH / ".work")))
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "npm.json")
    args = parser.parse_args(argv)
    quick = args.quick
    seconds = args.seconds or (2.0 if quick else 10.0)
    rounds = args.rounds or (1 if quick else 3)
    publish_count = args.publish_count or (20 if quick else 100)
    speed_mib = args.speed_mib if args.speed_mib is not None else (100 if quick else 300)
    big_mib = args.big_mib if args.big_mib is not None else (200 if quick else 500)
    only = set(args.only.split(","))
    root: Path = args.work.resolve()
    tools = root / "npm-tools"
    verdaccio_home = args.verdaccio or ensure_verdaccio(tools)
    npm_cli = args.npm or ensure_npm(tools)
    shape = load.LoadShape(seconds=seconds)
    work = root / "run" / "npm"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script = load.write_script(work)
    small = _tarball(SMALL, 2048)
    figures: dict[str, dict[str, list[float]]] = {}
    report: dict[str, Any] = {}
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with terminate_as_interrupt(), ProcessGroup() as group:
        binary = ensure_packyard(root, group, args.packyard_bin)
        upstream_files: dict[str, bytes] = {}
        with _registry(upstream_files) as upstream:
            upstream_files[f"/{BIG}"] = _packument(BIG, args.versions, upstream, None)
            upstream_files[f"/{SMALL}"] = _packument(SMALL, 1, upstream, small)
            upstream_files[f"/{SMALL}/-/{SMALL}-0.0.0.tgz"] = small
            endpoint, local, auth, packyard_base, packyard_pid = _packyard(group, work,
                                                                           upstream, binary)
            verdaccio, verdaccio_auth, verdaccio_pid = _verdaccio(group, work, upstream,
                                                                  verdaccio_home)
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
        cases: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
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
        servers = ("packyard", "verdaccio", "nginx")
        for round_ in range(rounds if "reads" in only else 0):
            turn = round_ % len(servers)
            for figure, targets in cases.items():
                rates = figures.setdefault(figure, {server: [] for server in servers})
                pairs = list(zip(servers, targets, strict=True))
                for server, (url, headers) in pairs[turn:] + pairs[:turn]:
                    if server == "verdaccio" and round_ > 0 and rates[server][0] < 50:
                        # Verdaccio's packuments take seconds each; once is enough.
                        rates[server].append(rates[server][0])
                        continue
                    try:
                        result = load.measure(url, headers, shape, script)
                        rate, how = result.requests_per_second, f"p50 {result.p50_ms:6.1f} ms"
                    except load.LoadFailed as error:
                        if "no request" not in str(error):
                            raise
                        # Slower than 16 connections can finish in the run: one at a time.
                        rate, how = _sequential(url, headers, seconds), "one at a time"
                    rates[server].append(rate)
                    print(f"round {round_} {figure:30} {server:10} {rate:9.1f} req/s {how}",
                          file=sys.stderr)
        if figures:
            report["hot_answers"] = _hot_answers(packyard_base)
        registries = {"packyard": local, "verdaccio": verdaccio}
        auths = {"packyard": auth, "verdaccio": verdaccio_auth}
        pids = {"packyard": packyard_pid, "verdaccio": verdaccio_pid}
        tokens = {registry: auths[server]["Authorization"].split(" ", 1)[1]
                  for server, registry in registries.items()}
        npm = Npm(npm_cli, work / "npm-home", tokens)
        if "publish" in only:
            report["publish"] = _publish_figure(npm, work, registries, auths, publish_count)
            print(f"publish {report['publish']}", file=sys.stderr)
        if "ci" in only:
            report["ci"] = _ci_figure(npm, work, registries, auths, rounds)
            print(f"ci {report['ci']}", file=sys.stderr)
        if speed_mib and "speed" in only:
            report["speed"] = _big_publish_figure(work, registries, auths, pids, speed_mib,
                                                  "speed-upload")
        # Last: Verdaccio 6.8.0 dies past V8's string limit (about 384 MiB of tarball).
        if big_mib and "memory" in only:
            report["memory"] = _big_publish_figure(work, registries, auths, pids, big_mib,
                                                   "big-upload")
    sizes = {name: len(data) for name, data in served.items()}
    rows = _rows(figures, report)
    meta = {"date": started_at, "mode": "quick" if quick else "full", "seconds": seconds,
            "rounds": rounds, "publish_count": publish_count, "speed_mib": speed_mib,
            "big_mib": big_mib, "versions": args.versions, "bytes": sizes,
            "verdaccio": VERDACCIO, "npm": NPM if args.npm is None else str(args.npm),
            "packyard_python": interpreter_of(binary), "load_average": os.getloadavg()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"meta": meta, "rows": rows, "figures": figures,
                                       **report}, indent=2, default=str) + "\n")
    print(f"npm benchmark ({meta['mode']}, {started_at}; Packyard ÷ peer, higher is better "
          "unless a row says otherwise)\n")
    print_table(rows)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
