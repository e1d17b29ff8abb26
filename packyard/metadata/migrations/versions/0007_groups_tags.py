"""Package groups and resource tags

Revision ID: 0007_groups_tags
Revises: 0005

- ``package_groups``: a domain's groups (pattern, description, contact info, created time and
  the group's own origin control mode per restriction), with
  ``package_group_repositories`` for the allowed repository lists;
- ``resource_tags``: tags on domains, repositories and package groups.

Every domain has the root group ``/*`` (CodeArtifact creates it with the domain): the upgrade
adds it, allowing every origin, to the domains already there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from packyard.metadata.schema import UTCDateTime

revision = "0007_groups_tags"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    groups = op.create_table(
        "package_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=520), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("contact_info", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("publish_mode", sa.String(length=32), nullable=False),
        sa.Column("external_upstream_mode", sa.String(length=32), nullable=False),
        sa.Column("internal_upstream_mode", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"],
                                name="fk_package_groups_domain_id_domains"),
        sa.PrimaryKeyConstraint("id", name="pk_package_groups"),
        sa.UniqueConstraint("domain_id", "pattern", name="uq_package_groups_domain_pattern"),
    )
    op.create_table(
        "package_group_repositories",
        sa.Column("package_group_id", sa.Integer(), nullable=False),
        sa.Column("restriction", sa.String(length=32), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_group_id"], ["package_groups.id"],
            name="fk_package_group_repositories_package_group_id_package_groups"),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["repositories.id"],
            name="fk_package_group_repositories_repository_id_repositories"),
        sa.PrimaryKeyConstraint("package_group_id", "restriction", "repository_id",
                                name="pk_package_group_repositories"),
    )
    op.create_index("ix_package_group_repositories_repository_id",
                    "package_group_repositories", ["repository_id"])
    op.create_table(
        "resource_tags",
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("tag_key", sa.String(length=128), nullable=False),
        sa.Column("tag_value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id", "tag_key",
                                name="pk_resource_tags"),
    )
    conn = op.get_bind()
    domains = sa.table("domains", sa.column("id", sa.Integer))
    now = datetime.now(UTC)
    rows = [{"domain_id": row.id, "pattern": "/*", "created_at": now, "publish_mode": "ALLOW",
             "external_upstream_mode": "ALLOW", "internal_upstream_mode": "ALLOW"}
            for row in conn.execute(sa.select(domains.c.id))]
    if rows:
        op.bulk_insert(groups, rows)


def downgrade() -> None:
    op.drop_table("resource_tags")
    op.drop_index("ix_package_group_repositories_repository_id",
                  table_name="package_group_repositories")
    op.drop_table("package_group_repositories")
    op.drop_table("package_groups")
