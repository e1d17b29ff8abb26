"""Fixtures the metadata conformance suites share: fresh databases on every metadata backend.

The catalog and the IAM store (which lives on the catalog's engines) run the same tests on each
backend in ``_BACKENDS``. A backend is a context manager that makes one empty database and
yields its SQLAlchemy URL. SQLite needs a file. PostgreSQL (issue 15) is one more entry: a
function that asks for a session-scoped server fixture through ``request.getfixturevalue`` (the
server started once, from a URL or from Debian's binaries), creates a database on it, yields its
URL and drops it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import pytest

from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.new_files import FileRule

Backend = Callable[[pytest.FixtureRequest, Path, str], AbstractContextManager[str]]


@contextmanager
def _sqlite(_request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / f'{name}.sqlite'}"


_BACKENDS: dict[str, Backend] = {"sqlite": _sqlite}


class Databases:
    """Empty databases on one backend for the test that asks, and catalogs on them; all closed
    and removed when the test ends."""

    def __init__(self, backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                 stack: ExitStack) -> None:
        self.backend = backend
        self._request = request
        self._tmp_path = tmp_path
        self._stack = stack

    def url(self, name: str) -> str:
        """A new, empty database (no schema)."""
        return self._stack.enter_context(
            _BACKENDS[self.backend](self._request, self._tmp_path, name))

    def catalog(self, url: str, file_rules: Mapping[str, FileRule] | None = None) -> SqlCatalog:
        """A catalog on ``url``, not migrated; disposed before the database is removed."""
        catalog = SqlCatalog(url, file_rules=file_rules)
        self._stack.callback(catalog.dispose)
        return catalog


@pytest.fixture(params=sorted(_BACKENDS))
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with ExitStack() as stack:
        yield Databases(request.param, request, tmp_path, stack)


@pytest.fixture()
def catalog(databases: Databases) -> SqlCatalog:
    """A migrated, empty catalog."""
    catalog = databases.catalog(databases.url("db"))
    catalog.migrate()
    return catalog
