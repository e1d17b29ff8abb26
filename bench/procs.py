"""Server processes for the benchmark: free ports, readiness polling and guaranteed cleanup.

Every server runs in its own session (process group) so that stopping it also stops the
workers it forked (gunicorn, nginx). Only the groups this module started are ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerFailed(RuntimeError):
    """A server did not start, or died while it was being measured."""


@dataclass
class Running:
    """One started server process (the leader of its own process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 15) -> str:
        """Return the end of the server's log, to explain a failure in one place."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Starts servers and stops every one of them on exit, Ctrl-C included."""

    running: list[Running] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Running:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        proc = Running(name=name, popen=popen, log_path=log_path)
        self.running.append(proc)
        return proc

    def stop(self, proc: Running, grace_seconds: float = 8.0) -> None:
        """Stop one server's whole process group: SIGTERM, then SIGKILL after the grace period."""
        if proc.popen.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout=grace_seconds)
        # Workers can outlive a leader that exited on its own; sweep the group regardless.
        _signal_group(proc.pid, signal.SIGKILL)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            with contextlib.suppress(Exception):
                self.stop(proc)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into KeyboardInterrupt so that `finally` blocks stop the servers.

    SIGINT is set explicitly because a shell starts background jobs with it ignored, and
    Python then never raises KeyboardInterrupt.
    """

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_until_ready(
    proc: Running,
    url: str,
    timeout_seconds: float = 90.0,
    ok_statuses: frozenset[int] = frozenset({200, 401, 403, 404}),
) -> None:
    """Poll `url` until the server answers with one of `ok_statuses` (no fixed sleeps)."""
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise ServerFailed(
                f"{proc.name} exited with code {proc.popen.returncode} before it answered; "
                f"log {proc.log_path}:\n{proc.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok_statuses:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            if error.code in ok_statuses:
                return
            last_error = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last_error = str(error)
        time.sleep(0.1)
    raise ServerFailed(
        f"{proc.name} did not answer {url} within {timeout_seconds:.0f}s ({last_error}); "
        f"log {proc.log_path}:\n{proc.log_tail()}"
    )


def run_checked(
    argv: Sequence[str],
    timeout_seconds: float,
    env: Mapping[str, str] | None = None,
    what: str = "",
    drop_env_prefix: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a client command with a hard time limit; raise with its output when it fails.

    `drop_env_prefix` removes inherited variables (e.g. "PIP_") that would change what a
    measured client does, such as a machine-wide find-links folder.
    """
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not (drop_env_prefix and key.startswith(drop_env_prefix))
    }
    if env:
        full_env.update(env)
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            env=full_env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise TimeoutError(f"{what or argv[0]} took longer than {timeout_seconds:.0f}s") from error
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        # The last line (a traceback's exception, a tool's final error) goes first: the table
        # shows only a failure's first line.
        last = output[-1] if output else "no output"
        raise RuntimeError(
            f"{what or argv[0]} failed with exit code {done.returncode}: {last}\n"
            + "\n".join(output[-12:])
        )
    return done
