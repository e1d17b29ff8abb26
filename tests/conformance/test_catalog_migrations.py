"""Migrations on every database backend: the schema they build is the declared one, several
processes starting at once migrate an empty database exactly once, and a schema newer than the
code is refused with both revisions named."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Barrier

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

import packyard.iam.schema  # noqa: F401  (registers the IAM tables on the shared metadata)
from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.migrate import SchemaTooNew, alembic_config, upgrade_to_head
from packyard.metadata.schema import metadata
from tests.conformance.conftest import Databases

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _revision(catalog: SqlCatalog) -> str | None:
    with catalog.engines[1].connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_the_migrated_schema_is_the_declared_one(databases: Databases) -> None:
    catalog = databases.catalog(databases.url("fresh"))
    catalog.migrate()
    with catalog.engines[1].connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    assert drift == [], f"schema.py and the migrations disagree; add a migration: {drift}"
    assert _revision(catalog) == HEAD


def _migrate_at_once(url: str, start: Barrier, answer: Pipe) -> None:
    """One replica starting: open the catalog, wait for the others, migrate."""
    catalog = SqlCatalog(url)
    try:
        start.wait(30)
        answer.send(("migrated" if upgrade_to_head(catalog.engines[1]) else "current", ""))
    except BaseException as exc:
        answer.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        catalog.dispose()


def test_migrators_starting_at_once_migrate_an_empty_database_once(databases: Databases
                                                                   ) -> None:
    url = databases.url("race")
    fork = multiprocessing.get_context("fork")
    start = fork.Barrier(4)
    pipes = [fork.Pipe(duplex=False) for _ in range(4)]
    workers = [fork.Process(target=_migrate_at_once, args=(url, start, sender))
               for _, sender in pipes]
    for worker in workers:
        worker.start()
    answers = sorted(receiver.recv() for receiver, _ in pipes)
    for worker in workers:
        worker.join(60)
    assert answers == [("current", "")] * 3 + [("migrated", "")]
    assert _revision(databases.catalog(url)) == HEAD


def test_a_schema_newer_than_the_code_is_refused(databases: Databases) -> None:
    url = databases.url("future", migrated=True)
    catalog = databases.catalog(url)
    catalog.migrate()
    with catalog.engines[1].begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(SchemaTooNew) as refused:
        databases.catalog(url).migrate()
    assert str(refused.value) == (
        f"The database schema is at revision '0099_from_the_future', newer than this "
        f"Packyard's newest ({HEAD!r}): it was upgraded by a newer Packyard; run that version "
        "(schemas are never downgraded)")
    assert _revision(catalog) == "0099_from_the_future"  # left as it was


def test_schema_is_current_only_at_this_codes_head(databases: Databases) -> None:
    url = databases.url("ready")
    catalog = databases.catalog(url)
    assert not catalog.schema_is_current()  # not migrated yet
    catalog.migrate()
    assert catalog.schema_is_current()
    with catalog.engines[1].begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    assert not catalog.schema_is_current()
