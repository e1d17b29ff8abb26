"""The servers under test: how to install, start, configure and address each one.

Each adapter answers the same questions (where is the simple index, which headers does a
reader need, where and as whom to upload, how to put files in without uploading) so that the
suite in `suite.py` runs every figure the same way against every server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import time
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import static_index
from corpus import scale_wheel
from envs import PEER_REQUIREMENTS, Venv, ensure_venv, installed_version
from procs import LOOPBACK, ProcessGroup, Running, free_port, run_checked, wait_until_ready
from seed import UploadTarget

ALL_SERVERS = ("packyard", "devpi", "pypiserver", "proxpi", "nginx")
READY_STATUSES = frozenset(range(200, 500))


@dataclass
class Context:
    """What every adapter needs: the work folder, the process group and shared options."""

    work: Path
    group: ProcessGroup
    repo_root: Path
    workers: int = 1
    packyard_bin: str | None = None
    packyard_args: tuple[str, ...] = ()


@dataclass
class Server(ABC):
    """One server under test; `start` leaves it running, configured and ready for uploads."""

    ctx: Context
    name: str = ""
    version: str = ""
    notes: list[str] = field(default_factory=list)
    proc: Running | None = None
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def run_dir(self) -> Path:
        return self.ctx.work / "run" / self.name

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def fresh_run_dir(self) -> Path:
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        return self.run_dir

    def install(self) -> None:  # noqa: B027 - optional hook: nginx-like servers need nothing
        """Install the server's software (before anything is timed)."""

    @abstractmethod
    def start(self) -> None:
        """Start the server and configure it (users, indexes, tokens) for the corpus."""

    def stop(self) -> None:
        if self.proc is not None:
            self.ctx.group.stop(self.proc)
            self.proc = None

    @abstractmethod
    def simple_url(self) -> str:
        """The simple index root (ends with '/'), without credentials."""

    def page_url(self, project: str) -> str:
        return f"{self.simple_url()}{project}/"

    def read_headers(self) -> dict[str, str]:
        """Headers a reader must send (credentials where the server requires them)."""
        return {}

    def index_url_for_clients(self) -> str:
        """The index URL for pip and uv, with credentials embedded where needed."""
        return self.simple_url()

    def upload_target(self) -> UploadTarget | None:
        """Where twine uploads, or None for a server that does not accept uploads."""
        return None

    def place_files(self, files: Iterable[Path]) -> None:
        """Put corpus files in without uploading: how servers that host no uploads get them,
        and what installs.py does for pypiserver (its storage is a folder)."""
        raise NotImplementedError(f"{self.name} takes files by upload")

    def twin_run_dir(self, label: str) -> Path:
        """Where the copy of this server's data named `label` and its twin live."""
        return self.ctx.work / "run" / f"{self.name}-{label}"

    def copy_data(self, label: str) -> bool:
        """Copy the server's data as it is now, consistently and while it runs, for a twin
        started later (`start_twin`); False when the adapter cannot."""
        return False

    def start_twin(self, label: str) -> Server | None:
        """Start a second instance on the copy `label`, with the same repository and
        credentials; None when the adapter cannot."""
        return None

    def place_scale_projects(self, prefix: str, start: int, stop: int) -> bool:
        """Write scale projects straight into the server's storage; False when it has no such path."""
        return False


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _with_credentials(url: str, username: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = f"{urllib.parse.quote(username, safe='')}:{urllib.parse.quote(password, safe='')}@{parts.netloc}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class Packyard(Server):
    """Packyard itself: one `packyard serve` process, a domain, a repository and a token."""

    DOMAIN = "bench"
    REPOSITORY = "corpus"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, name="packyard")
        self.endpoint = ""
        self.token = ""
        self.binary = ""
        self.access_key = "AKIABENCH" + secrets.token_hex(6).upper()
        self.secret_key = secrets.token_urlsafe(30)
        # Settings beyond the root keys (the replicas suite: backends, encryption).
        self.env: dict[str, str] = {}

    def install(self) -> None:
        if self.ctx.packyard_bin:
            self.binary = self.ctx.packyard_bin
        else:
            pyproject = self.ctx.repo_root / "pyproject.toml"
            fingerprint = hashlib.sha256(pyproject.read_bytes()).hexdigest()
            venv = ensure_venv(
                self.ctx.work / "venvs" / "packyard",
                ("-e", str(self.ctx.repo_root)),
                fingerprint=fingerprint,
            )
            self.binary = str(venv.bin("packyard"))
        python = Path(self.binary).parent / "python"
        if python.exists():
            self.version = installed_version(Venv(python.parent.parent), "packyard")

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    def start(self) -> None:
        self.fresh_run_dir()
        self._launch()
        self._configure()

    def _launch(self) -> None:
        data = self.data_dir
        self.port = free_port()
        self.proc = self.ctx.group.start(
            self.name,
            [
                self.binary,
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--data-dir",
                str(data),
                *self.ctx.packyard_args,
            ],
            self.run_dir / "server.log",
            env={
                **self.env,
                "PACKYARD_ROOT_ACCESS_KEY_ID": self.access_key,
                "PACKYARD_ROOT_SECRET_ACCESS_KEY": self.secret_key,
            },
        )
        wait_until_ready(self.proc, self.base + "/", ok_statuses=READY_STATUSES)

    def _configure(self, *, create: bool = True) -> None:
        import boto3  # imported here: only Packyard needs the AWS SDK

        client = boto3.client(
            "codeartifact",
            endpoint_url=self.base,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )
        if create:
            client.create_domain(domain=self.DOMAIN)
            client.create_repository(domain=self.DOMAIN, repository=self.REPOSITORY)
        self.token = client.get_authorization_token(domain=self.DOMAIN)["authorizationToken"]
        self.endpoint = client.get_repository_endpoint(
            domain=self.DOMAIN, repository=self.REPOSITORY, format="pypi"
        )["repositoryEndpoint"]
        if not self.endpoint.endswith("/"):
            self.endpoint += "/"

    def simple_url(self) -> str:
        return self.endpoint + "simple/"

    def read_headers(self) -> dict[str, str]:
        return {"Authorization": _basic("aws", self.token)}

    def index_url_for_clients(self) -> str:
        return _with_credentials(self.simple_url(), "aws", self.token)

    def upload_target(self) -> UploadTarget:
        return UploadTarget(self.endpoint, "aws", self.token)

    def place_scale_projects(self, prefix: str, start: int, stop: int) -> bool:
        """Import the scale projects with `packyard import` on the running server's data.

        Packyard's bulk path: every file gets the checks a twine upload gets, and the server
        keeps running (the import is a second writer on the same SQLite database).
        """
        folder = self.run_dir / "scale-import"
        started = time.monotonic()
        for index in range(start, stop):
            shard = folder / f"{index // 1000:04d}"  # 1,000 files per folder
            if index == start or index % 1000 == 0:
                shard.mkdir(parents=True, exist_ok=True)
            filename, content = scale_wheel(prefix, index)
            (shard / filename).write_bytes(content)
        generated = time.monotonic() - started
        done = run_checked(
            [
                self.binary,
                "import",
                "--data-dir",
                str(self.data_dir),
                "--domain",
                self.DOMAIN,
                "--repository",
                self.REPOSITORY,
                "--output",
                "json",
                str(folder),
            ],
            max(600.0, (stop - start) / 25),
            what="packyard import",
        )
        report = json.loads(done.stdout)
        self.notes.append(
            f"{report['files']:,} scale projects imported with `packyard import` in "
            f"{report['seconds']:.0f}s ({report['filesPerSecond']:,.0f} files/s; generating the "
            f"wheels took {generated:.0f}s)"
        )
        shutil.rmtree(folder)
        return True

    def copy_data(self, label: str) -> bool:
        """SQLite's online backup of the database (consistent while the server writes), the
        key file, and hard links to the blobs (immutable once stored)."""
        run_dir = self.twin_run_dir(label)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        dest = run_dir / "data"
        dest.mkdir(parents=True)
        source = sqlite3.connect(self.data_dir / "packyard.db")
        target = sqlite3.connect(dest / "packyard.db")
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        for item in self.data_dir.iterdir():
            if item.is_file() and not item.name.startswith("packyard.db"):
                shutil.copy2(item, dest / item.name)
        shutil.copytree(
            self.data_dir / "blobs",
            dest / "blobs",
            copy_function=os.link,
            ignore=shutil.ignore_patterns(".staging"),
        )
        return True

    def start_twin(self, label: str) -> Packyard:
        twin = Packyard(self.ctx)
        twin.name = f"{self.name}-{label}"
        twin.binary, twin.version = self.binary, self.version
        twin.access_key, twin.secret_key = self.access_key, self.secret_key
        twin.env = dict(self.env)
        twin._launch()
        twin._configure(create=False)
        return twin


