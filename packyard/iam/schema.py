"""The IAM tables: users, access keys, roles, policies, STS sessions and resource policies.

They live in the same ``metadata`` as the registry's tables (one database, one migration history);
every change here comes with an Alembic migration in ``packyard/metadata/migrations/versions``.

Names of users, roles and policies are unique ignoring case, as IAM's are ("names are not
distinguished by case"), so each has a lowercased ``name_key`` carrying the unique constraint.
Secrets never appear in plain text: secret access keys are encrypted (``packyard.iam.secrets``),
session tokens are stored as their sha256.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text

from packyard.metadata.schema import UTCDateTime, metadata

iam_users = Table(
    "iam_users", metadata,
    Column("id", String(32), primary_key=True),  # the unique id, AIDA...
    Column("name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_access_keys = Table(
    "iam_access_keys", metadata,
    Column("id", String(32), primary_key=True),  # the access key id, AKIA...
    Column("user_id", String(32), ForeignKey("iam_users.id"), nullable=False, index=True),
    Column("secret_encrypted", Text, nullable=False),
    Column("status", String(8), nullable=False),  # Active | Inactive
    Column("created_at", UTCDateTime(), nullable=False),
)

iam_roles = Table(
    "iam_roles", metadata,
    Column("id", String(32), primary_key=True),  # the unique id, AROA...
    Column("name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("description", String(1000), nullable=True),
    Column("assume_role_policy", Text, nullable=False),
    Column("max_session_duration", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Customer managed policies; the AWS managed ones are defined in code (packyard.iam.managed).
iam_policies = Table(
    "iam_policies", metadata,
    Column("id", String(32), primary_key=True),  # the unique id, ANPA...
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("description", String(1000), nullable=True),
    Column("document", Text, nullable=False),
    Column("default_version_id", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

iam_user_policies = Table(
    "iam_user_policies", metadata,
    Column("user_id", String(32), ForeignKey("iam_users.id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("document", Text, nullable=False),
)

iam_role_policies = Table(
    "iam_role_policies", metadata,
    Column("role_id", String(32), ForeignKey("iam_roles.id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("document", Text, nullable=False),
)

# Attachments name policies by ARN: AWS managed policies have no row of their own.
iam_user_attachments = Table(
    "iam_user_attachments", metadata,
    Column("user_id", String(32), ForeignKey("iam_users.id"), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
)

iam_role_attachments = Table(
    "iam_role_attachments", metadata,
    Column("role_id", String(32), ForeignKey("iam_roles.id"), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
)

# Temporary credentials from sts:AssumeRole. A deleted role takes its sessions with it, so their
# credentials (and the tokens minted with them) stop working at once.
sts_sessions = Table(
    "sts_sessions", metadata,
    Column("id", String(32), primary_key=True),  # the access key id, ASIA...
    Column("secret_encrypted", Text, nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("role_id", String(32), ForeignKey("iam_roles.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("session_name", String(64), nullable=False),
    Column("caller_arn", String(2048), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Domain and repository permissions policies. Deleting the domain or repository deletes its
# policy (ON DELETE CASCADE), so a new resource of the same name starts without one, as in AWS.
resource_policies = Table(
    "resource_policies", metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_arn", String(2048), nullable=False, unique=True),
    Column("domain_id", Integer, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           nullable=True),
    Column("document", Text, nullable=False),
    Column("revision", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Secrets every replica sharing the database must agree on (``iam/shared_secrets.py``): the
# generated root credentials, sealed with the IAM secrets key, which lives in the blob store
# (never in this database: a copy of the database alone holds no usable secret).
server_secrets = Table(
    "server_secrets", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
