"""The ``access`` topic of the change feed

Revision ID: 0013_access_topic
Revises: 0012_rendered_pages

A ``change_counters`` row for ``access``: the catalog writes that can change an access decision
or what a read grant names (domains, repositories, resource tags) announce it beside
``catalog``, so the other processes on SQLite drop their read grants for those writes only
(``metadata/change_feed.py``). No table changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_access_topic"
down_revision = "0012_rendered_pages"
branch_labels = None
depends_on = None

_counters = sa.table("change_counters", sa.column("topic", sa.String),
                     sa.column("counter", sa.BigInteger), sa.column("origin", sa.String))


def upgrade() -> None:
    op.bulk_insert(_counters, [{"topic": "access", "counter": 0, "origin": ""}])


def downgrade() -> None:
    op.execute(_counters.delete().where(_counters.c.topic == "access"))
