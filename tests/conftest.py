"""Session-wide fixtures: the real services of the scale-out backends, and a summary of which
backends the conformance suites ran on.

``postgres_server`` and ``seaweedfs_server`` start PostgreSQL and SeaweedFS once per session
(``tests/services.py``) and stop them at its end. Where one cannot be started (no server
binaries, not root and no ``postgres`` user, …), the tests needing it are skipped with the
reason; in CI (``CI`` set, as ``.ci/run`` runs) or with ``PACKYARD_REQUIRE_SERVICES=1`` they
fail instead, so a backend cannot silently stop being tested.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.openbao import openbao  # noqa: F401  (the session's OpenBao, for transit)
from tests.services import (
    DatabaseClones,
    PostgresServer,
    SeaweedServer,
    ServiceUnavailable,
    start_postgres,
    start_seaweedfs,
)

_CONFORMANCE = Path(__file__).parent / "conformance"
# Fixtures whose parameter names the backend a conformance test runs on, and their suite.
_SUITES = {"databases": "metadata", "backend": "blob store"}
_OUTCOMES = pytest.StashKey[Counter[tuple[str, str, str]]]()
_SKIPS = pytest.StashKey[dict[tuple[str, str], str]]()  # the first reason per backend
_STARTS = pytest.StashKey[dict[str, str]]()  # started in this process, not yet reported
_REPORTED_STARTS = pytest.StashKey[dict[str, str]]()


def _services_required() -> bool:
    flags = (os.environ.get("CI", ""), os.environ.get("PACKYARD_REQUIRE_SERVICES", ""))
    return any(flag.lower() not in ("", "0", "false", "no") for flag in flags)


def _unavailable(service: str, problem: ServiceUnavailable) -> NoReturn:
    message = f"{service} could not be started: {problem}"
    if _services_required():
        pytest.fail(f"{message} (required: CI or PACKYARD_REQUIRE_SERVICES is set)",
                    pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except ServiceUnavailable as problem:
        _unavailable("PostgreSQL", problem)
    request.config.stash[_STARTS]["PostgreSQL"] = f"{server.start_seconds:.2f} s"
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server: PostgresServer) -> Iterator[DatabaseClones]:
    """Databases at the newest schema, for tests that want a migrated catalog: copies
    (CREATE DATABASE … TEMPLATE) of a template migrated once per session, made ahead of time."""
    from packyard.metadata.catalog import SqlCatalog

    template = "packyard_template"
    postgres_server.create_database(template)
    catalog = SqlCatalog(postgres_server.url(template))
    try:
        catalog.migrate()
    finally:
        catalog.dispose()  # a template must have no connections when it is copied
    clones = DatabaseClones(postgres_server, template)
    try:
        yield clones
    finally:
        clones.close()


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite catalog at the newest schema, migrated once per test process, for tests that
    want one to copy (~2 ms) instead of migrating a new file (~140 ms of CPU)."""
    from packyard.metadata.catalog import SqlCatalog

    path = tmp_path_factory.mktemp("sqlite-migrated") / "catalog.sqlite"
    catalog = SqlCatalog(f"sqlite:///{path}")
    catalog.migrate()
    catalog.dispose()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def seaweedfs_server(request: pytest.FixtureRequest) -> Iterator[SeaweedServer]:
    try:
        server = start_seaweedfs()
    except ServiceUnavailable as problem:
        _unavailable("SeaweedFS", problem)
    request.config.stash[_STARTS]["SeaweedFS"] = f"{server.start_seconds:.2f} s"
    try:
        yield server
    finally:
        server.stop()


# -- which backends ran -----------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    # botocore's credential chain ends at the instance metadata service, a link-local address
    # no test may reach; tests give credentials explicitly.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    config.stash[_OUTCOMES] = Counter()
    config.stash[_SKIPS] = {}
    config.stash[_STARTS] = {}
    config.stash[_REPORTED_STARTS] = {}
    config.pluginmanager.register(_ReportCounter(config), "packyard-report-counter")


