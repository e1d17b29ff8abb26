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
from packyard.server.log_context import configure_logging


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
    one per migration) before its banner; the server's log keeps alembic's at debug, and the
    migration says what it did in one line."""
    alembic_log = logging.getLogger("alembic")
    before = alembic_log.level
    try:
        configure_logging("info")
        assert alembic_log.getEffectiveLevel() == logging.WARNING
        configure_logging("debug")
        assert alembic_log.getEffectiveLevel() == logging.DEBUG
    finally:
        alembic_log.setLevel(before)
    caplog.set_level(logging.INFO, logger="packyard.metadata")
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    catalog.migrate()  # current already: says nothing
    catalog.dispose()
    assert [(r.name, r.getMessage()) for r in caplog.records
            if "database schema" in r.getMessage()] == [
        ("packyard.metadata", f"database schema created (revision {head_revision()})")]