class Devpi(Server):
    """devpi-server with its own data folder, one user and one non-mirroring index."""

    USER = "bench"
    INDEX = "dev"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, name="devpi")
        self.password = secrets.token_urlsafe(12)
        self.venv: Venv | None = None

    def install(self) -> None:
        self.venv = ensure_venv(self.ctx.work / "venvs" / "devpi", PEER_REQUIREMENTS["devpi"])
        self.version = installed_version(self.venv, "devpi-server")

    def start(self) -> None:
        assert self.venv is not None
        data = self.fresh_run_dir() / "data"
        # --no-root-pypi: no mirror of pypi.org, so devpi never reaches outside this machine.
        run_checked(
            [
                str(self.venv.bin("devpi-init")),
                "--serverdir",
                str(data),
                "--no-root-pypi",
                # One argument: a password starting with "-" would read as an option.
                f"--root-passwd={secrets.token_urlsafe(12)}",
            ],
            180,
            what="devpi-init",
        )
        self.port = free_port()
        self.proc = self.ctx.group.start(
            self.name,
            [
                str(self.venv.bin("devpi-server")),
                "--serverdir",
                str(data),
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                # Its default (1 GiB per request) refuses the huge-upload figure's 1 GiB wheel
                # plus form fields; 5 GiB is Packyard's limit (CodeArtifact's asset limit).
                "--max-request-body-size",
                str(5 << 30),
            ],
            self.run_dir / "server.log",
        )
        wait_until_ready(self.proc, self.base + "/+api", timeout_seconds=120)
        self._configure()

    def _call(
        self, method: str, path: str, body: dict[str, object], auth: str = ""
    ) -> dict[str, object]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if auth:
            request.add_header("X-Devpi-Auth", auth)
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, object] = json.load(response)
            return answer

    def _configure(self) -> None:
        # devpi's JSON API, as its own client uses it: create a user, log in, create an index.
        self._call(
            "PUT", f"/{self.USER}", {"password": self.password, "email": "bench@example.invalid"}
        )
        login = self._call("POST", "/+login", {"user": self.USER, "password": self.password})
        result = login["result"]
        assert isinstance(result, dict)
        auth = base64.b64encode(f"{self.USER}:{result['password']}".encode()).decode()
        self._call(
            "PUT",
            f"/{self.USER}/{self.INDEX}",
            {"type": "stage", "bases": [], "volatile": True},
            auth,
        )

    def simple_url(self) -> str:
        return f"{self.base}/{self.USER}/{self.INDEX}/+simple/"

    def upload_target(self) -> UploadTarget:
        return UploadTarget(f"{self.base}/{self.USER}/{self.INDEX}/", self.USER, self.password)


