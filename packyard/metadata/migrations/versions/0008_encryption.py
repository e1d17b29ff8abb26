"""Encryption at rest: the wrapped data key of every encrypted blob (issue 14)

Revision ID: 0008_encryption
Revises: 0010_audit_events

``data_keys`` is new and starts empty: blobs stored before it stay plain until ``packyard
encrypt`` encrypts them (each gets its row then). Domains keep their ``encryption_key``; one
that names no key of the provider (the made-up ARNs of earlier releases) is moved to the
default key the first time one of its blobs is encrypted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_encryption"
down_revision = "0010_audit_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=2048), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=True),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("plaintext_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"],
                                name=op.f("fk_data_keys_domain_id_domains")),
        sa.PrimaryKeyConstraint("domain_id", "sha256", name=op.f("pk_data_keys")),
    )
    op.create_index("ix_data_keys_key_id", "data_keys", ["key_id", "key_version"])


def downgrade() -> None:
    op.drop_index("ix_data_keys_key_id", table_name="data_keys")
    op.drop_table("data_keys")
