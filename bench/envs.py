"""Virtual environments for the servers under test, installed from PyPI with uv.

Each server gets its own environment under bench/.work/venvs so that no server's dependencies
change another's. An environment is rebuilt only when its requirement list changes.
"""

from __future__ import annotations

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


def ensure_venv(
    path: Path, requirements: tuple[str, ...], fingerprint: str = "", timeout_seconds: float = 600
) -> Venv:
    """Create `path` with `requirements` installed unless it already holds exactly those.

    `fingerprint` names anything else that should force a rebuild (e.g. a pyproject's hash).
    """
    venv = Venv(path)
    stamp = path / ".bench-requirements"
    wanted = "\n".join([*requirements, fingerprint])
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
