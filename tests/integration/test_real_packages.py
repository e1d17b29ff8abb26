"""Real packages from PyPI that no test here made: published with twine, installed with pip and uv.

The corpus is downloaded by the suite's setup (``scripts/test``) into PACKYARD_REAL_DISTS.
"""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    ClientHome,
    PypiRepo,
    create_pypi_repo,
    make_venv,
    normalize,
    run,
    tool,
)

REAL = Path(os.environ.get("PACKYARD_REAL_DISTS", ".test-cache/real-dists"))


def _corpus() -> list[Path]:
    if not (REAL / ".complete").exists():
        pytest.skip(f"no real-package corpus at {REAL} (scripts/test downloads it)")
    return sorted(p for p in REAL.iterdir() if p.suffix in (".whl", ".gz"))


def _project(path: Path) -> str:
    return normalize(path.name.split("-")[0])


@pytest.fixture(scope="module")
def published(api: Any, server: Any, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[PypiRepo, list[Path], ClientHome]:
    files = _corpus()
    repo = create_pypi_repo(api, server.url, "real")
    home = ClientHome(tmp_path_factory.mktemp("real-home"))
    # The token as TWINE_PASSWORD: on the command line, one that starts with "-" (tokens are
    # base64url) is read by twine's parser as an option.
    proc = run([tool("twine"), "upload", "--non-interactive", "--disable-progress-bar",
                "--repository-url", repo.endpoint, "-u", "aws", *map(str, files)],
               {**home.env(), "TWINE_PASSWORD": repo.token}, check=False, timeout=300)
    assert proc.returncode == 0, f"twine upload of real packages failed:\n{proc.stdout}\n{proc.stderr}"
    return repo, files, home


def test_every_real_file_is_listed_with_its_own_hash(published: tuple[PypiRepo, list[Path], ClientHome]) -> None:
    repo, files, _ = published
    with repo.client() as client:
        for path in files:
            page = client.get(repo.project_url(_project(path)),
                              headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            assert page.status_code == 200, page.text
            listed = {f["filename"]: f for f in page.json()["files"]}
            assert path.name in listed, f"{path.name} missing from {sorted(listed)}"
            assert listed[path.name]["hashes"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_wheel_metadata_file_is_the_wheels_own(published: tuple[PypiRepo, list[Path], ClientHome]) -> None:
    repo, files, _ = published
    wheel = next(p for p in files if p.suffix == ".whl")
    with zipfile.ZipFile(wheel) as zf:
        inside = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        expected = zf.read(inside)
    with repo.client() as client:
        got = client.get(f"{repo.project_url(_project(wheel))}{wheel.name}.metadata")
    assert got.status_code == 200
    assert got.content == expected


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_install_real_packages(published: tuple[PypiRepo, list[Path], ClientHome],
                               installer: str, tmp_path: Path) -> None:
    repo, files, home = published
    projects = sorted({_project(p) for p in files})
    if installer == "pip":
        # A venv with pip from ensurepip (offline), then pip against Packyard only.
        run([sys.executable, "-m", "venv", str(tmp_path / "venv")], home.env(), timeout=300)
        python = tmp_path / "venv" / "bin" / "python"
        cmd = [str(python), "-m", "pip", "install", "--no-cache-dir", "--no-deps",
               "--index-url", repo.index_url_with_token, *projects]
    else:
        python = make_venv(tmp_path / "venv", home)
        cmd = [str(tool("uv")), "pip", "install", "--python", str(python), "--no-cache", "--no-deps",
               "--index-url", repo.index_url_with_token, *projects]
    proc = run(cmd, home.env(), check=False, timeout=300)
    assert proc.returncode == 0, f"{installer} install failed:\n{proc.stdout}\n{proc.stderr}"
    check = run([str(python), "-c", "import six, idna, certifi, packaging, pyparsing, tomli; print('ok')"],
                home.env())
    assert check.stdout.strip() == "ok"
