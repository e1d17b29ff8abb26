"""Virtual environments for the servers under test, installed from PyPI with uv.

Each server gets its own environment under bench/.work/venvs so that no server's dependencies
change another's. An environment is rebuilt only when its requirement list changes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from procs import run_checked

# Pinned so that figures from different days measure the same peer code; bump deliberately.
PEER_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "devpi": ("devpi-server==6.20.3",),
    "pypiserver": ("pypiserver[cache,passlib]==2.4.2", "gunicorn==27.0.1"),
    "proxpi": ("proxpi==1.3.1", "gunicorn==27.0.1"),
}


@dataclass(frozen=True)
class Venv:
    """A virtual environment on disk; `bin(name)` is the path of one of its scripts."""

    path: Path

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    @property
    def python(self) -> Path:
        return self.bin("python")


def uv_binary() -> str:
    """Return the uv executable installed next to the harness interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is not installed; run the benchmark through bench/run")
    return found


def _base_interpreter() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def ensure_venv(
    path: Path, requirements: tuple[str, ...], fingerprint: str = "", timeout_seconds: float = 600
) -> Venv:
    """Create `path` with `requirements` installed unless it already holds exactly those.

    `fingerprint` names anything else that should force a rebuild (e.g. a pyproject's hash);
    so does another interpreter (the venv is made from this one's).
    """
    venv = Venv(path)
    stamp = path / ".bench-requirements"
    wanted = "\n".join([*requirements, fingerprint, _base_interpreter()])
    if venv.python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv
    if path.exists():
        shutil.rmtree(path)
    uv = uv_binary()
    run_checked(
        [uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(path)],
        120,
        what="uv venv",
    )
    run_checked(
        [uv, "pip", "install", "--quiet", "--python", str(venv.python), *requirements],
        timeout_seconds,
        what=f"installing {' '.join(requirements)}",
    )
    stamp.write_text(wanted)
    return venv


def clean_client_venv(path: Path) -> Venv:
    """Return an environment with a ready pip and nothing else installed; not timed.

    A new venv's pip compiles its own bytecode on first use (seconds on a small machine), which
    a user's long-lived environment does not pay. So the environment is made once, its pip run
    once, and what it then holds is recorded; before each measurement everything installed since
    is deleted from site-packages, which leaves it as good as new.
    """
    venv = Venv(path)
    baseline = path / ".bench-baseline"
    if not baseline.exists():
        if path.exists():
            shutil.rmtree(path)
        run_checked(
            [uv_binary(), "venv", "--quiet", "--seed", "--python", sys.executable, str(path)],
            120,
            what="uv venv",
        )
        run_checked(
            [str(venv.python), "-m", "compileall", "-q", str(path / "lib")],
            300,
            what="compiling pip",
        )
        baseline.write_text("\n".join(sorted(p.name for p in _site_packages(path).iterdir())))
    keep = set(baseline.read_text().splitlines())
    for entry in _site_packages(path).iterdir():
        if entry.name not in keep:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    return venv


def _site_packages(path: Path) -> Path:
    found = sorted((path / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {path}")
    return found[0]


def installed_version(venv: Venv, distribution: str) -> str:
    """Return the installed version of `distribution` in `venv` (for the results' metadata)."""
    done = run_checked(
        [
            str(venv.python),
            "-c",
            f"import importlib.metadata as m; print(m.version({distribution!r}))",
        ],
        60,
        what=f"reading the version of {distribution}",
    )
    return done.stdout.strip()


# What the results say of the interpreter a server ran on: the same code spends about a quarter
# less of its own CPU per request on Debian's python3.11 (PGO and LTO, libpython linked in)
# than on pyenv's default build (neither, libpython a shared library), so a figure means
# little without it. Debian's build rules keep those flags out of sysconfig (its changelog:
# "Don't propagate lto flags to the _sysconfigdata module"), hence the path beside them.
_DESCRIBE = (
    "import json, os, sys, sysconfig; c = sysconfig.get_config_var('CONFIG_ARGS') or ''; "
    "maps = open('/proc/self/maps').read() if os.path.exists('/proc/self/maps') else ''; "
    "print(json.dumps({'version': sys.version.split()[0], "
    "'executable': os.path.realpath(getattr(sys, '_base_executable', sys.executable)), "
    "'libpython_shared': 'libpython' in maps, "
    "'configured_with': [a for a in ('--enable-optimizations', '--with-lto') if a in c]}))"
)
# pip writes a script whose interpreter path is too long for "#!" as a shell script whose
# second line is: '''exec' "/path/to/python" "$0" "$@"
_LONG_FORM = "'" * 3 + "exec' "


def interpreter_of(script: str | Path) -> dict[str, object]:
    """The interpreter a console script (``.../bin/packyard``) runs on, from its ``#!`` line:
    version, real path, whether it runs on a shared libpython, and which of
    ``--enable-optimizations``/``--with-lto`` its configure line names (Debian builds with
    both without naming them there: read this beside the path)."""
    try:
        lines = Path(script).read_bytes().decode().splitlines()[:2]
    except (OSError, UnicodeDecodeError) as err:
        return {"error": str(err)}
    if not lines or not lines[0].startswith("#!"):
        return {"error": f"{script} has no #! line"}
    interpreter = lines[0][2:].strip()
    if interpreter == "/bin/sh" and len(lines) > 1 and lines[1].startswith(_LONG_FORM):
        interpreter = lines[1].split('"')[1]
    # Asked when a run's results are written (npm, installs): a failure is recorded, not
    # raised, so the figures measured before it are kept.
    try:
        done = run_checked([interpreter, "-c", _DESCRIBE], 60,
                           what=f"describing the interpreter of {script}")
        described: dict[str, object] = json.loads(done.stdout)
    except (OSError, RuntimeError, ValueError) as err:
        return {"error": str(err)[:500]}
    return described
