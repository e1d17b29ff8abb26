"""The ``content`` topic of the change feed

Revision ID: 0014_content_topic
Revises: 0013_access_topic

A ``change_counters`` row for ``content``: a catalog write that only adds files or versions to
packages (a pulled file kept) announces it instead of ``catalog``, so the other processes on
SQLite drop their pages and lookups but keep their domain graphs and package groups
(``metadata/change_feed.py``). No table changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_content_topic"
down_revision = "0013_access_topic"
branch_labels = None
depends_on = None

_counters = sa.table("change_counters", sa.column("topic", sa.String),
                     sa.column("counter", sa.BigInteger), sa.column("origin", sa.String))


def upgrade() -> None:
    op.bulk_insert(_counters, [{"topic": "content", "counter": 0, "origin": ""}])


def downgrade() -> None:
    op.execute(_counters.delete().where(_counters.c.topic == "content"))
