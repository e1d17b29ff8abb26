"""bench's record of the interpreter a server ran on (``bench/envs.py``: ``interpreter_of``):
figures differ by a quarter between interpreter builds, so each result names its own."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

# bench/ is a folder of scripts, not a package: on the path only while its module loads, so
# its plain module names (load, report, results...) shadow nothing else in this test run.
_BENCH = str(Path(__file__).resolve().parents[2] / "bench")
sys.path.insert(0, _BENCH)
try:
    from envs import interpreter_of
finally:
    sys.path.remove(_BENCH)

_HERE = os.path.realpath(sys._base_executable)


def test_a_console_script_names_its_interpreter(tmp_path: Path) -> None:
    script = tmp_path / "packyard"
    script.write_text(f"#!{sys.executable}\nimport sys\n")
    described = interpreter_of(script)
    assert described["version"] == platform.python_version()
    assert described["executable"] == _HERE
    assert isinstance(described["libpython_shared"], bool)
    assert isinstance(described["configured_with"], list)


def test_pips_form_for_a_long_interpreter_path(tmp_path: Path) -> None:
    # pip writes this when the interpreter's path is too long for a "#!" line.
    script = tmp_path / "packyard"
    script.write_text(f"#!/bin/sh\n'''exec' \"{sys.executable}\" \"$0\" \"$@\"\n' '''\n")
    assert interpreter_of(script)["executable"] == _HERE


@pytest.mark.parametrize("text", ["import sys\n", ""])
def test_a_file_that_is_not_a_script_is_reported(tmp_path: Path, text: str) -> None:
    script = tmp_path / "packyard"
    script.write_text(text)
    assert "no #! line" in str(interpreter_of(script)["error"])


def test_a_missing_script_is_reported(tmp_path: Path) -> None:
    assert "No such file" in str(interpreter_of(tmp_path / "gone")["error"])


def test_an_interpreter_that_does_not_run_is_reported(tmp_path: Path) -> None:
    script = tmp_path / "packyard"
    script.write_text(f"#!{tmp_path / 'no-python'}\n")
    assert "no-python" in str(interpreter_of(script)["error"])
