"""Claims on upstream downloads, so one process pulls each file however many are asked

Revision ID: 0011_upstream_claims
Revises: 0009_replicas

A new table, empty at first: ``upstream_claims`` (``metadata/pull_claims.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_upstream_claims"
down_revision = "0009_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_claims",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_upstream_claims")),
    )
    op.create_index("ix_upstream_claims_expires_at", "upstream_claims", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_upstream_claims_expires_at", table_name="upstream_claims")
    op.drop_table("upstream_claims")
