"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import packyard.iam.schema  # noqa: F401  (registers the IAM tables on the shared metadata)
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.schema import metadata


def test_migrated_database_matches_the_declared_schema(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'db.sqlite'}")
    catalog.migrate()
    with catalog.engines[1].connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    assert drift == [], f"schema.py and the migrations disagree; add a migration: {drift}"
