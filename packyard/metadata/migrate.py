"""Bringing a database to the newest schema with Alembic, at start-up.

Several processes may start at once on one database (replicas, ``--workers``): the upgrade runs
in one transaction that first takes a lock, so one process migrates and the others, once it has
committed, find the schema current and do nothing. On PostgreSQL the lock is a
transaction-level advisory lock (``pg_advisory_xact_lock``; PostgreSQL manual §13.3.5,
"Advisory Locks"), and DDL is transactional, so a migration is applied whole or not at all; on
SQLite it is the writer's ``BEGIN IMMEDIATE``.

A database whose revision this code does not know was migrated by a newer Packyard: the process
refuses to start (``SchemaTooNew``) rather than run old code on a schema it does not understand.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from packyard.errors import CannotStart
from packyard.metadata.engine import MIGRATING, MIGRATION_LOCK

log = logging.getLogger("packyard.metadata")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaTooNew(CannotStart):
    """The database was migrated past what this code knows; the message names both revisions."""


class DatabaseUnreachable(CannotStart):
    """The database refused or never answered the first connection (down, a wrong host, port,
    name or password); the message names it, without the password."""


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision this code knows (read once: loading the scripts takes ~25 ms)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None before the first migration); one query."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> bool:
    """Apply every pending migration, in one transaction under the migration lock; refuse a
    schema newer than the code. True when this call migrated, False when the schema was
    current already."""
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    try:
        connection = engine.connect()
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        # At start-up, the first thing to reach the database: one line, not a traceback.
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise DatabaseUnreachable(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
            f"{cause[0] if cause else type(error).__name__}") from None
    with connection, _table_rebuilds(connection), \
            connection.execution_options(**{MIGRATING: True}).begin():
        if connection.dialect.name == "postgresql":
            # Other processes wait here for the whole of a migration, however long it takes,
            # then find the schema current. Writers of running replicas are not held up:
            # the DDL's own table locks order them, and it commits at once or not at all.
            connection.execute(text("SET LOCAL lock_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return False
        if current is not None:
            try:
                script.get_revision(current)
            except CommandError:
                raise SchemaTooNew(
                    f"The database schema is at revision {current!r}, newer than this "
                    f"Packyard's newest ({head!r}): it was upgraded by a newer Packyard; run "
                    "that version (schemas are never downgraded)") from None
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        _check_foreign_keys(connection)
    log.info("database schema %s", f"created (revision {head})" if current is None
             else f"upgraded from revision {current} to {head}")
    return True


@contextmanager
def _table_rebuilds(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off while the migration's transaction runs: SQLite changes a
    column (NOT NULL, a type) by rebuilding its table, and dropping the old copy of a table
    others refer to would fail, or fail the commit, with them on (SQLite's "Making Other Kinds
    Of Table Schema Changes"). ``foreign_keys`` cannot change inside a transaction, so it is set
    on the driver's connection before the migration begins, checked before it commits
    (``_check_foreign_keys``) and on again after."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw: Any = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        try:
            raw.execute("PRAGMA foreign_keys=ON")
        except Exception:
            # Never back in the pool without its foreign keys.
            connection.invalidate()
            raise


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: "
                           f"{broken[:5]}")
