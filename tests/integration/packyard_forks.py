"""``packyard`` started once per test process and forked for each server or command a test runs.

The integration suite starts about a hundred servers, and each spent ~2 s of CPU (~2.7 s under
coverage) importing ~1,300 modules before it ran a line of its own start-up. A fork server (the
idea of multiprocessing's ``forkserver``, as ``aws_forks.py`` does for the AWS CLI) imports them
once: ``packyard.launch.load()`` and what ``serve`` loads after it (uvicorn, the server, the
format plug-ins); then each server is a child forked from it that runs the real command, the
console script's ``sys.exit(packyard.launch.main())``, with its own arguments, environment,
working directory, session (``setsid``, as ``start_new_session=True``), stdin from /dev/null
and stdout and stderr appended to its log (or, for a command, each to a file of its own).
Nothing of the server's own start-up is shared: settings, the data directory, keys,
migrations, the app and uvicorn all happen in the child. Other commands (``packyard encrypt``,
``import``, ``migrate-storage``…) are forked the same way (``PackyardForks.run``).

What only an interpreter's start decides cannot be given to a child: a server whose
environment differs from the fork server's in a ``PYTHON*``, locale or ``COVERAGE_*`` variable
runs as a plain process (``PackyardForks.start`` answers None). Coverage follows the children
through ``[tool.coverage.run] patch = ["fork"]``: each child measures itself into a data file
of its own.

Run as a script, this file is the fork server: requests are JSON lines on stdin; it answers
each with the child's pid, and when a child ends, with its pid and exit code (``subprocess``'s
convention: ``-N`` for a signal), as JSON lines on stdout.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import locale
import os
import pkgutil
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_STARTUP_PREFIXES = ("PYTHON", "COVERAGE_")
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES"})

# What `packyard serve` imports after `packyard.launch.load()`: the server and the format
# plug-ins (every module of these packages), and uvicorn's parts. Best effort: a module left
# out is imported by the child, as a plain process would.
_PACKAGES = ("packyard.server", "packyard.formats.pypi", "packyard.formats.npm",
             "packyard.formats.generic")
_MODULES = ("uvicorn.main", "uvicorn.config", "uvicorn.server", "uvicorn.lifespan.on",
            "uvicorn.loops.auto", "uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl",
            "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.websockets.auto",
            "uvicorn.middleware.proxy_headers", "uvicorn.supervisors", "prometheus_client",
            "httpcore", "h11", "logging.config", "logging.handlers", "email.policy")


def _startup(env: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items()
            if name in _STARTUP_NAMES or name.startswith(_STARTUP_PREFIXES)}


class ForkedProcess:
    """A forked ``packyard`` command, with what the suite uses of ``subprocess.Popen``."""

    def __init__(self, forks: PackyardForks, pid: int, args: Sequence[str]) -> None:
        self._forks = forks
        self.pid = pid
        self.args = list(args)

    @property
    def returncode(self) -> int | None:
        return self._forks.exit_code(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self._forks.wait_for(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # as Popen: never signal a pid that may have been reused
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class PackyardForks:
    """The client side: one fork server for this process, started by the first ``packyard``."""

    def __init__(self, python: Path) -> None:
        self._python = python
        self._lock = threading.Lock()
        self._ended = threading.Condition()
        self._exits: dict[int, int] = {}
        self._pids: list[int] = []
        self._server: subprocess.Popen[bytes] | None = None
        self._startup: dict[str, str] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="packyard-forks-"))
        self._failed = ""

    def start(self, argv: Sequence[str], env: Mapping[str, str], *, log: Path | None = None,
              stdout: Path | None = None, stderr: Path | None = None,
              cwd: Path | None = None) -> ForkedProcess | None:
        """Start ``argv`` (the ``packyard`` script and its arguments) as ``subprocess.Popen(argv,
        env=env, stdout=<log, appended>, stderr=STDOUT, stdin=DEVNULL, start_new_session=True)``
        would, or with ``stdout`` and ``stderr`` each written to a file of its own; None when
        this server cannot (see the module's docstring)."""
        with self._lock:
            if self._server is None or self._server.poll() is not None:
                self._start(env)
            if _startup(env) != self._startup:
                return None
            outputs = ({"stdout": str(log), "stderr": str(log), "append": True} if log else
                       {"stdout": str(stdout or os.devnull), "stderr": str(stderr or os.devnull),
                        "append": False})
            request = {"argv": [str(a) for a in argv], "env": dict(env),
                       "cwd": str(cwd or Path.cwd()), **outputs}
            assert self._server is not None and self._server.stdin is not None
            self._server.stdin.write(json.dumps(request).encode() + b"\n")
            self._server.stdin.flush()
            with self._ended:
                while len(self._pids) == 0:
                    if self._failed:
                        raise AssertionError(self._failed)
                    self._ended.wait(timeout=1.0)
                pid = self._pids.pop(0)
            return ForkedProcess(self, pid, argv)

    def run(self, argv: Sequence[str], env: Mapping[str, str], *, timeout: float,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str] | None:
        """``argv`` as ``subprocess.run(capture_output=True, text=True, stdin=DEVNULL)`` would
        run it; None when this server cannot."""
        out = Path(tempfile.mkstemp(dir=self._workdir, suffix=".out")[1])
        err = Path(tempfile.mkstemp(dir=self._workdir, suffix=".err")[1])
        try:
            proc = self.start(argv, env, stdout=out, stderr=err, cwd=cwd)
            if proc is None:
                return None
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
                raise subprocess.TimeoutExpired(list(argv), timeout, _text(out),
                                                _text(err)) from None
            return subprocess.CompletedProcess(list(argv), code, _text(out), _text(err))
        finally:
            out.unlink(missing_ok=True)
            err.unlink(missing_ok=True)

    def exit_code(self, pid: int) -> int | None:
        with self._ended:
            return self._exits.get(pid)

    def wait_for(self, pid: int, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ended:
            while pid not in self._exits:
                if self._failed:
                    raise AssertionError(self._failed)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._ended.wait(timeout=left)
            return self._exits[pid]

    def close(self) -> None:
        """End the fork server: it stops the children still running (SIGTERM) and waits."""
        with self._lock:
            server, self._server = self._server, None
            if server is not None and server.stdin is not None:
                server.stdin.close()
                server.wait(timeout=60)
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _start(self, env: Mapping[str, str]) -> None:
        self._startup = _startup(env)
        start_env = {**env, "PATH": env.get("PATH", os.defpath)}
        # The Packyard this suite runs (a checkout named by PYTHONPATH, when pytest runs with
        # one), whatever environment the first command is given.
        if "PYTHONPATH" in os.environ:
            start_env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
        with (self._workdir / "server.log").open("ab") as log:
            self._server = subprocess.Popen(
                [str(self._python), __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, env=start_env, cwd=self._workdir)
        threading.Thread(target=self._read, args=(self._server,), name="packyard-forks",
                         daemon=True).start()

    def _read(self, server: subprocess.Popen[bytes]) -> None:
        assert server.stdout is not None
        for line in server.stdout:
            reply = json.loads(line)
            with self._ended:
                if "returncode" in reply:
                    self._exits[reply["pid"]] = reply["returncode"]
                else:
                    self._pids.append(reply["pid"])
                self._ended.notify_all()
        with self._ended:
            if self._server is server:  # not ended by close(), which removes the log with it
                log = (self._workdir / "server.log").read_text(errors="replace")
                self._failed = f"packyard's fork server exited:\n{log[-4000:]}"
            self._ended.notify_all()


def _text(path: Path) -> str:
    # As subprocess.run(text=True) decodes: the locale's encoding, universal newlines.
    with path.open(encoding=locale.getpreferredencoding(False)) as stream:
        return stream.read()


# -- the server -------------------------------------------------------------------------------

def _preload() -> None:
    import packyard.launch

    packyard.launch.load()
    names = list(_MODULES)
    for package in _PACKAGES:
        module = importlib.import_module(package)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")]
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _say(reply: Mapping[str, int]) -> None:
    os.write(1, json.dumps(reply).encode() + b"\n")


def _child(request: Mapping[str, Any]) -> None:
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    tempfile.tempdir = None  # gettempdir() caches its answer; this server's TMPDIR decides
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request["append"] else os.O_TRUNC)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(os.open(request["stdout"], flags, 0o644), 1)
    os.dup2(os.open(request["stderr"], flags, 0o644) if request["stderr"] != request["stdout"]
            else 1, 2)
    os.closerange(3, 1 << 16)  # as Popen's close_fds: what the child needs is on 0-2 now
    sys.argv = list(request["argv"])
    # Where a console script runs from, in front of PYTHONPATH's entries (this server's
    # sys.path starts with them, its own directory taken off): replacing sys.path[0] dropped
    # the first, and a worker of ``--workers N`` (spawned with this sys.path) imported
    # whichever Packyard is installed instead of the one PYTHONPATH names.
    sys.path.insert(0, os.path.dirname(sys.argv[0]))
    import packyard.launch

    # The console script's own line: leave through SystemExit, so the interpreter flushes its
    # streams and runs its exit handlers (coverage's among them).
    sys.exit(packyard.launch.main())  # type: ignore[func-returns-value]


def serve() -> None:
    _preload()
    if threading.active_count() != 1:
        raise SystemExit(f"a thread was started while loading: {threading.enumerate()}")
    sys.stdout.flush()
    sys.stderr.flush()
    wakeup = os.pipe()
    for fd in wakeup:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wakeup[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pending = b""
    children: set[int] = set()
    stdin_open = True
    while stdin_open or children:
        ready = select.select([0, wakeup[0]] if stdin_open else [wakeup[0]], [], [], 1.0)[0]
        if wakeup[0] in ready:
            with contextlib.suppress(BlockingIOError):  # drained: SIGCHLD woke the select
                while os.read(wakeup[0], 512):
                    pass
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            _say({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})
        if 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:
                stdin_open = False  # the test process is done: wait for the last children
                for pid in children:
                    os.kill(pid, signal.SIGTERM)
                continue
            pending += chunk
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children.add(pid)
                _say({"pid": pid})


if __name__ == "__main__":
    sys.path.pop(0)  # this file's directory: nothing of the tests' is imported by a server
    serve()
