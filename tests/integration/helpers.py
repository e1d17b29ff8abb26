"""Support for the integration suite: a Packyard server process and isolated real clients.

Everything here drives real programs (the ``packyard`` server, the AWS CLI, twine, pip, uv) found
next to ``sys.executable``, never on the developer's PATH, and gives each of them an environment
built from scratch so that nothing from the machine (``~/.aws``, ``/etc/xdg/pip/pip.conf``,
``PIP_FIND_LINKS``, proxies) changes what they do.
"""

from __future__ import annotations

import atexit
import base64
import bz2
import contextlib
import functools
import gzip
import hashlib
import importlib.metadata
import io
import itertools
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import botocore.config
import botocore.credentials
import httpx
from botocore.awsrequest import AWSRequest

from tests.integration.aws_forks import AwsCliForks
from tests.integration.packyard_forks import ForkedProcess, PackyardForks

BIN = Path(sys.executable).parent

ROOT_KEY_ID = "AKIAPACKYARDTESTROOT"
ROOT_SECRET = "packyard-integration-test-secret-key-0001"
DEFAULT_ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"

# The wheel metadata version we build; 2.1 is what most of PyPI carries and every tool reads.
METADATA_VERSION = "2.1"


def tool(name: str) -> Path:
    """A console script of the test venv (aws, twine, uv, pip, packyard)."""
    path = BIN / name
    if not path.exists():
        raise AssertionError(
            f"{name} not found next to {sys.executable}; install the test extra "
            "(pip install -e '.[test]') into the venv that runs pytest")
    return path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_names = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A name valid as a CodeArtifact domain, repository and Python project, unique per run."""
    return f"{prefix}-{next(_names)}{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Credentials:
    """An AWS access key pair."""

    access_key_id: str
    secret_access_key: str


ROOT = Credentials(ROOT_KEY_ID, ROOT_SECRET)


# --------------------------------------------------------------------------- server process

def server_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a server: the machine's minus PACKYARD_*/proxies, plus test root keys.

    A value of None in ``extra`` removes the variable (e.g. to let the server generate keys).
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PACKYARD_") and "proxy" not in k.lower()}
    env["PACKYARD_ROOT_ACCESS_KEY_ID"] = ROOT_KEY_ID
    env["PACKYARD_ROOT_SECRET_ACCESS_KEY"] = ROOT_SECRET
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class ServerProcess:
    """One ``packyard serve`` subprocess on a free port, with its log in a file (standard output
    and standard error together, unless ``stderr_path`` takes standard error apart)."""

    data_dir: Path
    log_path: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | ForkedProcess | None = None
    args: tuple[str, ...] = ()  # more options of ``serve``
    stderr_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(tool("packyard")), "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        if self.stderr_path is not None:
            self._start_apart(cmd)
        else:
            with self.log_path.open("ab") as log:
                log.write(f"\n$ {' '.join(cmd)}\n".encode())
            # A fork of a process that has loaded Packyard already (packyard_forks.py) when it
            # can be one; the same command as a plain process otherwise.
            self.proc = None if PLAIN_SERVERS else _packyard_forks().start(cmd, self.env,
                                                                        log=self.log_path)
        if self.proc is None:
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=self.env,
                                             start_new_session=True)
        self.wait_ready(timeout)
        return self

    def _start_apart(self, cmd: list[str]) -> None:
        """Start with standard output in ``log_path`` and standard error in ``stderr_path``,
        each holding only what the server wrote."""
        assert self.stderr_path is not None
        self.proc = None if PLAIN_SERVERS else _packyard_forks().start(
            cmd, self.env, stdout=self.log_path, stderr=self.stderr_path)
        if self.proc is None:
            with self.log_path.open("wb") as out, self.stderr_path.open("wb") as err:
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, env=self.env,
                                             start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        """Poll until the server answers HTTP at all (any status), or fail with its log."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"packyard serve exited with {self.proc.returncode} before it was ready:\n"
                    f"{self.log_text()}")
            try:
                httpx.get(f"{self.url}/health", timeout=1.0, trust_env=False)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"packyard serve not ready after {timeout}s:\n{self.log_text()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), then hard if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def log_text(self, tail: int = 20000) -> str:
        """The log's end (with ``stderr_path``: standard output's, then standard error's)."""
        paths = [self.log_path] if self.stderr_path is None else [self.log_path, self.stderr_path]
        texts = []
        for path in paths:
            try:
                texts.append(path.read_text(errors="replace")[-tail:])
            except FileNotFoundError:
                texts.append("(no log)")
        return "\n".join(texts)


