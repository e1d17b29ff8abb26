"""``packyard import`` on a running server's data directory, then pip installing through it."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    ClientHome,
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    make_venv,
    normalize,
    run,
    tool,
)


def _drop_folder(tmp_path: Path, *dists: Dist) -> Path:
    """A folder of distribution files, some of them one level down, as an admin would have."""
    folder = tmp_path / "drop"
    (folder / "older").mkdir(parents=True, exist_ok=True)
    for index, dist in enumerate(dists):
        shutil.copy(dist.path, (folder / "older" if index % 2 else folder) / dist.filename)
    return folder


def _import(server: ServerProcess, repo: PypiRepo, home: ClientHome,
            *paths: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("packyard"), "import", "--data-dir", server.data_dir, "--domain",
                repo.domain, "--repository", repo.repository, *paths], home.env(), check=False)


def _current_pages(server: ServerProcess, project: str) -> list[str]:
    """The kinds of ``project``'s rendered pages that show its current serial."""
    with contextlib.closing(sqlite3.connect(server.data_dir / "packyard.db")) as db:
        return sorted(kind for (kind,) in db.execute(
            "SELECT kind FROM rendered_pages JOIN packages ON packages.id = package_id "
            "WHERE packages.name = ? AND serial = last_serial", (project,)))


@pytest.fixture
def specs() -> tuple[DistSpec, DistSpec]:
    suffix = secrets.token_hex(3)
    dep = DistSpec(name=f"imp_dep.{suffix}", version="0.3")
    main = DistSpec(name=f"Imported_Pkg.{suffix}", version="1.2.0",
                    requires_dist=(f"imp-dep.{suffix}>=0.3",))
    return main, dep


def test_imported_files_install_with_pip(server: ServerProcess, pypi_repo: PypiRepo,
                                         dists: DistFactory, session_home: ClientHome,
                                         specs: tuple[DistSpec, DistSpec],
                                         tmp_path: Path) -> None:
    main, dep = specs
    folder = _drop_folder(tmp_path, *dists.both(main), *dists.both(dep))

    imported = _import(server, pypi_repo, session_home, folder)

    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "4 imported, 0 already present, 0 refused" in imported.stdout
    # Its pages were rendered before it returned, where the server (another process) reads them.
    assert _current_pages(server, normalize(main.name)) == ["html", "json"]
    with pypi_repo.client() as http:
        page = http.get(pypi_repo.project_url(normalize(main.name)))
    assert page.status_code == 200
    assert dists.wheel(main).filename in page.text and dists.sdist(main).filename in page.text
    python = make_venv(tmp_path / "venv", session_home)
    run([tool("pip"), "--python", python, "install", "--no-cache-dir", "--index-url",
         pypi_repo.index_url_with_token, main.name], session_home.env())
    shown = run([python, "-c", f"import {main.module} as m, {dep.module} as d; "
                 "print(m.VALUE); print(d.VALUE)"], session_home.env()).stdout.split("\n")
    assert shown[:2] == [f"{main.name} 1.2.0", f"{dep.name} 0.3"]


def test_importing_again_is_a_no_op(server: ServerProcess, pypi_repo: PypiRepo,
                                    dists: DistFactory, session_home: ClientHome,
                                    specs: tuple[DistSpec, DistSpec], api: Any,
                                    tmp_path: Path) -> None:
    main, _ = specs
    folder = _drop_folder(tmp_path, *dists.both(main))
    assert _import(server, pypi_repo, session_home, folder).returncode == 0

    again = _import(server, pypi_repo, session_home, folder)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 imported, 2 already present, 0 refused" in again.stdout
    assets = api.list_package_version_assets(
        domain=pypi_repo.domain, repository=pypi_repo.repository, format="pypi",
        package=normalize(main.name), packageVersion=main.version)["assets"]
    assert sorted(a["name"] for a in assets) == sorted(d.filename for d in dists.both(main))


def test_a_file_with_bad_metadata_is_refused_and_the_rest_imported(
        server: ServerProcess, pypi_repo: PypiRepo, dists: DistFactory,
        session_home: ClientHome, specs: tuple[DistSpec, DistSpec], tmp_path: Path) -> None:
    good, _ = specs
    bad = DistSpec(name=f"bad_meta.{secrets.token_hex(3)}", version="1.0",
                   requires_python=">=3.x")
    folder = _drop_folder(tmp_path, dists.wheel(good), dists.wheel(bad))

    imported = _import(server, pypi_repo, session_home, folder)

    assert imported.returncode == 1, imported.stdout + imported.stderr
    assert "1 imported, 0 already present, 1 refused" in imported.stdout
    refusal = " ".join(imported.stderr.split())
    assert f"refused {folder / 'older' / dists.wheel(bad).filename}: Invalid " in refusal
    assert "Requires-Python '>=3.x' is not a valid version specifier (PEP 440)" in refusal
    with pypi_repo.client() as http:
        assert http.get(pypi_repo.project_url(normalize(bad.name))).status_code == 404
        assert http.get(pypi_repo.project_url(normalize(good.name))).status_code == 200


def test_a_missing_repository_is_an_error(server: ServerProcess, pypi_repo: PypiRepo,
                                          dists: DistFactory, session_home: ClientHome,
                                          specs: tuple[DistSpec, DistSpec],
                                          tmp_path: Path) -> None:
    missing = PypiRepo(pypi_repo.server_url, pypi_repo.domain, "no-such-repo",
                       pypi_repo.endpoint, pypi_repo.token)
    proc = _import(server, missing, session_home, _drop_folder(tmp_path, dists.wheel(specs[0])))
    assert proc.returncode == 2
    assert (f"error: Repository no-such-repo not found in domain {pypi_repo.domain}"
            in " ".join(proc.stderr.split()))
