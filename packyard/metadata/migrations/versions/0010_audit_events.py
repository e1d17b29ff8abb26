"""The audit trail in the database, the events outbox and the webhooks' delivery state

Revision ID: 0010_audit_events
Revises: 0007_groups_tags

New tables only, all empty at first: ``audit_events`` (the audit trail when
PACKYARD_AUDIT_LOG=database), ``event_outbox`` (package version changes to send, written with
the change), ``package_event_sequences`` (each package's last event number),
``webhook_cursors`` (how far each webhook was sent) and ``event_dispatch_lease`` (which process
sends).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_audit_events"
down_revision = "0007_groups_tags"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                     autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        _id(),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_source", sa.String(length=128), nullable=False),
        sa.Column("event_name", sa.String(length=128), nullable=False),
        sa.Column("principal_arn", sa.String(length=2048), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_event_time", "audit_events", ["event_time"])
    op.create_table(
        "event_outbox",
        _id(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("domain_name", sa.String(length=50), nullable=False),
        sa.Column("domain_owner", sa.String(length=12), nullable=False),
        sa.Column("repository_name", sa.String(length=100), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
        # Ids are the webhooks' cursors: never reused, even after the newest rows are pruned
        # (SQLite's plain rowids would reuse them).
        sqlite_autoincrement=True,
    )
    op.create_table(
        "package_event_sequences",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "format", "namespace", "name",
                                name=op.f("pk_package_event_sequences")),
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("webhook", sa.String(length=128), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("webhook", name=op.f("pk_webhook_cursors")),
    )
    op.create_table(
        "event_dispatch_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_dispatch_lease")),
    )


def downgrade() -> None:
    op.drop_table("event_dispatch_lease")
    op.drop_table("webhook_cursors")
    op.drop_table("package_event_sequences")
    op.drop_table("event_outbox")
    op.drop_index("ix_audit_events_event_time", table_name="audit_events")
    op.drop_table("audit_events")
