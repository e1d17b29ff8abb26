"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text

import packyard.iam.schema  # noqa: F401  (registers the IAM tables on the shared metadata)
from packyard.cli import main
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.migrate import head_revision
from packyard.metadata.schema import metadata


def test_migrated_database_matches_the_declared_schema(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    with catalog.engines[1].connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    assert drift == [], f"schema.py and the migrations disagree; add a migration: {drift}"


def test_serve_refuses_a_schema_newer_than_the_code_in_one_line(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'packyard.db'}")
    catalog.migrate()
    with catalog.engines[1].begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    catalog.dispose()
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path)], env={})
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()).startswith(
        "error: The database schema is at revision '0099_from_the_future', newer than this "
        "Packyard's newest")
    assert "Traceback" not in result.output


def test_regression_a_new_database_is_announced_in_one_line_not_alembics_twenty(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A new user's first `packyard serve` printed ~20 alembic INFO lines (two per connection,
    one per migration) before its banner; the upgrade is now one line, alembic's at debug."""
    caplog.set_level(logging.INFO)
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    catalog.migrate()  # current already: says nothing
    catalog.dispose()
    lines = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert not [line for line in lines if line[0].startswith("alembic")], lines
    assert [line for line in lines if "database schema" in line[1]] == [
        ("packyard.metadata", f"database schema created (revision {head_revision()})")]
    assert logging.getLogger("alembic").level == logging.NOTSET  # handed back


def test_alembic_speaks_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}").migrate()
    assert any(r.name.startswith("alembic") and "Running upgrade" in r.getMessage()
               for r in caplog.records)
