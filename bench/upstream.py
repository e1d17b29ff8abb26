#!/usr/bin/env python3
"""Pull-through caches compared: cold and warm `uv pip install` of a fixed set of real packages.

Packyard (team repository -> store repository with the public:pypi external connection),
devpi-server (a mirror index) and proxpi each sit in front of the same local upstream: a static
PEP 503 index of real wheels served on 127.0.0.1, so nothing leaves the machine while measuring.
`--servers ...,bare` adds `bare_proxy.py`, the least a pull-through can do on Packyard's own
stack (Starlette, uvicorn, httpx; nothing authorized, verified, encrypted or recorded): the
floor the others' figures are read against.

- cold: a new server with an empty cache; everything is fetched from the upstream once.
- warm: the same server again; everything comes from its cache.

Two measurements, each cold and warm:

- install: one `uv pip install --no-cache` of the whole set into a fresh virtualenv (about 50
  distributions once dependencies are in) — what a user waits for, much of it uv's own work;
  uv keeps its connections open, as installers do;
- fetch: every project page and every wheel of the set read by 8 threads, the way an installer
  reads them but without installing — the servers' own share (urllib: a new connection for
  every request); `--fetch-clients 1` reads them one after the other (each request's latency);
- pages: the project pages of 12 of PyPI's largest projects (awscli, botocore, grpcio, …:
  1,500 to 11,000 files each, as PyPI lists them), read one after the other as pip asks for
  them (PEP 691 JSON preferred): cold, each read is the first the server has seen, so it
  fetches, parses and keeps the upstream's page; warm, the same reads again. The upstream
  serves copies of PyPI's own pages, downloaded once (JSON to who asks for it, else HTML).
- large: one large wheel (300 MiB of random bytes, `--large-mib`; made once) read by one
  client, its page then the file: cold, the server pulls it through (verifies, hashes, keeps;
  Packyard also encrypts); warm, the same read from the server's copy. Large wheels (torch,
  tensorflow, CUDA libraries) are where a pull-through's throughput is what a user waits for.

Each also gives the server's own CPU seconds (its processes, from /proc).

The report gives medians and each peer's time divided by Packyard's (above 1: Packyard is
faster).

Run it with an interpreter that has Packyard installed (the repository's .venv-test, or
`pip install -e .`):

    .venv-test/bin/python bench/upstream.py [--runs 3] [--servers packyard,devpi,proxpi]

Standalone: it shares no code with the rest of bench/. Work files go to bench/.work/upstream.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOOPBACK = "127.0.0.1"

# Projects with some of PyPI's largest pages (1,500 to 11,000 files), for the pages phase.
BIG_PROJECTS = (
    "awscli", "boto3", "botocore", "cryptography", "grpcio", "numpy", "pandas", "protobuf",
    "pyarrow", "scipy", "setuptools", "tensorflow",
)
PYPI_JSON = "application/vnd.pypi.simple.v1+json"
# What pip asks an index for.
PIP_ACCEPT = f"{PYPI_JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"

# Top-level requirements; with their dependencies they come to about 50 distributions.
REQUIREMENTS = (
    "requests", "flask", "rich", "pydantic", "httpx", "attrs", "pyyaml", "sqlalchemy",
    "alembic", "boto3", "pytest", "black", "numpy", "markdown", "tomli", "cryptography",
    "python-dateutil", "pytz", "tzdata", "wrapt", "decorator", "tabulate", "toolz",
    "cachetools", "filelock", "distlib", "docutils",
)

PEERS: dict[str, tuple[str, ...]] = {
    "devpi": ("devpi-server==6.20.3",),
    "proxpi": ("proxpi==1.3.1", "gunicorn==27.0.1"),
}

# The upstream: `python -m http.server`'s handler (HTTP/1.0, a connection per request), on a
# server whose listen queue holds 128 connections, as a real index's does (nginx: 511).
# http.server's own queue holds 5: when a cache opened more connections than that at once (the
# first pages of 8 readers, then a wheel and its .metadata file each), the kernel dropped a
# connection attempt and the client tried again a second later (TcpExtListenOverflows), so one
# request in a cold run waited about 1 s for nothing the cache did (bench/UPSTREAM.md, round 6).
# A folder with an index.json beside its index.html answers PEP 691 JSON to a client that asks
# for it, as PyPI does (the pages phase's copies of PyPI's pages).
UPSTREAM_SERVER = """
import functools, io, os, sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
class Server(ThreadingHTTPServer):
    request_queue_size = 128
