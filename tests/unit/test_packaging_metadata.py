"""Packyard's own packaging metadata builds without a warning (PEP 639's license expression)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_metadata_builds_without_warnings_and_names_the_license(tmp_path: Path) -> None:
    # A copy of what a build reads, so that the build's egg-info stays out of the work tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "packyard", source / "packyard",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "metadata"
    out.mkdir()
    # -W error: a deprecation (the license as a table was one, three times a build) fails it.
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "import sys, setuptools.build_meta as b; "
         "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))", str(out)],
        cwd=source, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Warning" not in proc.stderr, proc.stderr[-4000:]
    dist_info = out / proc.stdout.strip().splitlines()[-1]
    metadata = (dist_info / "METADATA").read_text()
    assert "License-Expression: Apache-2.0\n" in metadata
