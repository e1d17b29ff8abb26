"""Ids of domains, repositories, packages, versions and assets never reused (SQLite)

Revision ID: 0018_ids_never_reused
Revises: 0017_sdist_metadata_withdrawn

SQLite gives a new row the largest id in the table plus one, so a domain (or repository,
package, version, asset) created after the newest one was deleted took the deleted one's id,
and what processes keep by id for a few seconds or a minute (a token's check, the key a domain's
data keys are wrapped with) went on to the new one. With AUTOINCREMENT an id is never given
twice (SQLite keeps the largest given in ``sqlite_sequence``), as PostgreSQL's sequences never
give one twice. The tables are rebuilt so declared; PostgreSQL has nothing to do.
"""

from __future__ import annotations

from alembic import op

revision = "0018_ids_never_reused"
down_revision = "0017_sdist_metadata_withdrawn"
branch_labels = None
depends_on = None

# Parents first: each rebuild copies the rows with their ids, so references stay right.
TABLES = ("domains", "repositories", "packages", "package_versions", "assets")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(TABLES):
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": False}):
            pass
