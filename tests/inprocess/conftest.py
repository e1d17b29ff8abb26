"""Fixtures for the in-process layer: a fresh data directory per test (a copy of one migrated
once), the app or the service layer built on it by ``bootstrap``, and clients for the app."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from packyard.bootstrap import Container
from packyard.formats.pypi.publish import PypiPublisher
from tests.inprocess.harness import (
    AwsClients,
    InProcessPackyard,
    InProcessRepo,
    build_on_copy,
    close_container,
    copy_data_dir,
    migrated_data_dir,
    settings_for,
)

# The integration suite's guard: no AWS_*/PACKYARD_* variable or proxy from the machine.
from tests.integration.conftest import _isolated_process_env  # noqa: F401
from tests.integration.helpers import DistFactory
from tests.services import DatabaseClones


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    """One event loop, in a thread of its own, for every in-process request of the session."""
    with start_blocking_portal() as running:
        yield running


@pytest.fixture(scope="session")
def aws_clients() -> AwsClients:
    return AwsClients(botocore.session.Session())


@pytest.fixture(scope="session")
def _scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where data directories go: in memory when the machine has /dev/shm. Every commit is
    fsynced (SQLite synchronous=FULL, blobs before their rename), which on a disk costs more
    than the test itself; durability is the integration suite's business (test_storage_crash)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        root = Path(tempfile.mkdtemp(prefix="packyard-inprocess-", dir=shm))
        yield root
        shutil.rmtree(root, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("inprocess")


@pytest.fixture(scope="session")
def _template(_scratch: Path) -> Path:
    return migrated_data_dir(_scratch / "template" / "data")


@pytest.fixture
def data_dir(_template: Path, _scratch: Path) -> Iterator[Path]:
    """This test's own data directory, its database already at the newest schema."""
    test_dir = Path(tempfile.mkdtemp(dir=_scratch))
    yield copy_data_dir(_template, test_dir / "data")
    shutil.rmtree(test_dir, ignore_errors=True)


PackyardFactory = Callable[..., InProcessPackyard]


@pytest.fixture
def packyard_factory(data_dir: Path, portal: BlockingPortal,
                     aws_clients: AwsClients) -> Iterator[PackyardFactory]:
    """``packyard_factory(**settings)``: the app on this test's data directory with other
    settings (``max_upload_bytes=…``)."""
    started: list[InProcessPackyard] = []

    def start(**overrides: Any) -> InProcessPackyard:
        app = InProcessPackyard(settings_for(data_dir, **overrides), portal, aws_clients)
        started.append(app)
        return app

    yield start
    for app in started:
        app.close()


@pytest.fixture
def packyard(packyard_factory: PackyardFactory) -> InProcessPackyard:
    """The app with default settings and the test root keys."""
    return packyard_factory()


@pytest.fixture
def repo(packyard: InProcessPackyard) -> InProcessRepo:
    """Domain ``acme``, repository ``shelf``, and a root token for it."""
    return packyard.pypi_repo()


@pytest.fixture
def container(data_dir: Path) -> Iterator[Container]:
    """The service layer and its adapters, wired by ``bootstrap.build`` without an app."""
    built = build_on_copy(settings_for(data_dir))
    yield built
    close_container(built)
    built.catalog.dispose()


@pytest.fixture
def publisher(container: Container) -> PypiPublisher:
    """The PyPI upload service, as the PyPI plug-in builds it on the container's registry."""
    return PypiPublisher(container.registry, container.settings.max_upload_bytes)


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> DistFactory:
    return DistFactory(tmp_path_factory.mktemp("dists"))


@pytest.fixture
def on_postgresql(postgres_migrated: DatabaseClones) -> Iterator[str]:
    """The URL of a migrated PostgreSQL database of the test's own, dropped when it ends."""
    database = postgres_migrated.take()
    try:
        yield postgres_migrated.server.url(database)
    finally:
        postgres_migrated.drop(database)
