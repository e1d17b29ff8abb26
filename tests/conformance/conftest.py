"""Fixtures the metadata conformance suites share: fresh databases on every metadata backend.

The catalog and the IAM store (which lives on the catalog's engines) run the same tests on each
backend in ``_BACKENDS``. A backend is a context manager that makes one database and yields its
SQLAlchemy URL: empty, or (``migrated``) already at the newest schema when the backend can do
that faster than migrating. SQLite needs a file (a copy of one migrated once, when
``migrated``). PostgreSQL asks for the session's server
(``tests/conftest.py``: started once from Debian's binaries; the tests are skipped where it
cannot be) through ``request.getfixturevalue``, creates a database on it (a clone of a template
migrated once, when ``migrated``), yields its URL and drops it afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import pytest

from packyard.metadata.catalog import PageRenderer, SqlCatalog
from packyard.metadata.new_files import FileRule
from tests.services import DatabaseClones, PostgresServer

Backend = Callable[[pytest.FixtureRequest, Path, str, bool], AbstractContextManager[str]]


@contextmanager
def _sqlite(request: pytest.FixtureRequest, tmp_path: Path, name: str,
            migrated: bool) -> Iterator[str]:
    path = tmp_path / f"{name}.sqlite"
    if migrated:
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), path)
    yield f"sqlite:///{path}"


@contextmanager
def _postgresql(request: pytest.FixtureRequest, _tmp_path: Path, name: str,
                migrated: bool) -> Iterator[str]:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    if migrated:
        clones: DatabaseClones = request.getfixturevalue("postgres_migrated")
        database = clones.take()
        try:
            yield server.url(database)
        finally:
            clones.drop(database)
        return
    database = server.new_name(name)
    server.create_database(database)
    try:
        yield server.url(database)
    finally:
        server.drop_database(database)


_BACKENDS: dict[str, Backend] = {"sqlite": _sqlite, "postgresql": _postgresql}


class Databases:
    """Empty databases on one backend for the test that asks, and catalogs on them; all closed
    and removed when the test ends."""

    def __init__(self, backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                 stack: ExitStack) -> None:
        self.backend = backend
        self._request = request
        self._tmp_path = tmp_path
        self._stack = stack

    def url(self, name: str, *, migrated: bool = False) -> str:
        """A new database: empty (no schema), or possibly at the newest schema already when
        ``migrated`` (a catalog on it is migrated either way)."""
        return self._stack.enter_context(
            _BACKENDS[self.backend](self._request, self._tmp_path, name, migrated))

    def catalog(self, url: str, file_rules: Mapping[str, FileRule] | None = None, *,
                blob_present: Callable[[int, str], bool] | None = None,
                page_renderers: Mapping[str, PageRenderer] | None = None) -> SqlCatalog:
        """A catalog on ``url``, not migrated; disposed before the database is removed."""
        catalog = SqlCatalog(url, file_rules=file_rules, blob_present=blob_present,
                             page_renderers=page_renderers)
        self._stack.callback(catalog.dispose)
        return catalog


@pytest.fixture(params=sorted(_BACKENDS))
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with ExitStack() as stack:
        yield Databases(request.param, request, tmp_path, stack)


@pytest.fixture()
def catalog(databases: Databases) -> SqlCatalog:
    """A migrated, empty catalog."""
    catalog = databases.catalog(databases.url("db", migrated=True))
    catalog.migrate()
    return catalog
