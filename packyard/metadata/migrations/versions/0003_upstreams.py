"""upstreams: upstream repositories, external connections, version entry points, upstream page cache

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:10:00.000000

New tables and one new nullable column: existing rows are untouched. Versions published before
this revision keep origin INTERNAL with the repository they were published to as entry point.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('repository_upstreams',
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('upstream_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_repository_upstreams_repository_id_repositories')),
    sa.ForeignKeyConstraint(['upstream_id'], ['repositories.id'], name=op.f('fk_repository_upstreams_upstream_id_repositories')),
    sa.PrimaryKeyConstraint('repository_id', 'position', name=op.f('pk_repository_upstreams')),
    sa.UniqueConstraint('repository_id', 'upstream_id', name='uq_repository_upstreams_repository_upstream')
    )
    with op.batch_alter_table('repository_upstreams', schema=None) as batch_op:
        batch_op.create_index('ix_repository_upstreams_upstream_id', ['upstream_id'], unique=False)

    op.create_table('repository_external_connections',
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('package_format', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_repository_external_connections_repository_id_repositories')),
    sa.PrimaryKeyConstraint('repository_id', name=op.f('pk_repository_external_connections'))
    )
    op.create_table('upstream_pages',
    sa.Column('index_url', sa.String(length=1024), nullable=False),
    sa.Column('project', sa.String(length=255), nullable=False),
    sa.Column('found', sa.Boolean(), nullable=False),
    sa.Column('document', sa.Text(), nullable=True),
    sa.Column('etag', sa.String(length=512), nullable=True),
    sa.Column('last_modified', sa.String(length=64), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('index_url', 'project', name=op.f('pk_upstream_pages'))
    )
    with op.batch_alter_table('package_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin_external_connection', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('package_versions', schema=None) as batch_op:
        batch_op.drop_column('origin_external_connection')

    op.drop_table('upstream_pages')
    op.drop_table('repository_external_connections')
    with op.batch_alter_table('repository_upstreams', schema=None) as batch_op:
        batch_op.drop_index('ix_repository_upstreams_upstream_id')

    op.drop_table('repository_upstreams')