class Quiet(SimpleHTTPRequestHandler):
    def log_request(self, *args):  # errors are still logged (log_error)
        pass
    def send_head(self):
        found = os.path.join(self.translate_path(self.path), "index.json")
        if (self.path.endswith("/") and os.path.isfile(found)
                and "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")):
            with open(found, "rb") as page:
                body = page.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()
host, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
Server((host, port), functools.partial(Quiet, directory=directory)).serve_forever()
"""

ROOT_KEY = "AKIABENCHUPSTREAM001"
ROOT_SECRET = "bench-upstream-secret-" + "0" * 16


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment without proxies, pip/uv settings or AWS settings."""
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith(("PIP_", "UV_", "AWS_", "PACKYARD_"))}
    env.update(extra)
    return env


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        sys.exit("uv not found next to this interpreter or on PATH")
    return found


def run(cmd: Sequence[str | Path], *, env: dict[str, str] | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, env=env or clean_env(), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass
class Process:
    """A server subprocess in its own session, with its log in a file."""

    name: str
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, name: str, cmd: Sequence[str | Path], log: Path,
              env: dict[str, str], cwd: Path | None = None) -> Process:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True, cwd=cwd)
        return cls(name, proc)

    def wait_ready(self, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes: every process of its
        session (gunicorn's workers too), with the children they have reaped."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            # After the command: state, ppid, pgrp, session, …, utime (12), stime, cutime, cstime.
            if int(fields[3]) == self.proc.pid:
                ticks += sum(int(f) for f in fields[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")

    def cpu_until_quiet(self, window: float = 0.5, quiet_windows: int = 3,
                        limit: float = 30.0) -> float:
        """CPU seconds the server spends from now until it is quiet (``quiet_windows`` windows
        in a row with under 10 ms of CPU each, at most ``limit`` seconds): background work a
        read left behind (Packyard fills in a pulled file's other digests after it is kept),
        which the timed reads do not show."""
        started, deadline = self.cpu_seconds(), time.monotonic() + limit
        last, quiet = started, 0
        while quiet < quiet_windows and time.monotonic() < deadline:
            time.sleep(window)
            now = self.cpu_seconds()
            quiet = quiet + 1 if now - last < 0.01 else 0
            last = now
        return last - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


def venv_with(path: Path, requirements: Sequence[str]) -> Path:
    """A virtualenv holding ``requirements`` (rebuilt only when they change); its bin dir."""
    stamp = path / ".bench-requirements"
    # The interpreter too: a venv made from another one is made again.
    wanted = "\n".join([*requirements, os.path.realpath(getattr(sys, "_base_executable",
                                                                 sys.executable))])
    if not (stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(path, ignore_errors=True)
        run([uv(), "venv", "--quiet", "--python", sys.executable, path])
        run([uv(), "pip", "install", "--quiet", "--python", path / "bin" / "python",
             *requirements])
        stamp.write_text(wanted)
    return path / "bin"


# --------------------------------------------------------------------------- the upstream


def build_upstream(root: Path) -> dict[str, list[str]]:
    """Download the wheels once and lay them out as a PEP 503 index; project -> wheel names."""
    files = root / "files"
    stamp = root / ".requirements"
    if not (stamp.exists() and stamp.read_text() == "\n".join(REQUIREMENTS)):
        shutil.rmtree(root, ignore_errors=True)
        files.mkdir(parents=True)
        # pip, as a user would: wheels only, for this interpreter.
        run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
             "--dest", files, *REQUIREMENTS], env=clean_env())
        stamp.write_text("\n".join(REQUIREMENTS))
    by_project: dict[str, list[Path]] = {}
    for wheel in sorted(files.glob("*.whl")):
        project = wheel.name.split("-", 1)[0].replace("_", "-").replace(".", "-").lower()
        by_project.setdefault(project, []).append(wheel)
    simple = root / "simple"
    shutil.rmtree(simple, ignore_errors=True)
    for project, wheels in by_project.items():
        (simple / project).mkdir(parents=True)
        _write_links(simple / project, [_wheel_link(w, "../../files/") for w in wheels])
    _write_links(simple, [f'<a href="{p}/">{p}</a>' for p in sorted(by_project)])
    return {project: [w.name for w in wheels] for project, wheels in by_project.items()}


def _wheel_link(wheel: Path, prefix: str) -> str:
    """A PEP 503 anchor for ``wheel`` (its sha256 read in pieces: the large phase's is
    hundreds of MiB) with its PEP 658 metadata file's hash, written beside it."""
    with wheel.open("rb") as stream:
        sha256 = hashlib.file_digest(stream, "sha256").hexdigest()
    name = html.escape(wheel.name)
    return (f'<a href="{prefix}{name}#sha256={sha256}" '
            f'data-core-metadata="sha256={_core_metadata(wheel)}">{name}</a>')


def _write_links(folder: Path, anchors: Sequence[str]) -> None:
    """``folder``/index.html: a PEP 503 page of ``anchors``."""
    links = "".join(f"{anchor}<br>\n" for anchor in anchors)
    (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


def build_pages(root: Path) -> None:
    """Download the pages of BIG_PROJECTS once from PyPI, as JSON and as HTML, into a PEP 503
    layout of their own (their files are never asked for)."""
    simple = root / "simple"
    stamp = root / ".projects"
    if not (stamp.exists() and stamp.read_text() == "\n".join(BIG_PROJECTS)):
        shutil.rmtree(root, ignore_errors=True)
        for project in BIG_PROJECTS:
            (simple / project).mkdir(parents=True)
            for accept, name in ((PYPI_JSON, "index.json"), ("text/html", "index.html")):
                request = urllib.request.Request(f"https://pypi.org/simple/{project}/",
                                                 headers={"Accept": accept})
                with urllib.request.urlopen(request, timeout=120) as response:
                    (simple / project / name).write_bytes(response.read())
        # The root's list of projects, which devpi's mirror reads first.
        _write_links(simple, [f'<a href="{p}/">{p}</a>' for p in BIG_PROJECTS])
        stamp.write_text("\n".join(BIG_PROJECTS))


def timed_pages(index_url: str, projects: Sequence[str]) -> float:
    """Seconds to read every project's page, one after the other, as pip asks for them."""
    opener, base = _opener(index_url, PIP_ACCEPT)
    started = time.perf_counter()
    for project in projects:
        with opener.open(f"{base}{project}/", timeout=300) as response:
            if not response.read():
                raise RuntimeError(f"the page of {project} is empty")
    return time.perf_counter() - started


LARGE_PROJECT = "bench-large"


def build_large(root: Path, mib: int) -> str:
    """A PEP 503 index of one project holding one wheel of ``mib`` MiB of random bytes (stored,
    not compressed: nothing shrinks it on the way) and its core metadata file; made once per
    size. Returns the wheel's file name."""
    name = "bench_large-1.0-py3-none-any.whl"
    folder = root / "simple" / LARGE_PROJECT
    stamp = root / ".size"
    if stamp.exists() and stamp.read_text() == str(mib):
        return name
    shutil.rmtree(root, ignore_errors=True)
    folder.mkdir(parents=True)
    wheel = folder / name
    metadata = "Metadata-Version: 2.1\nName: bench-large\nVersion: 1.0\n\n"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("bench_large/__init__.py", "")
        with archive.open("bench_large/data.bin", "w", force_zip64=True) as data:
            for _ in range(mib):
                data.write(os.urandom(1024 * 1024))
        archive.writestr("bench_large-1.0.dist-info/METADATA", metadata)
        archive.writestr("bench_large-1.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n")
        archive.writestr("bench_large-1.0.dist-info/RECORD", "")
    _write_links(folder, [_wheel_link(wheel, "")])
    _write_links(root / "simple", [f'<a href="{LARGE_PROJECT}/">{LARGE_PROJECT}</a>'])
    stamp.write_text(str(mib))
    return name


def timed_large(index_url: str, wheel: str, size: int) -> float:
    """Seconds to read the large project's page, then its wheel, whole."""
    opener, base = _opener(index_url, "text/html")
    started = time.perf_counter()
    page_url = f"{base}{LARGE_PROJECT}/"
    with opener.open(page_url, timeout=300) as response:
        page = response.read().decode()
    href = next(h for h in _HREF.findall(page) if wheel in html.unescape(h))
    target = urllib.parse.urljoin(page_url, html.unescape(href).split("#", 1)[0])
    got = 0
    with opener.open(target, timeout=600) as response:
        while chunk := response.read(1024 * 1024):
            got += len(chunk)
    if got != size:
        raise RuntimeError(f"{wheel}: {got} bytes read, {size} expected")
    return time.perf_counter() - started


def _core_metadata(wheel: Path) -> str:
    """Write the wheel's PEP 658 core metadata file beside it, as PyPI serves one for every
    wheel; its sha256, for the page's ``data-core-metadata``."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        data = archive.read(name)
    wheel.with_name(wheel.name + ".metadata").write_bytes(data)
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the caches


@dataclass
class Cache:
    """One pull-through cache: started on an empty data folder, gives an index URL."""

    name: str
    work: Path
    upstream: str
    process: Process | None = None
    version: str = ""

    def start(self, data: Path) -> str:
        raise NotImplementedError

    def grant_misses(self) -> float | None:
        """How often a read found no grant to reuse (Packyard's ``/metrics``); None elsewhere."""
        return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@dataclass
class PackyardCache(Cache):
    # Another checkout's packyard/ (``--baseline-src``): run that code instead, for a
    # before/after comparison in one run.
    source: Path | None = None
    # ``packyard:N`` in --servers: N worker processes (``packyard serve --workers N``), as
    # proxpi runs two gunicorn workers; 1 otherwise.
    workers: int = 1
    base: str = ""

    def grant_misses(self) -> float | None:
        with urllib.request.urlopen(self.base + "/metrics", timeout=30) as response:
            text = response.read().decode()
        found = re.search(r'^packyard_cache_misses_total\{cache="read_grants"\} (\S+)$', text,
                          re.M)
        return float(found.group(1)) if found else None

    def start(self, data: Path) -> str:
        import botocore.session

        from packyard import __version__

        self.version = __version__ if self.source is None else "baseline"
        port = free_port()
        env = clean_env(PACKYARD_ROOT_ACCESS_KEY_ID=ROOT_KEY,
                        PACKYARD_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET,
                        PACKYARD_PYPI_UPSTREAM_URL=self.upstream)
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        self.process = Process.start(
            "packyard", [sys.executable, "-m", "packyard", "serve", "--host", LOOPBACK,
                         "--port", str(port), "--data-dir", data, "--log-level", "warning",
                         *(["--workers", str(self.workers)] if self.workers > 1 else [])],
            data.parent / "packyard.log", env,
            # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH:
            # run from the repository's root, a baseline would import this checkout.
            cwd=self.source if self.source is not None else REPO)
        base = f"http://{LOOPBACK}:{port}"
        self.process.wait_ready(base + "/health")
        self.base = base
        api = botocore.session.get_session().create_client(
            "codeartifact", region_name="us-east-1", endpoint_url=base,
            aws_access_key_id=ROOT_KEY, aws_secret_access_key=ROOT_SECRET)
        api.create_domain(domain="bench")
        api.create_repository(domain="bench", repository="pypi-store")
        api.associate_external_connection(domain="bench", repository="pypi-store",
                                          externalConnection="public:pypi")
        api.create_repository(domain="bench", repository="team",
                              upstreams=[{"repositoryName": "pypi-store"}])
        token = api.get_authorization_token(domain="bench")["authorizationToken"]
        return f"http://aws:{token}@{LOOPBACK}:{port}/bench-000000000000/pypi/team/simple/"


@dataclass
class DevpiCache(Cache):
    def start(self, data: Path) -> str:
        bin_dir = venv_with(self.work / "venvs" / "devpi", PEERS["devpi"])
        self.version = PEERS["devpi"][0].split("==")[1]
        password = secrets.token_urlsafe(12)
        # One argument: a password starting with "-" would read as an option (one in ~64
        # runs stopped the bench so).
        run([bin_dir / "devpi-init", "--serverdir", data, "--no-root-pypi",
             f"--root-passwd={password}"])
        port = free_port()
        self.process = Process.start(
            "devpi", [bin_dir / "devpi-server", "--serverdir", data, "--host", LOOPBACK,
                      "--port", str(port)], data.parent / "devpi.log", clean_env())
        base = f"http://{LOOPBACK}:{port}"
        self.process.wait_ready(base + "/+api")
        login = _json_call("POST", base + "/+login", {"user": "root", "password": password})
        result = login["result"]
        assert isinstance(result, dict)
        auth = base64.b64encode(f"root:{result['password']}".encode()).decode()
        _json_call("PUT", base + "/root/upstream",
                   {"type": "mirror", "mirror_url": self.upstream}, auth)
        return f"{base}/root/upstream/+simple/"


@dataclass
class ProxpiCache(Cache):
    def start(self, data: Path) -> str:
        bin_dir = venv_with(self.work / "venvs" / "proxpi", PEERS["proxpi"])
        self.version = PEERS["proxpi"][0].split("==")[1]
        port = free_port()
        env = clean_env(PROXPI_INDEX_URL=self.upstream, PROXPI_EXTRA_INDEX_URLS="",
                        PROXPI_CACHE_DIR=str(data), PROXPI_INDEX_TTL="3600",
                        PROXPI_DOWNLOAD_TIMEOUT="300")
        # --preload: the app (its cache directory scanned) made once before the workers
        # fork. Without it a worker booting late scans the directory while the first is
        # already downloading, unlinks a partial file that moved meanwhile, exits, and
        # gunicorn stops the whole server mid-run (seen 2026-12-03: "Worker failed to boot").
        self.process = Process.start(
            "proxpi", [bin_dir / "gunicorn", "--workers", "2", "--preload",
                       "--bind", f"{LOOPBACK}:{port}", "proxpi.server:app"],
            data.parent / "proxpi.log", env)
        base = f"http://{LOOPBACK}:{port}"
        self.process.wait_ready(base + "/health")
        return f"{base}/index/"


@dataclass
class BareCache(Cache):
    """``bare_proxy.py``: the floor of the stack (no authorization, verification, encryption
    or records), run as Packyard runs, by this interpreter's uvicorn."""

    def start(self, data: Path) -> str:
        self.version = "floor"
        port = free_port()
        env = clean_env(BARE_UPSTREAM=self.upstream, BARE_DATA=str(data))
        self.process = Process.start(
            "bare", [sys.executable, "-m", "uvicorn", "--app-dir", HERE, "--host", LOOPBACK,
                     "--port", str(port), "--log-level", "warning", "bare_proxy:app"],
            data.parent / "bare.log", env)
        base = f"http://{LOOPBACK}:{port}"
        self.process.wait_ready(base + "/health")
        return f"{base}/index/"


def _json_call(method: str, url: str, body: dict[str, object],
               auth: str = "") -> dict[str, object]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
    if auth:
        request.add_header("X-Devpi-Auth", auth)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, object] = json.load(response)
        return answer


MakeCache = Callable[[str, Path, str], Cache]


def _with_workers(make: MakeCache, count: int) -> MakeCache:
    """``make``, its Packyard serving with ``count`` worker processes."""
    def made(name: str, work: Path, upstream: str) -> Cache:
        cache = make(name, work, upstream)
        assert isinstance(cache, PackyardCache)
        return replace(cache, workers=count)
    return made


CACHES: dict[str, MakeCache] = {
    "packyard": lambda name, work, up: PackyardCache(name, work, up),
    "devpi": lambda name, work, up: DevpiCache(name, work, up),
    "proxpi": lambda name, work, up: ProxpiCache(name, work, up),
    "bare": lambda name, work, up: BareCache(name, work, up),
}


# --------------------------------------------------------------------------- measuring


def timed_install(index_url: str, scratch: Path) -> float:
    """Seconds for one `uv pip install` of the whole set into a fresh venv (venv not timed)."""
    shutil.rmtree(scratch, ignore_errors=True)
    env = clean_env(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")
    run([uv(), "venv", "--quiet", "--python", sys.executable, scratch / "venv"], env=env)
    started = time.perf_counter()
    run([uv(), "pip", "install", "--quiet", "--no-cache", "--python",
         scratch / "venv" / "bin" / "python", "--index-url", index_url, *REQUIREMENTS], env=env)
    return time.perf_counter() - started


_HREF = re.compile(r'href="([^"]+)"')


def _opener(index_url: str, accept: str) -> tuple[urllib.request.OpenerDirector, str]:
    """An opener sending ``accept`` and the URL's credentials; the URL without them."""
    parts = urllib.parse.urlsplit(index_url)
    opener = urllib.request.build_opener()
    opener.addheaders = [("Accept", accept)]
    if parts.username:
        token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
        opener.addheaders.append(("Authorization", f"Basic {token}"))
    netloc = f"{parts.hostname or LOOPBACK}:{parts.port}"  # without the credentials
    return opener, urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def timed_fetch(index_url: str, wheels: dict[str, list[str]], clients: int = 8) -> float:
    """Seconds to read every project's page and its wheels, ``clients`` at a time (8: as an
    installer would; 1: each request's own latency, one after the other)."""
    # PEP 503 HTML, which all three serve (proxpi answers 406 to a request without Accept).
    opener, base = _opener(index_url, "text/html")

    def project(name: str) -> int:
        page_url = f"{base}{name}/"
        with opener.open(page_url, timeout=300) as response:
            page = response.read().decode()
        got = 0
        for href in _HREF.findall(page):
            target = urllib.parse.urljoin(page_url, html.unescape(href).split("#", 1)[0])
            if urllib.parse.unquote(target.rsplit("/", 1)[-1]) in wheels[name]:
                with opener.open(target, timeout=300) as response:
                    got += len(response.read())
        return got

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        sizes = list(pool.map(project, sorted(wheels)))
    if not all(sizes):
        raise RuntimeError("a project's wheel was not found on its page")
    return time.perf_counter() - started


@dataclass
class Figures:
    name: str
    version: str = ""
    install_cold: list[float] = field(default_factory=list)
    install_warm: list[float] = field(default_factory=list)
    fetch_cold: list[float] = field(default_factory=list)
    fetch_warm: list[float] = field(default_factory=list)
    # The server's own CPU seconds for each install and fetch (less noisy than wall time on a
    # busy machine).
    install_cold_cpu: list[float] = field(default_factory=list)
    install_warm_cpu: list[float] = field(default_factory=list)
    fetch_cold_cpu: list[float] = field(default_factory=list)
    fetch_warm_cpu: list[float] = field(default_factory=list)
    pages_cold: list[float] = field(default_factory=list)
    pages_warm: list[float] = field(default_factory=list)
    pages_cold_cpu: list[float] = field(default_factory=list)
    large_cold: list[float] = field(default_factory=list)
    large_warm: list[float] = field(default_factory=list)
    large_cold_cpu: list[float] = field(default_factory=list)
    # CPU the server spends after a phase's cold reads until it is quiet (work left for later),
    # before its warm reads begin.
    install_after_cpu: list[float] = field(default_factory=list)
    fetch_after_cpu: list[float] = field(default_factory=list)
    large_after_cpu: list[float] = field(default_factory=list)
    # Packyard: reads that found no read grant to reuse during each cold install (a grant is
    # kept per connection; what drops it makes the next request evaluate policies again).
    install_cold_grant_misses: list[float] = field(default_factory=list)


def measure(cache: Cache, figures: Figures, attempt: int, work: Path,
            wheels: dict[str, list[str]],
            phases: Sequence[str] = ("install", "fetch"),
            upstreams: Mapping[str, str] | None = None,
            large: tuple[str, int] = ("", 0), keep_data: bool = False,
            fetch_clients: int = 8) -> None:
    """One run of ``cache``: each phase on a fresh server, its figures added to ``figures``.
    ``upstreams``: the phases that read an upstream of their own (pages, large), its URL;
    ``large``: the large wheel's name and size. The server's data is removed after the phase
    (its log stays beside it) unless ``keep_data``: a large phase leaves ~0.6 GB a run."""
    for phase in phases:
        data = work / "runs" / cache.name / f"run{attempt}-{phase}" / "data"
        shutil.rmtree(data.parent, ignore_errors=True)
        data.mkdir(parents=True)
        # The pages and large phases read upstreams of their own: copies of PyPI's largest
        # pages; one large wheel.
        own = (upstreams or {}).get(phase)
        server = replace(cache, upstream=own) if own else cache
        try:
            url = server.start(data)
            figures.version = server.version
            assert server.process is not None
            if phase == "install":
                for temperature in ("cold", "warm"):
                    cpu, misses = server.process.cpu_seconds(), server.grant_misses()
                    getattr(figures, f"install_{temperature}").append(
                        timed_install(url, work / "scratch"))
                    getattr(figures, f"install_{temperature}_cpu").append(
                        server.process.cpu_seconds() - cpu)
                    after = server.grant_misses()
                    if temperature == "cold" and misses is not None and after is not None:
                        figures.install_cold_grant_misses.append(after - misses)
                    if temperature == "cold":
                        # The next install comes later, once the server is quiet (see fetch).
                        figures.install_after_cpu.append(server.process.cpu_until_quiet())
            elif phase == "pages":
                cpu = server.process.cpu_seconds()
                figures.pages_cold.append(timed_pages(url, BIG_PROJECTS))
                figures.pages_cold_cpu.append(server.process.cpu_seconds() - cpu)
                figures.pages_warm.append(timed_pages(url, BIG_PROJECTS))
            elif phase == "large":
                cpu = server.process.cpu_seconds()
                figures.large_cold.append(timed_large(url, *large))
                figures.large_cold_cpu.append(server.process.cpu_seconds() - cpu)
                # The warm read is a later client's: after the work the pull left (see fetch).
                figures.large_after_cpu.append(server.process.cpu_until_quiet())
                figures.large_warm.append(timed_large(url, *large))
            else:
                for temperature in ("cold", "warm"):
                    cpu = server.process.cpu_seconds()
                    getattr(figures, f"fetch_{temperature}").append(
                        timed_fetch(url, wheels, fetch_clients))
                    getattr(figures, f"fetch_{temperature}_cpu").append(
                        server.process.cpu_seconds() - cpu)
                    if temperature == "cold":
                        # The warm fetch is the next install's, which comes seconds or days
                        # later, not within the millisecond (issue 16: installs spaced further
                        # apart than any cache window): it begins once the server is quiet
                        # again, after the work the cold one left for later (Packyard: the
                        # pulls' other digests, merged pages made again), counted here.
                        figures.fetch_after_cpu.append(server.process.cpu_until_quiet())
        finally:
            server.stop()
            if not keep_data:
                shutil.rmtree(data, ignore_errors=True)
    done = []
    if "install" in phases:
        missed = (f", {figures.install_cold_grant_misses[-1]:.0f} grant misses"
                  if figures.install_cold_grant_misses else "")
        done.append(f"install cold {figures.install_cold[-1]:.2f}s "
                    f"(server CPU {figures.install_cold_cpu[-1]:.2f}s{missed}), then "
                    f"{figures.install_after_cpu[-1]:.2f}s of CPU until quiet, "
                    f"warm {figures.install_warm[-1]:.2f}s "
                    f"(CPU {figures.install_warm_cpu[-1]:.2f}s)")
    if "fetch" in phases:
        done.append(f"fetch cold {figures.fetch_cold[-1]:.2f}s "
                    f"(server CPU {figures.fetch_cold_cpu[-1]:.2f}s), then "
                    f"{figures.fetch_after_cpu[-1]:.2f}s of CPU until quiet, "
                    f"warm {figures.fetch_warm[-1]:.2f}s "
                    f"(CPU {figures.fetch_warm_cpu[-1]:.2f}s)")
    if "pages" in phases:
        done.append(f"pages cold {figures.pages_cold[-1]:.2f}s "
                    f"(server CPU {figures.pages_cold_cpu[-1]:.2f}s) "
                    f"warm {figures.pages_warm[-1]:.2f}s")
    if "large" in phases:
        done.append(f"large cold {figures.large_cold[-1]:.2f}s "
                    f"(server CPU {figures.large_cold_cpu[-1]:.2f}s), then "
                    f"{figures.large_after_cpu[-1]:.2f}s of CPU until quiet, "
                    f"warm {figures.large_warm[-1]:.2f}s")
    print(f"  {cache.name} run {attempt + 1}: {'; '.join(done)}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)


def run_interleaved(caches: Sequence[Cache], runs: int, work: Path,
                    wheels: dict[str, list[str]], phases: Sequence[str],
                    upstreams: Mapping[str, str] | None = None,
                    large: tuple[str, int] = ("", 0), keep_data: bool = False,
                    fetch_clients: int = 8) -> list[Figures]:
    """Run i of every server before run i + 1 of any, in an order reversed every other run: a
    change of the machine's load (other work on a shared machine) then falls on every server
    alike instead of on whichever ran last."""
    results = [Figures(cache.name) for cache in caches]
    for attempt in range(runs):
        pairs = list(zip(caches, results, strict=True))
        for cache, figures in pairs if attempt % 2 == 0 else reversed(pairs):
            measure(cache, figures, attempt, work, wheels, phases, upstreams, large,
                    keep_data, fetch_clients)
    return results


def report(results: list[Figures], distributions: int) -> str:
    base = next((r for r in results if r.name == "packyard"), None)
    columns = [c for c in ("install_cold", "install_warm", "install_cold_cpu",
                           "install_warm_cpu", "install_after_cpu", "fetch_cold", "fetch_warm",
                           "fetch_cold_cpu", "fetch_warm_cpu", "fetch_after_cpu", "pages_cold",
                           "pages_warm", "pages_cold_cpu", "large_cold", "large_warm", "large_cold_cpu",
                           "large_after_cpu")
               # a phase not measured (--phases) leaves its columns out
               if any(getattr(r, c) for r in results)]
    lines = [f"{len(REQUIREMENTS)} requirements, {distributions} wheels upstream; median "
             "seconds (x = this server's time / Packyard's)",
             f"{'server':<10} {'version':<9}" + "".join(f"{c:>20}" for c in columns)]
    for r in results:
        cells = []
        for column in columns:
            if not getattr(r, column):
                cells.append("-".rjust(20))
                continue
            value = statistics.median(getattr(r, column))
            ratio = ""
            if base is not None and getattr(base, column):
                ratio = f" ({value / statistics.median(getattr(base, column)):.2f}x)"
            cells.append(f"{value:.2f}{ratio}".rjust(20))
        lines.append(f"{r.name:<10} {r.version:<9}" + "".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "upstream")
    parser.add_argument("--servers", default="packyard,devpi,proxpi",
                        help="comma-separated: packyard, devpi, proxpi, bare (bare_proxy.py: "
                             "the floor of Packyard's stack); packyard:N (or baseline:N) "
                             "runs N worker processes")
    parser.add_argument("--runs", type=int, default=3, help="cold+warm pairs per server")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep each run's server data (removed after the run otherwise; "
                             "logs are kept either way)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--phases", default="install,fetch",
                        help="comma-separated: install (uv pip install), fetch (--fetch-clients "
                             "threads), "
                             "pages (PyPI's largest pages, one after the other), large (one "
                             "large wheel; pages and large are not run unless asked for)")
    parser.add_argument("--fetch-clients", type=int, default=8,
                        help="the fetch phase's clients reading at once (1: each request's "
                             "latency alone, what the server does per request)")
    parser.add_argument("--large-mib", type=int, default=300,
                        help="the large phase's wheel, in MiB")
    parser.add_argument("--baseline-src", type=Path,
                        help="also run Packyard from this source tree (a checkout's root, e.g. "
                             "`git worktree add /tmp/base main`) as the server `baseline`")
    args = parser.parse_args()
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    if args.baseline_src is not None:
        source = args.baseline_src.resolve()
        CACHES["baseline"] = lambda name, work, up: PackyardCache(name, work, up, source=source)
        names.insert(0, "baseline")
    for name in names:
        kind, _, workers = name.partition(":")
        if kind in ("packyard", "baseline") and kind in CACHES and workers.isdigit() \
                and int(workers) >= 1:
            CACHES[name] = _with_workers(CACHES[kind], int(workers))
    unknown = set(names) - set(CACHES)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    work: Path = args.work.resolve()
    wheels = build_upstream(work / "index")
    distributions = sum(len(names) for names in wheels.values())
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown_phases = set(phases) - {"install", "fetch", "pages", "large"}
    if unknown_phases:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown_phases))}")
    upstreams = {"wheels": work / "index"}
    if "pages" in phases:
        build_pages(work / "pages")
        upstreams["pages"] = work / "pages"
    large = ("", 0)
    if "large" in phases:
        wheel = build_large(work / "large", args.large_mib)
        large = (wheel, (work / "large" / "simple" / LARGE_PROJECT / wheel).stat().st_size)
        upstreams["large"] = work / "large"
    urls: dict[str, str] = {}
    processes = []
    try:
        for kind, root in upstreams.items():
            port = free_port()
            processes.append(Process.start(
                "upstream", [sys.executable, "-c", UPSTREAM_SERVER, LOOPBACK, str(port), root],
                work / f"upstream-{kind}.log", clean_env()))
            urls[kind] = f"http://{LOOPBACK}:{port}/simple/"
            processes[-1].wait_ready(urls[kind])
        print(f"upstream: {distributions} wheels at {urls['wheels']}", flush=True)
        if "fetch" in phases:
            print(f"fetch: {max(args.fetch_clients, 1)} client(s) at once", flush=True)
        if "pages" in urls:
            print(f"upstream: the pages of {len(BIG_PROJECTS)} large projects at "
                  f"{urls['pages']}", flush=True)
        if "large" in urls:
            print(f"upstream: {large[0]} ({large[1] / 2**20:.0f} MiB) at {urls['large']}",
                  flush=True)
        results = run_interleaved([CACHES[n](n, work, urls["wheels"]) for n in names],
                                  args.runs, work, wheels, phases,
                                  {k: v for k, v in urls.items() if k != "wheels"}, large,
                                  args.keep_data, max(args.fetch_clients, 1))
    finally:
        for process in processes:
            process.stop()
    text = report(results, distributions)
    print(text)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))


if __name__ == "__main__":
    main()
