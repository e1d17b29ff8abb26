"""Digests filled in after a pulled file is kept

Revision ID: 0015_later_digests
Revises: 0014_content_topic

A pull computes the sha256 that names the file, the digests its upstream declared (verified)
and those its format's records need at once; the other digests of ``assets`` (``md5``,
``sha1``, ``sha512``) are NULL until ``upstream/later_digests.py`` fills them in, shortly
after. The partial index finds those assets without reading the others. (SQLite rebuilds the
table for this, with foreign keys off: ``metadata/migrate.py``.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_later_digests"
down_revision = "0014_content_topic"
branch_labels = None
depends_on = None

_COLUMNS = (("sha512", 128), ("sha1", 40), ("md5", 32))
_MISSING = "md5 IS NULL OR sha1 IS NULL OR sha512 IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name, length in _COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length), nullable=True)
    op.create_index("ix_assets_digests_missing", "assets", ["sha256"],
                    sqlite_where=sa.text(_MISSING), postgresql_where=sa.text(_MISSING))


def downgrade() -> None:
    # Nothing may be left missing under NOT NULL: run a server until the filler is done
    # (no asset with a NULL digest) before downgrading.
    op.drop_index("ix_assets_digests_missing", table_name="assets")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name, length in _COLUMNS:
            batch_op.alter_column(name, existing_type=sa.String(length), nullable=False)
