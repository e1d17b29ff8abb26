"""IAM: users, access keys, roles, managed and inline policies, STS sessions, resource policies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:45:16.568727

Only new tables: existing rows are untouched. Tokens minted before this revision keep their
principal_arn (root), which the token checks still resolve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('iam_policies',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_key', sa.String(length=128), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('arn', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('default_version_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_policies')),
    sa.UniqueConstraint('arn', name=op.f('uq_iam_policies_arn')),
    sa.UniqueConstraint('name_key', name=op.f('uq_iam_policies_name_key'))
    )
    op.create_table('iam_roles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('assume_role_policy', sa.Text(), nullable=False),
    sa.Column('max_session_duration', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_roles')),
    sa.UniqueConstraint('name_key', name=op.f('uq_iam_roles_name_key'))
    )
    op.create_table('iam_users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_users')),
    sa.UniqueConstraint('name_key', name=op.f('uq_iam_users_name_key'))
    )
    op.create_table('iam_access_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.id'], name=op.f('fk_iam_access_keys_user_id_iam_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_access_keys'))
    )
    with op.batch_alter_table('iam_access_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_access_keys_user_id'), ['user_id'], unique=False)

    op.create_table('iam_role_attachments',
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.Column('policy_arn', sa.String(length=2048), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['iam_roles.id'], name=op.f('fk_iam_role_attachments_role_id_iam_roles')),
    sa.PrimaryKeyConstraint('role_id', 'policy_arn', name=op.f('pk_iam_role_attachments'))
    )
    op.create_table('iam_role_policies',
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.Column('name_key', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['iam_roles.id'], name=op.f('fk_iam_role_policies_role_id_iam_roles')),
    sa.PrimaryKeyConstraint('role_id', 'name_key', name=op.f('pk_iam_role_policies'))
    )
    op.create_table('iam_user_attachments',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('policy_arn', sa.String(length=2048), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.id'], name=op.f('fk_iam_user_attachments_user_id_iam_users')),
    sa.PrimaryKeyConstraint('user_id', 'policy_arn', name=op.f('pk_iam_user_attachments'))
    )
    op.create_table('iam_user_policies',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('name_key', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['iam_users.id'], name=op.f('fk_iam_user_policies_user_id_iam_users')),
    sa.PrimaryKeyConstraint('user_id', 'name_key', name=op.f('pk_iam_user_policies'))
    )
    op.create_table('sts_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.Column('session_name', sa.String(length=64), nullable=False),
    sa.Column('caller_arn', sa.String(length=2048), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['iam_roles.id'], name=op.f('fk_sts_sessions_role_id_iam_roles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sts_sessions')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_sts_sessions_token_sha256'))
    )
    with op.batch_alter_table('sts_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sts_sessions_role_id'), ['role_id'], unique=False)

    op.create_table('resource_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_arn', sa.String(length=2048), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('repository_id', sa.Integer(), nullable=True),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('revision', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_resource_policies_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_resource_policies_repository_id_repositories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_policies')),
    sa.UniqueConstraint('resource_arn', name=op.f('uq_resource_policies_resource_arn'))
    )


def downgrade() -> None:
    op.drop_table('resource_policies')
    with op.batch_alter_table('sts_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sts_sessions_role_id'))

    op.drop_table('sts_sessions')
    op.drop_table('iam_user_policies')
    op.drop_table('iam_user_attachments')
    op.drop_table('iam_role_policies')
    op.drop_table('iam_role_attachments')
    with op.batch_alter_table('iam_access_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_access_keys_user_id'))

    op.drop_table('iam_access_keys')
    op.drop_table('iam_users')
    op.drop_table('iam_roles')
    op.drop_table('iam_policies')