class Pypiserver(Server):
    """pypiserver (cached-dir backend) under gunicorn; uploads need an htpasswd login."""

    USER = "bench"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, name="pypiserver")
        self.password = secrets.token_urlsafe(12)
        self.venv: Venv | None = None

    @property
    def packages(self) -> Path:
        return self.run_dir / "packages"

    def install(self) -> None:
        self.venv = ensure_venv(
            self.ctx.work / "venvs" / "pypiserver", PEER_REQUIREMENTS["pypiserver"]
        )
        self.version = installed_version(self.venv, "pypiserver")

    def start(self) -> None:
        assert self.venv is not None
        self.fresh_run_dir()
        self.packages.mkdir()
        htpasswd = self.run_dir / "htpasswd"
        run_checked(
            [
                str(self.venv.python),
                "-c",
                "import sys; from passlib.apache import HtpasswdFile as H; "
                "f = H(sys.argv[1], new=True); f.set_password(sys.argv[2], sys.argv[3]); f.save()",
                str(htpasswd),
                self.USER,
                self.password,
            ],
            60,
            what="writing the htpasswd file",
        )
        # gunicorn can only load an app object, so a two-line module builds it with real Paths.
        (self.run_dir / "bench_pypiserver.py").write_text(
            "import pathlib\nimport pypiserver\n"
            f"app = pypiserver.app(roots=[pathlib.Path({str(self.packages)!r})], "
            f"password_file={str(htpasswd)!r}, authenticate=['update'], "
            "disable_fallback=True, backend_arg='cached-dir')\n"
        )
        self.port = free_port()
        self.proc = self.ctx.group.start(
            self.name,
            [
                str(self.venv.bin("gunicorn")),
                "--chdir",
                str(self.run_dir),
                "--workers",
                str(self.ctx.workers),
                "--bind",
                f"{LOOPBACK}:{self.port}",
                "bench_pypiserver:app",
            ],
            self.run_dir / "server.log",
        )
        wait_until_ready(self.proc, self.base + "/health", timeout_seconds=60)

    def simple_url(self) -> str:
        return f"{self.base}/simple/"

    def upload_target(self) -> UploadTarget:
        return UploadTarget(f"{self.base}/", self.USER, self.password)

    def place_files(self, files: Iterable[Path]) -> None:
        """Hard-link (or copy) files into the packages folder: pypiserver's storage is that
        folder, so a file put there is served as an uploaded one."""
        for path in files:
            try:
                os.link(path, self.packages / path.name)
            except OSError:  # another file system
                shutil.copy2(path, self.packages / path.name)

    def place_scale_projects(self, prefix: str, start: int, stop: int) -> bool:
        # pypiserver's storage is this folder: files dropped in are served as uploaded ones.
        for index in range(start, stop):
            filename, content = scale_wheel(prefix, index)
            (self.packages / filename).write_bytes(content)
        return True


