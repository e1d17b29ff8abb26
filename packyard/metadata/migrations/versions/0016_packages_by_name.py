"""A repository's packages by name

Revision ID: 0016_packages_by_name
Revises: 0015_later_digests

ListPackages pages through a repository's packages in name order, each page starting after
the last one's (name, id): the index answers a page without sorting the repository's packages.
"""

from __future__ import annotations

from alembic import op

revision = "0016_packages_by_name"
down_revision = "0015_later_digests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_packages_repository_name", "packages", ["repository_id", "name", "id"])


def downgrade() -> None:
    op.drop_index("ix_packages_repository_name", table_name="packages")