# --------------------------------------------------------------------------- client environment

@dataclass
class ClientHome:
    """A throwaway home directory and the environment every client subprocess gets."""

    root: Path
    credentials: Credentials = ROOT
    region: str = DEFAULT_REGION

    def __post_init__(self) -> None:
        for sub in (".aws", ".config", ".cache", ".local/share", "xdg-system", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.aws_credentials_file.write_text(
            "[default]\n"
            f"aws_access_key_id = {self.credentials.access_key_id}\n"
            f"aws_secret_access_key = {self.credentials.secret_access_key}\n")
        self.aws_config_file.write_text(f"[default]\nregion = {self.region}\n")
        self.pip_conf.touch()

    @property
    def aws_credentials_file(self) -> Path:
        return self.root / ".aws" / "credentials"

    @property
    def aws_config_file(self) -> Path:
        return self.root / ".aws" / "config"

    @property
    def pip_conf(self) -> Path:
        # pip >= 23 writes `pip config set` into PIP_CONFIG_FILE when that file exists, and then
        # reads no per-user file; /etc/xdg is skipped through XDG_CONFIG_DIRS below. Only
        # /etc/pip.conf, which pip always reads, remains outside our control.
        return self.root / "pip.conf"

    @property
    def pypirc(self) -> Path:
        return self.root / ".pypirc"

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: test venv's bin first on PATH, no PIP_*/UV_*/AWS_* from outside."""
        env = {k: v for k, v in os.environ.items() if k in {"LANG", "LC_ALL", "TZ", "TERM"}}
        env.update({
            "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(self.root),
            "TMPDIR": str(self.root / "tmp"),
            "XDG_CONFIG_HOME": str(self.root / ".config"),
            "XDG_CACHE_HOME": str(self.root / ".cache"),
            "XDG_DATA_HOME": str(self.root / ".local/share"),
            "XDG_CONFIG_DIRS": str(self.root / "xdg-system"),
            "NO_PROXY": "*",
            "no_proxy": "*",
            "AWS_CONFIG_FILE": str(self.aws_config_file),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.aws_credentials_file),
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "PIP_CONFIG_FILE": str(self.pip_conf),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CACHE": "1",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(extra)
        return env


# Read at import: the suite's fixtures clear PACKYARD_* from the environment of the tests.
PLAIN_SERVERS = os.environ.get("PACKYARD_TEST_PLAIN_SERVERS") == "1"


@functools.cache
def _packyard_forks() -> PackyardForks:
    forks = PackyardForks(Path(sys.executable))
    atexit.register(forks.close)
    return forks


@functools.cache
def _aws_forks() -> AwsCliForks:
    forks = AwsCliForks(tool("aws"))
    atexit.register(forks.close)
    return forks


def run(cmd: Sequence[str | Path], env: Mapping[str, str], *, check: bool = True,
        timeout: float = 120.0, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client; on an unexpected exit code fail with its full output."""
    argv = [str(c) for c in cmd]
    proc = None
    if argv[0] == str(tool("aws")):
        proc = _aws_forks().run(argv, env, timeout=timeout, cwd=cwd)
    elif argv[0] == str(tool("packyard")) and not PLAIN_SERVERS:
        proc = _packyard_forks().run(argv, env, timeout=timeout, cwd=cwd)
    if proc is None:
        proc = subprocess.run(argv, env=_with_pythonpath(argv, env), capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(argv)}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    return proc


def _with_pythonpath(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """``env``, and for a ``packyard`` command the PYTHONPATH pytest runs with: the Packyard
    this suite tests (a checkout PYTHONPATH names), not the one installed in the venv."""
    if argv[0] == str(tool("packyard")) and "PYTHONPATH" in os.environ:
        return {"PYTHONPATH": os.environ["PYTHONPATH"], **env}
    return dict(env)


def start_packyard(argv: Sequence[str | Path], env: Mapping[str, str]
                   ) -> subprocess.Popen[bytes] | ForkedProcess:
    """A ``packyard`` command left running (to be killed mid-run, say), its output discarded."""
    args = [str(a) for a in argv]
    proc = None if PLAIN_SERVERS else _packyard_forks().start(args, env)
    if proc is None:
        proc = subprocess.Popen(args, env=_with_pythonpath(args, env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


@dataclass
class AwsCli:
    """The real AWS CLI pointed at one Packyard server."""

    endpoint: str
    home: ClientHome

    def run(self, *args: str, check: bool = True,
            extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(tool("aws")), *args, "--endpoint-url", self.endpoint, "--output", "json"]
        return run(cmd, self.home.env(**(extra_env or {})), check=check)

    def json(self, *args: str) -> Any:
        out = self.run(*args).stdout
        return json.loads(out) if out.strip() else {}

    def fails(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command that must fail; return it for its stderr."""
        proc = self.run(*args, check=False)
        assert proc.returncode != 0, f"aws {' '.join(args)} succeeded: {proc.stdout}"
        return proc


def codeartifact_client(endpoint: str, credentials: Credentials = ROOT,
                        region: str = DEFAULT_REGION) -> Any:
    """A boto3 CodeArtifact client signed with explicit keys, no retries (a 5xx is a bug)."""
    session = boto3.session.Session(aws_access_key_id=credentials.access_key_id,
                                    aws_secret_access_key=credentials.secret_access_key,
                                    region_name=region)
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                    connect_timeout=5, read_timeout=60)
    return session.client("codeartifact", endpoint_url=endpoint, config=config)


# --------------------------------------------------------------------------- SigV4 by hand

def sign_headers(method: str, url: str, credentials: Credentials, *, body: bytes = b"",
                 headers: Mapping[str, str] | None = None, region: str = DEFAULT_REGION,
                 when: datetime | None = None) -> dict[str, str]:
    """SigV4 headers for a request, as botocore computes them, optionally at another time."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(credentials.access_key_id,
                                         credentials.secret_access_key),
        "codeartifact", region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}


def aws_error_code(response: httpx.Response) -> str:
    """The error type the way botocore's rest-json parser finds it (header first, then body)."""
    header = str(response.headers.get("x-amzn-errortype", ""))
    if header:
        return header.split(":")[0]
    try:
        body = response.json()
    except ValueError:
        return ""
    code = str(body.get("__type") or body.get("code") or "")
    return str(code.rsplit("#", 1)[-1])


def aws_error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return str(body.get("message") or body.get("Message") or "")


# --------------------------------------------------------------------------- distributions

def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_stem(name: str) -> str:
    # Binary distribution format: the name part uses underscores, lowercased.
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


@dataclass(frozen=True)
class DistSpec:
    """What a sample distribution declares; hashable so builds can be cached."""

    name: str
    version: str
    summary: str = "A sample package for Packyard's integration tests"
    requires_python: str | None = ">=3.8"
    requires_dist: tuple[str, ...] = ()
    home_page: str | None = "https://example.invalid/home"
    project_urls: tuple[str, ...] = ("Source, https://example.invalid/source",)
    license: str | None = "MIT"
    readme: str | None = None
    readme_content_type: str = "text/markdown"
    # Bytes of incompressible, stored (not deflated) payload, to make a file of a known size.
    padding: int = 0
    # Name and version written into the file's own metadata when they must disagree with the
    # filename and the upload form.
    metadata_name: str | None = None
    metadata_version: str | None = None
    # The Metadata-Version written, and the fields it lists as Dynamic (PEP 643, from 2.2).
    metadata_format: str = METADATA_VERSION
    dynamic: tuple[str, ...] = ()
    # More header lines for the core metadata, as written ("Author: Ada").
    more_metadata: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return _dist_stem(self.name)

    def core_metadata(self) -> str:
        lines = [f"Metadata-Version: {self.metadata_format}",
                 f"Name: {self.metadata_name or self.name}",
                 f"Version: {self.metadata_version or self.version}",
                 f"Summary: {self.summary}"]
        if self.home_page:
            lines.append(f"Home-page: {self.home_page}")
        if self.license:
            lines.append(f"License: {self.license}")
        lines.extend(f"Project-URL: {url}" for url in self.project_urls)
        if self.requires_python:
            lines.append(f"Requires-Python: {self.requires_python}")
        lines.extend(f"Requires-Dist: {req}" for req in self.requires_dist)
        lines.extend(f"Dynamic: {field}" for field in self.dynamic)
        lines.extend(self.more_metadata)
        text = "\n".join(lines) + "\n"
        if self.readme is not None:
            text += f"Description-Content-Type: {self.readme_content_type}\n\n{self.readme}"
        return text


DESCRIBED_METADATA = (
    "Author: Ada Lovelace", "Author-email: ada@example.invalid", "Maintainer: Grace Hopper",
    "Maintainer-email: grace@example.invalid", "Keywords: alpha,beta",
    "Classifier: Programming Language :: Python :: 3",
    "Classifier: License :: OSI Approved :: MIT License",
    "Download-URL: https://example.invalid/download", "Platform: any")


def described_info() -> dict[str, Any]:
    """What ``info`` shows of a release whose metadata has ``DESCRIBED_METADATA`` (and DistSpec's
    License, Home-page and Project-URL), as PyPI shows it."""
    return {
        "author": "Ada Lovelace", "author_email": "ada@example.invalid",
        "maintainer": "Grace Hopper", "maintainer_email": "grace@example.invalid",
        "keywords": "alpha, beta", "license": "MIT",
        "classifiers": ["Programming Language :: Python :: 3",
                        "License :: OSI Approved :: MIT License"],
        "download_url": "https://example.invalid/download", "platform": "any",
        "project_urls": {"Homepage": "https://example.invalid/home",
                         "Download": "https://example.invalid/download",
                         "Source": "https://example.invalid/source"},
    }


@dataclass(frozen=True)
class Dist:
    """A built distribution file and what the legacy upload form says about it."""

    spec: DistSpec
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    def form_fields(self) -> dict[str, str | list[str]]:
        """The fields twine sends with this file (``twine upload`` legacy API, protocol 1)."""
        spec = self.spec
        fields: dict[str, str | list[str]] = {
            ":action": "file_upload",
            "protocol_version": "1",
            "metadata_version": spec.metadata_format,
            "name": spec.name,
            "version": spec.version,
            "filetype": "bdist_wheel" if self.is_wheel else "sdist",
            "pyversion": "py3" if self.is_wheel else "source",
            "summary": spec.summary,
            "sha256_digest": self.sha256,
            "blake2_256_digest": hashlib.blake2b(self.data, digest_size=32).hexdigest(),
        }
        if spec.requires_python:
            fields["requires_python"] = spec.requires_python
        if spec.home_page:
            fields["home_page"] = spec.home_page
        if spec.license:
            fields["license"] = spec.license
        if spec.requires_dist:
            fields["requires_dist"] = list(spec.requires_dist)
        if spec.readme is not None:
            fields["description"] = spec.readme
            fields["description_content_type"] = spec.readme_content_type
        return fields


_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def _padding(spec: DistSpec) -> bytes:
    # Deterministic per spec, so rebuilding gives identical bytes (same sha256).
    seed = hashlib.sha256(f"{spec.name}-{spec.version}".encode()).digest()
    out = bytearray()
    block = seed
    while len(out) < spec.padding:
        block = hashlib.sha256(block).digest()
        out.extend(block * 64)
    return bytes(out[: spec.padding])


def build_wheel(spec: DistSpec, out_dir: Path, *, filename: str | None = None) -> Dist:
    """A real, installable pure-Python wheel (PEP 427) with a correct RECORD."""
    stem = _dist_stem(spec.name)
    dist_info = f"{stem}-{spec.version}.dist-info"
    files: list[tuple[str, bytes, int]] = [
        (f"{spec.module}/__init__.py",
         f'VALUE = "{spec.name} {spec.version}"\n'.encode(), zipfile.ZIP_DEFLATED),
    ]
    if spec.padding:
        files.append((f"{spec.module}/_padding.bin", _padding(spec), zipfile.ZIP_STORED))
    files.append((f"{dist_info}/METADATA", spec.core_metadata().encode(), zipfile.ZIP_DEFLATED))
    files.append((f"{dist_info}/WHEEL",
                  b"Wheel-Version: 1.0\nGenerator: packyard-tests\nRoot-Is-Purelib: true\n"
                  b"Tag: py3-none-any\n", zipfile.ZIP_DEFLATED))
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data, _ in files)
    record += f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode(), zipfile.ZIP_DEFLATED))
    path = out_dir / (filename or f"{stem}-{spec.version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, compression in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return Dist(spec, path)


def build_sdist(spec: DistSpec, out_dir: Path, *, filename: str | None = None) -> Dist:
    """A source distribution (``.tar.gz``) with PKG-INFO at the top, as PEP 625/643 lay out."""
    stem = _dist_stem(spec.name)
    base = f"{stem}-{spec.version}"
    members = {
        f"{base}/PKG-INFO": spec.core_metadata().encode(),
        f"{base}/pyproject.toml": (
            f'[project]\nname = "{spec.name}"\nversion = "{spec.version}"\n').encode(),
        f"{base}/{spec.module}/__init__.py": f'VALUE = "{spec.name} {spec.version}"\n'.encode(),
    }
    if spec.padding:
        members[f"{base}/{spec.module}/_padding.bin"] = _padding(spec)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    path = out_dir / (filename or f"{base}.tar.gz")
    if path.name.endswith(".tar.bz2"):  # an older format an upstream may still list
        path.write_bytes(bz2.compress(raw.getvalue()))
        return Dist(spec, path)
    with path.open("wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return Dist(spec, path)


class DistFactory:
    """Builds sample distributions once per session into one directory per spec."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cache: dict[tuple[DistSpec, str], Dist] = {}

    def wheel(self, spec: DistSpec) -> Dist:
        return self._build(spec, "wheel")

    def sdist(self, spec: DistSpec) -> Dist:
        return self._build(spec, "sdist")

    def both(self, spec: DistSpec) -> tuple[Dist, Dist]:
        return self.wheel(spec), self.sdist(spec)

    def scratch_dir(self) -> Path:
        path = self._root / f"scratch-{secrets.token_hex(4)}"
        path.mkdir(parents=True)
        return path

    def _build(self, spec: DistSpec, kind: str) -> Dist:
        key = (spec, kind)
        if key not in self._cache:
            out = self._root / f"{_dist_stem(spec.name)}-{spec.version}-{abs(hash(spec)):x}"
            out.mkdir(parents=True, exist_ok=True)
            build = build_wheel if kind == "wheel" else build_sdist
            self._cache[key] = build(spec, out)
        return self._cache[key]


# --------------------------------------------------------------------------- PyPI repositories

@dataclass
class PypiRepo:
    """A domain + repository on a server, with a token and its PyPI endpoint."""

    server_url: str
    domain: str
    repository: str
    endpoint: str  # what get-repository-endpoint --format pypi returned, trailing slash
    token: str

    @property
    def simple_url(self) -> str:
        return f"{self.endpoint}simple/"

    def project_url(self, project: str) -> str:
        return f"{self.simple_url}{project}/"

    @property
    def auth(self) -> tuple[str, str]:
        return ("aws", self.token)

    @property
    def index_url_with_token(self) -> str:
        """The index URL as `aws codeartifact login --tool pip` writes it."""
        scheme, rest = self.simple_url.split("://", 1)
        return f"{scheme}://aws:{self.token}@{rest}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client that authenticates like pip (Basic aws:TOKEN) and never redirects."""
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 60.0)
        return httpx.Client(trust_env=False, follow_redirects=False, **kwargs)


def create_pypi_repo(api: Any, server_url: str, prefix: str,
                     *, domain: str | None = None) -> PypiRepo:
    """Create (domain if needed and) repository through the API and get a token and endpoint."""
    if domain is None:
        domain = unique_name(prefix)
        api.create_domain(domain=domain)
    repository = unique_name(f"{prefix}-repo")
    api.create_repository(domain=domain, repository=repository)
    endpoint = api.get_repository_endpoint(domain=domain, repository=repository,
                                           format="pypi")["repositoryEndpoint"]
    token = api.get_authorization_token(domain=domain)["authorizationToken"]
    return PypiRepo(server_url, domain, repository, endpoint, token)


def upload(repo: PypiRepo, dist: Dist, *, fields: Mapping[str, str | list[str] | None] | None = None,
           filename: str | None = None, content: bytes | None = None,
           url: str | None = None, client: httpx.Client | None = None) -> httpx.Response:
    """POST one file to the legacy upload API the way twine does, with optional tampering.

    A None value in ``fields`` drops that form field.
    """
    form = dist.form_fields()
    for key, value in (fields or {}).items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    files = {"content": (filename or dist.filename,
                         dist.data if content is None else content,
                         "application/octet-stream")}
    with contextlib.ExitStack() as stack:
        http = client or stack.enter_context(repo.client())
        return http.post(url or repo.endpoint, data=form, files=files)


def upload_ok(repo: PypiRepo, *dists: Dist) -> None:
    """Upload files that must be accepted."""
    for dist in dists:
        response = upload(repo, dist)
        assert response.status_code == 200, (
            f"upload of {dist.filename} refused: {response.status_code} {response.text}")


def make_venv(path: Path, home: ClientHome) -> Path:
    """A fresh virtual environment (no pip in it) made by uv; returns its python."""
    run([tool("uv"), "venv", "--python", sys.executable, str(path)], home.env())
    python = path / "bin" / "python"
    assert python.exists(), f"uv venv did not create {python}"
    return python


def files_under(root: Path) -> Iterator[Path]:
    if root.exists():
        yield from (p for p in root.rglob("*") if p.is_file())


def wheel_from_installed(name: str, out_dir: Path) -> Path:
    """A wheel of a pure-Python distribution installed next to the tests (setuptools, pip),
    rebuilt from its RECORD: what an offline test serves as if it came from PyPI.

    Console scripts are left out (the installer makes them again from entry_points.txt), and
    so are the installer's own files; RECORD is written anew for what the wheel holds.
    """
    dist = importlib.metadata.distribution(name)
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]
    assert tags == ["py3-none-any"], f"{name} is not a pure-Python wheel: {tags}"
    root = Path(str(dist.locate_file("")))
    dist_info = next(str(f).split("/")[0] for f in dist.files or []
                     if str(f).endswith(".dist-info/METADATA"))
    installer_files = {f"{dist_info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED",
                                                     "direct_url.json")}
    members = sorted(str(f) for f in dist.files or []
                     if not str(f).startswith("..") and "__pycache__" not in str(f)
                     and str(f) not in installer_files)
    path = out_dir / f"{_dist_stem(name)}-{dist.version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as zf:  # stored: quick to write, the bytes stay local
        for member in members:
            data = (root / member).read_bytes()
            zf.writestr(zipfile.ZipInfo(member, date_time=_ZIP_TIME), data)
            record.append(f"{member},{_record_hash(data)},{len(data)}\n")
        record.append(f"{dist_info}/RECORD,,\n")
        zf.writestr(zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=_ZIP_TIME),
                    "".join(record))
    return path
