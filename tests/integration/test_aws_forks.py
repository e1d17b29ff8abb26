"""The AWS CLI's fork server (tests/integration/aws_forks.py) runs a command as the plain ``aws``
process would: the same output, exit code and files, from the command's own environment."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.aws_forks import AwsCliForks
from tests.integration.helpers import ClientHome, ServerProcess, tool


@pytest.fixture(scope="module")
def forks() -> Iterator[AwsCliForks]:
    """One fork server for the module (its start and warm-up cost ~2 s), as each test worker
    has one."""
    forks = AwsCliForks(tool("aws"))
    yield forks
    forks.close()


def _plain(argv: list[str], env: dict[str, str], cwd: Path | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def _forked(forks: AwsCliForks, argv: list[str], env: dict[str, str], cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = forks.run(argv, env, timeout=timeout, cwd=cwd)
    assert proc is not None, "the fork server declined a command it can run"
    return proc


def _same(forked: subprocess.CompletedProcess[str],
          plain: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        plain.returncode, plain.stdout, plain.stderr)
    return forked.returncode, forked.stdout, forked.stderr


def test_a_forked_command_answers_as_the_plain_process(forks: AwsCliForks, server: ServerProcess,
                                                       tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    aws = str(tool("aws"))
    commands = {
        "version": [aws, "--version"],
        "call": [aws, "sts", "get-caller-identity", "--endpoint-url", server.url],
        "refused": [aws, "codeartifact", "describe-domain", "--domain", "no-such-domain",
                    "--endpoint-url", server.url],
        "usage": [aws, "codeartifact", "list-domains", "--no-such-option"],
    }
    answers = {name: _same(_forked(forks, argv, home.env()), _plain(argv, home.env()))
               for name, argv in commands.items()}
    assert answers["version"][0] == 0 and answers["version"][1].startswith("aws-cli/")
    assert answers["call"][0] == 0 and '"Account": "000000000000"' in answers["call"][1]
    assert answers["refused"][0] == 255 and "ResourceNotFoundException" in answers["refused"][2]
    assert answers["usage"][0] == 255 and "--no-such-option" in answers["usage"][2]


def test_a_forked_command_reads_and_writes_its_own_home_and_directory(
        forks: AwsCliForks, server: ServerProcess, tmp_path: Path) -> None:
    aws = str(tool("aws"))
    first, second = ClientHome(tmp_path / "first"), ClientHome(tmp_path / "second",
                                                                region="eu-west-1")
    _forked(forks, [aws, "configure", "set", "output", "text"], first.env())
    assert "output = text" in first.aws_config_file.read_text()
    assert "output" not in second.aws_config_file.read_text()
    region = _forked(forks, [aws, "configure", "get", "region"], second.env())
    assert region.stdout == "eu-west-1\n"
    # The command's own environment names the file.
    region = _forked(forks, [aws, "configure", "get", "region"],
                     second.env(AWS_CONFIG_FILE=str(first.aws_config_file)))
    assert region.stdout == "us-east-1\n"
    # A relative file:// argument is read from the command's working directory.
    work = tmp_path / "work"
    work.mkdir()
    (work / "input.json").write_text('{"domain": "from-the-file"}')
    argv = [aws, "codeartifact", "describe-domain", "--cli-input-json", "file://input.json",
            "--endpoint-url", server.url]
    found = _forked(forks, argv, first.env(), cwd=work)
    assert found.returncode == 255 and "from-the-file" in found.stderr
    missing = _same(_forked(forks, argv, first.env(), cwd=tmp_path),
                    _plain(argv, first.env(), cwd=tmp_path))
    assert missing[0] == 255 and "input.json" in missing[2]


def test_a_command_over_its_time_is_killed_and_the_next_one_runs(forks: AwsCliForks,
                                                                  tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    aws = str(tool("aws"))
    assert _forked(forks, [aws, "--version"], home.env()).returncode == 0  # the server is up
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        argv = [aws, "sts", "get-caller-identity", "--endpoint-url",
                f"http://127.0.0.1:{silent.getsockname()[1]}", "--cli-read-timeout", "60"]
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            _forked(forks, argv, home.env(), timeout=1.5)
        assert time.monotonic() - started < 10
    version = _forked(forks, [aws, "--version"], home.env())
    assert version.returncode == 0 and version.stdout.startswith("aws-cli/")


def test_a_command_that_needs_another_interpreter_start_is_left_to_a_plain_process(
        forks: AwsCliForks, tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    aws = str(tool("aws"))
    assert _forked(forks, [aws, "--version"], home.env()).returncode == 0
    assert forks.run([aws, "--version"], home.env(PYTHONUTF8="1"), timeout=60, cwd=None) is None
    assert forks.run([aws, "--version"], home.env(AWS_DATA_PATH=str(tmp_path)), timeout=60,
                     cwd=None) is None