class Nginx(Server):
    """nginx (Debian's) serving a static simple index of the same bytes: the physical limit."""

    def __init__(self, ctx: Context, name: str = "nginx") -> None:
        super().__init__(ctx, name=name)

    @property
    def root(self) -> Path:
        return self.run_dir / "www"

    def install(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        done = run_checked([nginx, "-v"], 30, what="nginx -v")
        self.version = (done.stdout + done.stderr).strip().rsplit("/", 1)[-1]

    def start(self) -> None:
        self.fresh_run_dir()
        (self.root / "simple").mkdir(parents=True)
        static_index.write_root(self.root)
        for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / "tmp" / folder).mkdir(parents=True)
        self.port = free_port()
        config = self.run_dir / "nginx.conf"
        config.write_text(self._config())
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = self.ctx.group.start(
            self.name,
            [
                nginx,
                "-p",
                str(self.run_dir),
                "-e",
                str(self.run_dir / "error.log"),
                "-c",
                str(config),
            ],
            self.run_dir / "server.log",
        )
        wait_until_ready(self.proc, self.base + "/simple/", timeout_seconds=30)

    def _config(self) -> str:
        tmp = self.run_dir / "tmp"
        # As root, workers would drop to "nobody", who may not read the work tree.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""{user}daemon off;