# Under pytest-xdist the tests run in worker processes and only their reports reach the
# controller, which prints the summary: what the summary needs travels in each report's
# user_properties, and is counted where the reports are logged (worker and controller alike).
_BACKEND_PROPERTY = "packyard-conformance-backend"
_START_PROPERTY = "packyard-service-start"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    callspec = getattr(item, "callspec", None)
    counted = report.when == "call" or (report.when == "setup" and not report.passed)
    if callspec is not None and counted and item.path.is_relative_to(_CONFORMANCE):
        for fixture, suite in _SUITES.items():
            if fixture in callspec.params:
                report.user_properties.append(
                    (_BACKEND_PROPERTY, (suite, str(callspec.params[fixture]))))
    if report.when == "setup":
        for service, seconds in item.config.stash[_STARTS].items():
            report.user_properties.append((_START_PROPERTY, (service, seconds)))
        item.config.stash[_STARTS].clear()  # each start is reported once, by the next test
    return report


class _ReportCounter:
    """Counts the conformance backends and service starts the reports carry."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _BACKEND_PROPERTY:
                backend = (str(value[0]), str(value[1]))
                self.config.stash[_OUTCOMES][(*backend, report.outcome)] += 1
                if report.skipped and isinstance(report.longrepr, tuple):
                    self.config.stash[_SKIPS].setdefault(
                        backend, str(report.longrepr[2]).removeprefix("Skipped: "))
            elif name == _START_PROPERTY:
                self.config.stash[_REPORTED_STARTS].setdefault(str(value[0]), str(value[1]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    outcomes = terminalreporter.config.stash[_OUTCOMES]
    if not outcomes:
        return
    by_backend: dict[tuple[str, str], list[str]] = {}
    for (suite, backend, outcome), count in sorted(outcomes.items()):
        by_backend.setdefault((suite, backend), []).append(f"{count} {outcome}")
    terminalreporter.section("conformance backends")
    skips = terminalreporter.config.stash[_SKIPS]
    for (suite, backend), counts in by_backend.items():
        reason = skips.get((suite, backend))
        terminalreporter.write_line(f"{suite:10} {backend:11} {', '.join(counts)}"
                                    + (f" ({reason})" if reason else ""))
    for service, seconds in terminalreporter.config.stash[_REPORTED_STARTS].items():
        terminalreporter.write_line(f"{service} started in {seconds}")


# -- the order pytest-xdist hands out test files ----------------------------------------------

# The slowest files, slowest first (measured with --durations): started first, they finish
# while the other worker works through the many short files, instead of running alone at
# the end. Every other file follows by layer, the real clients' first.
_SLOWEST_FIRST = (
    "integration/test_bench_replicas_smoke.py",
    "integration/test_encryption_commands.py",
    "integration/test_replicas.py",
    "integration/test_first_hour.py",
    "integration/test_access_control.py",
    "integration/test_upstreams.py",
    "integration/test_bench_smoke.py",
    "integration/test_replica_pulls.py",
    "integration/test_version_lifecycle.py",
    "integration/test_npm_publish_install.py",
    "integration/test_npm_walkthrough.py",
    "integration/test_package_groups.py",
    "integration/test_console_browser.py",
    "integration/test_pypi_publish_install.py",
    "integration/test_storage_crash.py",
    "integration/test_webhooks.py",
    "integration/test_real_packages.py",
)
_LAYERS = ("integration", "conformance", "inprocess", "unit")


def _file_rank(path: Path) -> tuple[int, int]:
    relative = path.relative_to(Path(__file__).parent).as_posix()
    if relative in _SLOWEST_FIRST:
        return (0, _SLOWEST_FIRST.index(relative))
    layer = relative.split("/", 1)[0]
    return (1, _LAYERS.index(layer) if layer in _LAYERS else len(_LAYERS))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # in one process the order changes nothing but where a failure shows first
    # A stable sort keeps each file's tests together and in their own order.
    items.sort(key=lambda item: _file_rank(item.path))
