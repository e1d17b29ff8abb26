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
    run_checked([uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(path)], 120, what="uv venv")
    run_checked(
        [uv, "pip", "install", "--quiet", "--python", str(venv.python), *requirements],
        timeout_seconds,
        what=f"installing {' '.join(requirements)}",
    )
    stamp.write_text(wanted)
    return venv


def fresh_client_venv(path: Path) -> Venv:
    """Create an empty environment (with pip) for one install measurement; not timed."""
    if path.exists():
        shutil.rmtree(path)
    run_checked([uv_binary(), "venv", "--quiet", "--seed", "--python", sys.executable, str(path)], 120, what="uv venv")
    return Venv(path)


def installed_version(venv: Venv, distribution: str) -> str:
    """Return the installed version of `distribution` in `venv` (for the results' metadata)."""
    done = run_checked(
        [str(venv.python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        60,
        what=f"reading the version of {distribution}",
    )
    return done.stdout.strip()