worker_processes {self.ctx.workers};
pid {self.run_dir / "nginx.pid"};
error_log {self.run_dir / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path {tmp / "body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    types {{
        text/html html;
        application/vnd.pypi.simple.v1+json json;
        application/octet-stream whl gz;
    }}
    default_type application/octet-stream;
    # PEP 691 content negotiation, reduced to what the benchmark's clients send.
    map $http_accept $simple_page {{
        default index.html;
        "~application/vnd\\.pypi\\.simple\\.v1\\+json" index.json;
    }}
    server {{
        listen {LOOPBACK}:{self.port};
        root {self.root};
        index $simple_page;
        location / {{ }}
    }}
}}
"""

    def simple_url(self) -> str:
        return f"{self.base}/simple/"

    def place_files(self, files: Iterable[Path]) -> None:
        static_index.write_index(self.root, files)

    def place_scale_projects(self, prefix: str, start: int, stop: int) -> bool:
        for index in range(start, stop):
            filename, content = scale_wheel(prefix, index)
            static_index.write_project(self.root, f"{prefix}-{index:06d}", [(filename, content)])
        static_index.write_root(self.root)
        return True


class Proxpi(Server):
    """proxpi, a pull-through cache, in front of a static nginx copy of the corpus.

    It hosts nothing itself, so upload and scale figures do not apply; its read figures are
    for its warm cache (the warm-up fills it).
    """

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, name="proxpi")
        self.upstream = Nginx(ctx, name="proxpi-upstream")
        self.venv: Venv | None = None

    def install(self) -> None:
        self.venv = ensure_venv(self.ctx.work / "venvs" / "proxpi", PEER_REQUIREMENTS["proxpi"])
        self.version = installed_version(self.venv, "proxpi")
        self.upstream.install()

    def start(self) -> None:
        self.fresh_run_dir()
        self.upstream.start()
        self.launch(self.upstream.simple_url())

    def launch(self, index_url: str) -> None:
        """Start proxpi (its cache empty) in front of the simple index at `index_url`."""
        assert self.venv is not None
        self.port = free_port()
        self.proc = self.ctx.group.start(
            self.name,
            [
                str(self.venv.bin("gunicorn")),
                "--workers",
                str(self.ctx.workers),
                # The app (its cache folder scanned) made once before the workers fork: a
                # worker booting late can otherwise unlink a partial download another is
                # writing, exit, and take the server down (bench/upstream.py, 2026-12-03).
                "--preload",
                "--bind",
                f"{LOOPBACK}:{self.port}",
                "proxpi.server:app",
            ],
            self.run_dir / "server.log",
            env={
                "PROXPI_INDEX_URL": index_url,
                "PROXPI_EXTRA_INDEX_URLS": "",
                "PROXPI_CACHE_DIR": str(self.run_dir / "cache"),
                "PROXPI_INDEX_TTL": "3600",
                # Wait for the upstream download instead of redirecting to it, so the big file
                # is served from proxpi's cache once the warm-up has fetched it.
                "PROXPI_DOWNLOAD_TIMEOUT": "300",
            },
        )
        wait_until_ready(self.proc, self.base + "/health", timeout_seconds=60)

    def stop(self) -> None:
        super().stop()
        self.upstream.stop()

    def simple_url(self) -> str:
        return f"{self.base}/index/"

    def place_files(self, files: Iterable[Path]) -> None:
        self.upstream.place_files(files)


def make_server(name: str, ctx: Context) -> Server:
    factories: dict[str, type[Server]] = {
        "packyard": Packyard,
        "devpi": Devpi,
        "pypiserver": Pypiserver,
        "proxpi": Proxpi,
        "nginx": Nginx,
    }
    if name not in factories:
        raise ValueError(f"unknown server {name!r}; choose from {', '.join(ALL_SERVERS)}")
    return factories[name](ctx)
