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
_STARTS = pytest.StashKey[dict[str, str]]()


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    callspec = getattr(item, "callspec", None)
    counted = report.when == "call" or (report.when == "setup" and not report.passed)
    if callspec is not None and counted and item.path.is_relative_to(_CONFORMANCE):
        for fixture, suite in _SUITES.items():
            if fixture in callspec.params:
                backend = (suite, str(callspec.params[fixture]))
                item.config.stash[_OUTCOMES][(*backend, report.outcome)] += 1
                if report.skipped and isinstance(report.longrepr, tuple):
                    item.config.stash[_SKIPS].setdefault(backend, str(report.longrepr[2]).removeprefix("Skipped: "))
    return report


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
    for service, seconds in terminalreporter.config.stash[_STARTS].items():
        terminalreporter.write_line(f"{service} started in {seconds}")
