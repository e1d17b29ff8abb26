"""Version lifecycle: blobs waiting to be swept, and each package's last serial

Revision ID: 0006_lifecycle
Revises: 0008_encryption

- ``blob_sweeps`` lists blobs that no asset of their domain uses any more, queued in the
  transaction that freed them and deleted from the blob store by the next sweep
  (``metadata/blob_sweeps.py``); it starts empty.
- ``packages.last_serial``: when the package's versions or files last changed (PyPI's
  ``last_serial``). Packages already there start at 0 and get a serial at their next change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_lifecycle"
down_revision = "0008_encryption"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_sweeps",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("domain_id", "sha256", name=op.f("pk_blob_sweeps")),
    )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_serial", sa.BigInteger(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_column("last_serial")
    op.drop_table("blob_sweeps")
