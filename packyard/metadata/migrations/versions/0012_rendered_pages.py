"""Rendered project pages, kept where every process finds them

Revision ID: 0012_rendered_pages
Revises: 0011_upstream_claims

``rendered_pages``: each package's own project pages (PyPI: PEP 503 HTML and PEP 691 JSON,
with their gzip), rendered when the package changes. Empty at first: a page not rendered yet
is rendered on its first read and kept then (``metadata/rendered_pages.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_rendered_pages"
down_revision = "0011_upstream_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rendered_pages",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("gzip_body", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["package_id"], ["packages.id"], ondelete="CASCADE",
                                name=op.f("fk_rendered_pages_package_id_packages")),
        sa.PrimaryKeyConstraint("package_id", "kind", name=op.f("pk_rendered_pages")),
    )


def downgrade() -> None:
    op.drop_table("rendered_pages")
