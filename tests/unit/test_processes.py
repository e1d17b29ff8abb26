"""Whether a process is running, as start-up clean-up asks about the writers of staged files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from packyard import processes
from packyard.processes import pid_alive, process_state


def test_a_running_process_is_alive_and_one_that_ended_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid)
        assert pid_alive(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)


def test_regression_a_process_killed_and_not_yet_reaped_is_not_alive() -> None:
    # A zombie (ended, its exit status not yet collected by its parent) still answers
    # signal 0; its staged files must be recovered all the same.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_state(child.pid) != "Z":
            assert time.monotonic() < deadline, "the child did not die"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # signal 0 alone would call it alive
        assert not pid_alive(child.pid)
    finally:
        child.wait()



def test_a_process_state_is_read_past_a_command_with_parentheses_and_spaces(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "stat").write_text("42 (odd (name) x) S 1 42 42 0 -1\n")
    monkeypatch.setattr(processes, "_PROC", tmp_path)
    assert process_state(42) == "S"
    assert process_state(43) is None  # no such process
