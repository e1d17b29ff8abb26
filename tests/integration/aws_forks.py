"""The AWS CLI started once per test process and forked for each command.

``aws`` spends most of its ~0.7 s of CPU importing awscli and botocore and building the commands
of a service the first time, and the suite runs it hundreds of times. A fork server (the idea of
multiprocessing's ``forkserver``) does that once: it imports the CLI, runs one command of each
service the suite uses against a closed port, then forks a child for each command (~0.15 s).
The child is the real CLI: the ``aws`` script's own ``awscli.clidriver.main()`` with the
command's arguments, environment, working directory, stdin from /dev/null, its stdout and stderr
and its exit code. Only the interpreter's start is shared, so a command whose environment asks
for another start (a locale or ``PYTHON*`` variable the server was not started with) runs as a
plain process instead (``AwsCliForks.run`` answers None).

Run as a script, this file is the server: requests are JSON lines on stdin, and for each it
writes the child's pid and then its exit code (``subprocess``'s convention: ``-N`` for a signal)
as JSON lines on stdout.
"""

from __future__ import annotations

import json
import locale
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# What is read when the interpreter starts or awscli is imported (AWS_DATA_PATH), so a child
# cannot take it from its own environment.
_STARTUP_PREFIXES = ("PYTHON",)
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "AWS_DATA_PATH"})
# One command per service the suite drives, run in the server before it forks anything.
_WARM_UP = (("sts", "get-caller-identity"), ("codeartifact", "list-domains"),
            ("iam", "list-users"), ("kms", "list-keys"))


def _startup(env: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items()
            if name in _STARTUP_NAMES or name.startswith(_STARTUP_PREFIXES)}


class AwsCliForks:
    """The client side: one fork server for this process, started by the first command."""

    def __init__(self, aws: Path) -> None:
        self._aws = aws
        self._lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._startup: dict[str, str] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="aws-forks-"))
        self._replies = b""

    def run(self, argv: Sequence[str], env: Mapping[str, str], *, timeout: float,
            cwd: Path | None) -> subprocess.CompletedProcess[str] | None:
        """Run ``aws`` with ``argv[1:]`` as ``subprocess.run(capture_output=True, text=True,
        stdin=DEVNULL)`` would; None when this server cannot (see the module's docstring)."""
        with self._lock:
            if self._server is None or self._server.poll() is not None:
                self._start(env)
            if _startup(env) != self._startup:
                return None
            out, err = self._workdir / "stdout", self._workdir / "stderr"
            out.unlink(missing_ok=True)
            err.unlink(missing_ok=True)
            request = {"argv": [str(self._aws), *argv[1:]], "env": dict(env),
                       "cwd": str(cwd or Path.cwd()), "stdout": str(out), "stderr": str(err)}
            assert self._server is not None and self._server.stdin is not None
            self._server.stdin.write(json.dumps(request).encode() + b"\n")
            self._server.stdin.flush()
            pid = self._reply(deadline=None)["pid"]  # after the server's warm-up, if it is new
            deadline = time.monotonic() + timeout
            try:
                returncode = self._reply(deadline)["returncode"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._reply(deadline=None)
                raise subprocess.TimeoutExpired(list(argv), timeout, _read(out),
                                                _read(err)) from None
            return subprocess.CompletedProcess(list(argv), returncode, _read(out), _read(err))

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                assert self._server.stdin is not None
                self._server.stdin.close()  # the server ends at the end of its input
                self._server.wait(timeout=30)
                self._server = None
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _start(self, env: Mapping[str, str]) -> None:
        self._startup = _startup(env)
        # PATH and HOME for the warm-up; each child gets its command's whole environment.
        start_env = {**self._startup, "PATH": env.get("PATH", os.defpath),
                     "HOME": str(self._workdir)}
        log = (self._workdir / "server.log").open("ab")
        self._server = subprocess.Popen(
            [sys.executable, __file__, str(self._aws.parent)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, env=start_env, cwd=self._workdir)
        log.close()
        self._replies = b""

    def _reply(self, deadline: float | None) -> dict[str, int]:
        assert self._server is not None and self._server.stdout is not None
        fd = self._server.stdout.fileno()
        while b"\n" not in self._replies:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(fd, 4096)
            if not chunk:
                log = (self._workdir / "server.log").read_text(errors="replace")
                raise AssertionError(f"the AWS CLI's fork server exited:\n{log}")
            self._replies += chunk
        line, _, self._replies = self._replies.partition(b"\n")
        reply: dict[str, int] = json.loads(line)
        return reply


def _read(path: Path) -> str:
    # As subprocess.run(text=True) decodes: the locale's encoding, universal newlines. A child
    # killed at once may not have opened its files.
    if not path.exists():
        return ""
    with path.open(encoding=locale.getpreferredencoding(False)) as stream:
        return stream.read()


# -- the server -------------------------------------------------------------------------------

def _requests(fd: int) -> Iterator[dict[str, Any]]:
    # Read with os.read, not sys.stdin: a child must not inherit requests buffered in sys.stdin.
    pending = b""
    while True:
        while b"\n" not in pending:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            pending += chunk
        line, _, pending = pending.partition(b"\n")
        yield json.loads(line)


def _say(reply: Mapping[str, int]) -> None:
    os.write(1, json.dumps(reply).encode() + b"\n")


def _redirect(fd: int, path: str, flags: int) -> None:
    target = os.open(path, flags, 0o600)
    os.dup2(target, fd)
    os.close(target)


def _warm_up(main: Any) -> None:
    """Run a command of each service here, so the children find what it loads lazily loaded."""
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    environ = dict(os.environ)
    os.environ.update({"AWS_ACCESS_KEY_ID": "warm-up", "AWS_SECRET_ACCESS_KEY": "warm-up",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    for fd in saved:
        _redirect(fd, os.devnull, os.O_WRONLY)
    try:
        for command in _WARM_UP:
            sys.argv = ["aws", *command, "--endpoint-url", "http://127.0.0.1:9"]
            main()  # refused at once: nothing listens on the discard port
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.environ.clear()
        os.environ.update(environ)


def _child(main: Any, request: Mapping[str, Any], imported: Mapping[str, str]) -> int:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(imported)
    time.tzset()
    tempfile.tempdir = None  # gettempdir() caches its answer; this command's TMPDIR decides
    _redirect(0, os.devnull, os.O_RDONLY)
    _redirect(1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    _redirect(2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    if os.environ.get("LC_CTYPE", "") == "UTF-8":  # what the aws script does before its import
        os.environ["LC_CTYPE"] = "en_US.UTF-8"
    sys.argv = list(request["argv"])
    result: int = main()
    return result


def serve(scripts: str) -> None:
    sys.path[0] = scripts  # where the aws script runs from, not this file's directory
    before = dict(os.environ)
    import awscli.clidriver
    # What the import sets in its environment (awscli adds its data to AWS_DATA_PATH), for each
    # child's environment as the import would have set it there.
    imported = {name: value for name, value in os.environ.items() if before.get(name) != value}
    _warm_up(awscli.clidriver.main)
    for request in _requests(0):
        pid = os.fork()
        if pid == 0:
            # The child leaves through SystemExit to the top, as the aws script does: the
            # interpreter then flushes its streams and runs its exit handlers.
            sys.exit(_child(awscli.clidriver.main, request, imported))
        _say({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _say({"returncode": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    serve(sys.argv[1])
