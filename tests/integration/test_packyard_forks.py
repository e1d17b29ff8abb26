"""``packyard``'s fork server (tests/integration/packyard_forks.py) starts a server as the plain
process would: its own session, environment, arguments and log; the same exit codes for a
refusal, a SIGTERM and a SIGKILL; a command with the same exit code, stdout and stderr; and a
plain process where an interpreter's start differs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import (
    Credentials,
    ServerProcess,
    codeartifact_client,
    server_env,
    tool,
)
from tests.integration.packyard_forks import ForkedProcess, PackyardForks


@pytest.fixture(scope="module")
def forks() -> Iterator[PackyardForks]:
    """A fork server of the module's own (each test worker has one for the suite)."""
    forks = PackyardForks(Path(sys.executable))
    yield forks
    forks.close()


def _argv(port: int, data_dir: Path) -> list[str]:
    return [str(tool("packyard")), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir)]


def _forked(forks: PackyardForks, argv: list[str], env: dict[str, str], log: Path) -> ForkedProcess:
    proc = forks.start(argv, env, log=log)
    assert proc is not None, "the fork server declined a server it can start"
    return proc


def _plain(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


@contextmanager
def _busy_port() -> Iterator[int]:
    """A port something else listens on: a server started on it refuses to start."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _words(log: Path) -> list[str]:
    """The log without what differs between two starts (ports, pids, keys, paths, times)."""
    text = log.read_text(errors="replace")
    text = re.sub(r"\b\d+\b", "N", text)
    text = re.sub(r"/\S+", "PATH", text)
    return [line for line in text.splitlines() if "secret" not in line.lower()]


def test_a_forked_server_serves_from_its_own_session_environment_and_log(
        forks: PackyardForks, tmp_path: Path) -> None:
    key = Credentials("AKIAFORKEDSERVER0001", "forked-server-secret-0000000000000000001")
    env = server_env({"PACKYARD_ROOT_ACCESS_KEY_ID": key.access_key_id,
                      "PACKYARD_ROOT_SECRET_ACCESS_KEY": key.secret_access_key,
                      "PACKYARD_ACCOUNT_ID": "123456789012"})
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", env)
    port = server.port
    server.proc = _forked(forks, _argv(port, server.data_dir), env, server.log_path)
    server.wait_ready(30)
    try:
        pid = server.proc.pid
        assert os.getsid(pid) == pid  # as start_new_session=True
        assert Path(f"/proc/{pid}/cwd").resolve() == Path.cwd().resolve()
        # Its settings come from its own environment: the root key and the account it was given.
        api = codeartifact_client(server.url, key)
        api.create_domain(domain="forked")
        assert api.describe_domain(domain="forked")["domain"]["owner"] == "123456789012"
        assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200
    finally:
        server.stop()
    assert server.proc.returncode == -signal.SIGTERM
    log = server.log_path.read_text()
    assert f"Uvicorn running on http://127.0.0.1:{port}" in log and "Shutting down" in log


def test_forked_and_plain_servers_end_alike(forks: PackyardForks, tmp_path: Path) -> None:
    env = server_env()
    codes: dict[str, list[int]] = {}
    for name in ("forked", "plain"):
        base = tmp_path / name
        base.mkdir()

        def start(argv: list[str], log: Path, forked: bool = name == "forked"
                  ) -> ForkedProcess | subprocess.Popen[bytes]:
            return _forked(forks, argv, env, log) if forked else _plain(argv, env, log)

        # A port in use: the server refuses to start, with the same words and exit code.
        with _busy_port() as port:
            refused = start(_argv(port, base / "busy"), base / "busy.log")
            codes[name] = [refused.wait(60)]
        # Stopped with SIGTERM, and killed with SIGKILL.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            server = ServerProcess(base / f"data-{sig}", base / f"{sig}.log", env)
            server.proc = start(_argv(server.port, server.data_dir), server.log_path)
            server.wait_ready(30)
            assert server.proc.poll() is None
            server.proc.send_signal(sig)
            codes[name].append(server.proc.wait(30))
    assert codes["forked"] == codes["plain"]
    assert codes["plain"][0] > 0 and codes["plain"][2] == -signal.SIGKILL
    forked_words = _words(tmp_path / "forked" / "busy.log")
    assert forked_words and forked_words == _words(tmp_path / "plain" / "busy.log")


def test_a_server_whose_interpreter_would_start_otherwise_is_declined(
        forks: PackyardForks, tmp_path: Path) -> None:
    env = server_env()
    with _busy_port() as port:
        argv = _argv(port, tmp_path / "data")
        assert _forked(forks, argv, env, tmp_path / "same.log").wait(60) > 0
        for changed in ({"PYTHONHASHSEED": "7"}, {"LC_ALL": "C"},
                        {"COVERAGE_PROCESS_START": "x"}):
            assert forks.start(argv, {**env, **changed}, log=tmp_path / "d.log") is None, changed


def test_a_forked_command_answers_as_the_plain_process(forks: PackyardForks,
                                                        tmp_path: Path) -> None:
    from packyard.bootstrap import build_services
    from packyard.settings import load_settings

    packyard = str(tool("packyard"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    build_services(load_settings(environ={}, data_dir=data_dir)).catalog.dispose()
    env = server_env({"PACKYARD_DATA_DIR": str(data_dir)})
    commands = {
        "help": [packyard, "--help"],
        "usage": [packyard, "verify", "--no-such-option"],
        "refused": [packyard, "verify", "--domain", "nope"],
        "report": [packyard, "verify", "--output", "json"],
    }
    answers = {}
    for name, argv in commands.items():
        forked = forks.run(argv, env, timeout=120)
        assert forked is not None, "the fork server declined a command it can run"
        plain = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            plain.returncode, plain.stdout, plain.stderr), name
        answers[name] = forked
    assert answers["help"].returncode == 0 and "serve" in answers["help"].stdout
    assert answers["usage"].returncode == 2 and "No such option" in answers["usage"].stderr
    assert answers["refused"].returncode == 2
    assert "no domain 'nope' on this server" in answers["refused"].stderr
    assert answers["report"].returncode == 0 and '"ok": true' in answers["report"].stdout
