"""Fixtures for the integration suite: one shared Packyard server, isolated clients, sample dists."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

# The console's browser tests share one headless Chromium per module (browser.py says why).
from tests.integration.browser import browser  # noqa: F401
from tests.integration.helpers import (
    AwsCli,
    ClientHome,
    DistFactory,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    free_port,
    server_env,
    tool,
)

_SERVERS = pytest.StashKey[list[ServerProcess]]()
_FIRST_OWN_SERVER = pytest.StashKey[int]()
_SHARED_SERVER = pytest.StashKey[ServerProcess]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SERVERS] = []


def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_FIRST_OWN_SERVER] = len(item.config.stash[_SERVERS])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                        pytest.TestReport]:
    """Attach server logs to a failing test: the shared server's and those the test started."""
    report = yield
    if report.failed:
        servers = item.config.stash[_SERVERS]
        first_own = item.stash.get(_FIRST_OWN_SERVER, len(servers))
        shared = item.config.stash.get(_SHARED_SERVER, None)
        shown = ([shared] if shared else []) + [s for s in servers[first_own:] if s is not shared]
        for server in shown:
            report.sections.append(
                (f"packyard server log ({server.data_dir})", server.log_text(tail=6000)))
    return report


@pytest.fixture(scope="session", autouse=True)
def _isolated_process_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep in-process clients (boto3, httpx) away from the developer's AWS config and proxies."""
    home = tmp_path_factory.mktemp("pytest-process-home")
    (home / "config").write_text("[default]\n")
    (home / "credentials").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("AWS_", "PACKYARD_")) or "proxy" in key.lower():
                mp.delenv(key)
        mp.setenv("AWS_CONFIG_FILE", str(home / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture(scope="session")
def _server_registry(pytestconfig: pytest.Config) -> list[ServerProcess]:
    return pytestconfig.stash[_SERVERS]


def _start(registry: list[ServerProcess], data_dir: Path,
           env: Mapping[str, str | None] | None) -> ServerProcess:
    server = ServerProcess(data_dir=data_dir, log_path=data_dir.parent / f"{data_dir.name}.log",
                           env=server_env(env))
    registry.append(server)
    return server.start()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config,
           _server_registry: list[ServerProcess]) -> Iterator[ServerProcess]:
    """The shared server: test root keys from the environment, default account and region."""
    tool("packyard")
    data_dir = tmp_path_factory.mktemp("shared-server") / "data"
    proc = _start(_server_registry, data_dir, None)
    pytestconfig.stash[_SHARED_SERVER] = proc
    yield proc
    proc.stop()


def _factory(root: Path, registry: list[ServerProcess]) -> Iterator[ServerFactory]:
    started: list[ServerProcess] = []

    def start(env: Mapping[str, str | None] | None = None,
              data_dir: Path | None = None) -> ServerProcess:
        directory = data_dir or root / f"server-{len(started)}" / "data"
        directory.parent.mkdir(parents=True, exist_ok=True)
        proc = _start(registry, directory, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def server_factory(tmp_path: Path, _server_registry: list[ServerProcess]) -> Iterator[ServerFactory]:
    """Start extra servers: ``server_factory(env={...}, data_dir=...)``; all stopped afterwards.

    Passing the data_dir of a stopped server restarts Packyard on the same data.
    """
    yield from _factory(tmp_path, _server_registry)


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory: pytest.TempPathFactory,
                          _server_registry: list[ServerProcess]) -> Iterator[ServerFactory]:
    """``server_factory`` for a module's shared fixtures: stopped at the module's end."""
    yield from _factory(tmp_path_factory.mktemp("module-servers"), _server_registry)


@pytest.fixture(scope="module")
def offline_server(module_server_factory: ServerFactory) -> ServerProcess:
    """A server of the module's own whose public upstreams (pypi.org and the npm registry)
    are a loopback port nothing listens on: a client asking Packyard for anything the test did
    not publish fails instead of reaching the internet."""
    nowhere = f"http://127.0.0.1:{free_port()}/"
    return module_server_factory(env={"PACKYARD_PYPI_UPSTREAM_URL": nowhere + "simple/",
                                      "PACKYARD_NPM_UPSTREAM_URL": nowhere})


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> ClientHome:
    """A client home shared by tests that write no client configuration."""
    return ClientHome(tmp_path_factory.mktemp("client-home"))


@pytest.fixture
def fresh_home(tmp_path: Path) -> ClientHome:
    """A client home of this test's own, for tests whose clients write config (login)."""
    return ClientHome(tmp_path / "home")


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Any:
    """A boto3 CodeArtifact client for the shared server, signed with the root keys."""
    return codeartifact_client(server.url)


@pytest.fixture(scope="session")
def aws(server: ServerProcess, session_home: ClientHome) -> AwsCli:
    """The real AWS CLI for the shared server."""
    return AwsCli(server.url, session_home)


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> DistFactory:
    return DistFactory(tmp_path_factory.mktemp("dists"))


@pytest.fixture
def pypi_repo(api: Any, server: ServerProcess) -> PypiRepo:
    """A fresh domain and repository of this test's own on the shared server."""
    return create_pypi_repo(api, server.url, "t")
