"""Poetry against a real Packyard, configured as CodeArtifact's guide configures it: the
repository as the project's primary source and as a repository to publish to, the token in
POETRY_HTTP_BASIC_<NAME>_*. poetry publish --build, poetry add of what was published (with its
dependency), poetry lock and poetry install into a fresh virtualenv, and what Poetry prints when
the token is refused. The server's upstreams lead nowhere: only what the test published can be
installed.

``scripts/test`` installs Poetry 2.5.1 into a virtualenv of its own (``.test-cache/poetry``)
and names its ``poetry`` in ``PACKYARD_POETRY``, read when this module is imported (the suite's
session fixture removes ``PACKYARD_*`` from the environment)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    ClientHome,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
)

_POETRY = os.environ.get("PACKYARD_POETRY", "")
POETRY = Path(_POETRY) if _POETRY and Path(_POETRY).is_file() else None
SOURCE = "packyard"  # the name of the source and of the repository to publish to


def poetry() -> Path:
    """Poetry's command; skips the test when scripts/test could not install it."""
    if POETRY is None:
        pytest.skip("Poetry was not installed by scripts/test (offline?); set PACKYARD_POETRY "
                    "to the poetry command of a Poetry 2.5.1")
    return POETRY


class PoetryHome(ClientHome):
    """A throwaway home for Poetry: its config, cache and data inside, no keyring, virtualenvs
    in each project's .venv (without pip: Poetry installs without it), never a question."""

    def poetry_env(self, token: str) -> dict[str, str]:
        prefix = f"POETRY_HTTP_BASIC_{SOURCE.upper()}_"
        return self.env(**{
            "POETRY_CONFIG_DIR": str(self.root / ".config/pypoetry"),
            "POETRY_CACHE_DIR": str(self.root / ".cache/pypoetry"),
            "POETRY_DATA_DIR": str(self.root / ".local/share/pypoetry"),
            "POETRY_NO_INTERACTION": "1",
            "POETRY_KEYRING_ENABLED": "false",
            "POETRY_VIRTUALENVS_IN_PROJECT": "true",
            "POETRY_VIRTUALENVS_OPTIONS_NO_PIP": "true",
            prefix + "USERNAME": "aws",
            prefix + "PASSWORD": token,
        })

    def poetry(self, env: dict[str, str], *args: str, cwd: Path,
               check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(poetry()), "--no-ansi", "--no-interaction", *args]
        proc = subprocess.run(argv, env=env, cwd=cwd, timeout=180, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"poetry failed with exit code {proc.returncode}: {' '.join(args)}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
        return proc


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> PypiRepo:
    poetry()  # skips before the server starts when Poetry is not there
    offline_server: ServerProcess = request.getfixturevalue("offline_server")
    api: Any = codeartifact_client(offline_server.url)
    return create_pypi_repo(api, offline_server.url, "poetry")


def _project(root: Path, name: str, dependencies: Sequence[str] = ()) -> Path:
    """A small poetry-core project with one module, as `poetry new` makes it (no dist/ yet)."""
    module = name.replace("-", "_")
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(f"NAME = {name!r}\n")
    (root / "README.md").write_text(f"# {name}\n")
    requires = "".join(f'    "{d}",\n' for d in dependencies)
    (root / "pyproject.toml").write_text(
        "[project]\n"
        f'name = "{name}"\n'
        'version = "1.0.0"\n'
        f'description = "{name} for Packyard\'s tests"\n'
        'readme = "README.md"\n'
        'requires-python = ">=3.9"\n'
        f"dependencies = [\n{requires}]\n\n"
        "[build-system]\n"
        'requires = ["poetry-core>=2.0.0,<3.0.0"]\n'
        'build-backend = "poetry.core.masonry.api"\n')
    return root


def _publish(home: PoetryHome, env: dict[str, str], repo: PypiRepo, project: Path,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    home.poetry(env, "config", "repositories." + SOURCE, repo.endpoint, cwd=project)
    return home.poetry(env, "publish", "--build", "-r", SOURCE, cwd=project, check=check)


def test_poetry_publishes_then_adds_locks_and_installs_from_its_primary_source(
        repo: PypiRepo, tmp_path: Path) -> None:
    home = PoetryHome(tmp_path / "home")
    env = home.poetry_env(repo.token)
    for name, dependencies in (("acme-base", []), ("acme-lib", ["acme-base>=1.0"])):
        published = _publish(home, env, repo, _project(tmp_path / name, name, dependencies))
        assert f"Publishing {name} (1.0.0) to {SOURCE}" in published.stdout, published.stdout
    with repo.client() as http:
        page = http.get(repo.project_url("acme-lib")).text
    assert "acme_lib-1.0.0-py3-none-any.whl" in page and "acme_lib-1.0.0.tar.gz" in page

    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        "dependencies = []\n\n[tool.poetry]\npackage-mode = false\n")
    home.poetry(env, "source", "add", "--priority=primary", SOURCE, repo.simple_url, cwd=app)
    home.poetry(env, "add", "acme-lib", cwd=app)
    home.poetry(env, "lock", cwd=app)
    lock = (app / "poetry.lock").read_text()
    assert repo.token not in lock
    # Each package's source, as Poetry writes it (without the trailing slash), and no token.
    assert lock.count(f'url = "{repo.simple_url.rstrip("/")}"') == 2, lock
    assert 'name = "acme-base"' in lock

    # A fresh virtualenv, from the lock file alone.
    (app / ".venv").rename(tmp_path / "old-venv")
    home.poetry(env, "install", cwd=app)
    python = app / ".venv/bin/python"
    shown = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, acme_lib, acme_base; "
         "print(m.version('acme-lib'), m.version('acme-base'), acme_lib.NAME, acme_base.NAME)"],
        capture_output=True, text=True, check=True, env=env)
    assert shown.stdout.split() == ["1.0.0", "1.0.0", "acme-lib", "acme-base"]


def test_poetry_publish_with_a_wrong_token_prints_the_401_and_its_reason(
        repo: PypiRepo, tmp_path: Path) -> None:
    home = PoetryHome(tmp_path / "home")
    env = home.poetry_env("not-a-token")
    refused = _publish(home, env, repo, _project(tmp_path / "acme-refused", "acme-refused"),
                       check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "HTTP Error 401: Invalid authorization token" in output, output
    with repo.client() as http:
        assert http.get(repo.project_url("acme-refused")).status_code == 404
