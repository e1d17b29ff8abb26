"""The metadata tables. Every change here comes with an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

domains = Table(
    "domains", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("owner", String(12), nullable=False),
    Column("encryption_key", String(2048), nullable=False),
    Column("status", String(16), nullable=False, default="Active"),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("owner", "name", name="uq_domains_owner_name"),
    # Never reused (SQLite: AUTOINCREMENT): what processes keep by id must not pass to a new
    # one made in a deleted one's place (migration 0018).
    sqlite_autoincrement=True,
)

repositories = Table(
    "repositories", metadata,
    Column("id", Integer, primary_key=True),
    Column("domain_id", Integer, ForeignKey("domains.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("administrator_account", String(12), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("domain_id", "name", name="uq_repositories_domain_name"),
    # Never reused (SQLite: AUTOINCREMENT): what processes keep by id must not pass to a new
    # one made in a deleted one's place (migration 0018).
    sqlite_autoincrement=True,
)

# One row per stored object per domain: assets are stored once whichever repositories hold them.
blobs = Table(
    "blobs", metadata,
    Column("domain_id", Integer, ForeignKey("domains.id"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Each encrypted blob's data key, wrapped by its domain's key-encryption key (KEK): never beside
# the blob (docs/decisions/0001-encryption-at-rest.md). One row per (domain, sha256), written
# before the ciphertext, so no ciphertext is ever stored that no row opens.
data_keys = Table(
    "data_keys", metadata,
    Column("domain_id", Integer, ForeignKey("domains.id"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("provider", String(16), nullable=False),  # local, transit or kms
    Column("key_id", String(2048), nullable=False),  # the KEK's canonical id
    Column("key_version", Integer, nullable=True),  # None where the provider hides versions
    Column("wrapped", LargeBinary, nullable=False),
    Column("plaintext_size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
# Rotation pages through one KEK's rows older than its current version.
Index("ix_data_keys_key_id", data_keys.c.key_id, data_keys.c.key_version)

packages = Table(
    "packages", metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repositories.id"), nullable=False),
    Column("format", String(16), nullable=False),
    Column("namespace", String(255), nullable=False, default=""),
    Column("name", String(255), nullable=False),  # normalized by the format's rules
    Column("display_name", String(255), nullable=False),
    Column("origin_publish", String(8), nullable=False, default="ALLOW"),
    Column("origin_upstream", String(8), nullable=False, default="BLOCK"),
    Column("created_at", UTCDateTime(), nullable=False),
    # When the package's versions or files last changed, as an increasing number (PyPI's
    # "last serial": a microsecond timestamp, one more than the last when the clock has not
    # moved on, so it only ever grows).
    Column("last_serial", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("repository_id", "format", "namespace", "name",
                     name="uq_packages_repo_format_ns_name"),
    sqlite_autoincrement=True,  # ids never reused, as domains' (migration 0018)
)
# ListPackages pages a repository's packages by name (then id) from where the last page ended.
Index("ix_packages_repository_name", packages.c.repository_id, packages.c.name, packages.c.id)

# Each package's own project pages, rendered when its versions or files change (in the write's
# transaction) so that the first read of a page is one keyed lookup, not a listing and a render
# (``metadata/rendered_pages.py``, decision 0016). A row is current while its ``serial`` is the
# package's ``last_serial``; ``kind`` is the format's name for the representation ("html",
# "json"), ``gzip_body`` its gzip encoding when it is worth sending compressed.
rendered_pages = Table(
    "rendered_pages", metadata,
    Column("package_id", Integer, ForeignKey("packages.id", ondelete="CASCADE"),
           primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("serial", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("gzip_body", LargeBinary, nullable=True),
)

package_versions = Table(
    "package_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("package_id", Integer, ForeignKey("packages.id"), nullable=False),
    Column("version", String(255), nullable=False),  # as published
    Column("version_key", String(255), nullable=False),  # normalized, for uniqueness
    Column("status", String(16), nullable=False, default="Published"),
    Column("revision", String(64), nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("summary", Text, nullable=True),
    Column("home_page", Text, nullable=True),
    Column("source_code_repository", Text, nullable=True),
    Column("licenses", Text, nullable=True),  # JSON list of {"name", "url"}
    Column("readme", Text, nullable=True),
    Column("readme_content_type", String(255), nullable=True),
    Column("dependencies", Text, nullable=True),  # JSON list of CodeArtifact PackageDependency
    # Where the version entered the domain (CodeArtifact's origin.domainEntryPoint): the
    # repository it was published to (INTERNAL), or the external connection it was pulled
    # from (EXTERNAL). Copies kept in other repositories carry the same entry point.
    Column("origin_type", String(16), nullable=False, default="INTERNAL"),
    Column("origin_repository_id", Integer, nullable=True),
    Column("origin_external_connection", String(100), nullable=True),
    # The format's own data about the version, as a JSON object (npm: the manifest document).
    Column("attributes", Text, nullable=False, server_default="{}"),
    UniqueConstraint("package_id", "version_key", name="uq_package_versions_pkg_version"),
    sqlite_autoincrement=True,  # ids never reused, as domains' (migration 0018)
)

# Named pointers to a package's versions (npm's dist-tags), kept per repository's package.
package_tags = Table(
    "package_tags", metadata,
    Column("package_id", Integer, ForeignKey("packages.id"), primary_key=True),
    Column("tag", String(255), primary_key=True),
    Column("version_key", String(255), nullable=False),
)

assets = Table(
    "assets", metadata,
    Column("id", Integer, primary_key=True),
    Column("package_version_id", Integer, ForeignKey("package_versions.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    # NULL: not computed yet. A pull computes what it verifies and what its format needs at
    # once; the rest are filled in after the file is kept (``upstream/later_digests.py``).
    Column("sha512", String(128), nullable=True),
    Column("sha1", String(40), nullable=True),
    Column("md5", String(32), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # The format's own data about the file, as a JSON object (PyPI: blake2_256,
    # requires_python, and its PEP 658 core metadata file's sha256 and size).
    Column("attributes", Text, nullable=False, server_default="{}"),
    UniqueConstraint("package_version_id", "name", name="uq_assets_version_name"),
    sqlite_autoincrement=True,  # ids never reused, as domains' (migration 0018)
)
Index("ix_assets_sha256", assets.c.sha256)
DIGESTS_MISSING = assets.c.md5.is_(None) | assets.c.sha1.is_(None) | assets.c.sha512.is_(None)
"""The assets whose digests are still to be filled in: few, and found by a partial index."""
Index("ix_assets_digests_missing", assets.c.sha256, sqlite_where=DIGESTS_MISSING,
      postgresql_where=DIGESTS_MISSING)
# A file name looked up across a whole repository (PyPI's file names are unique in one).
Index("ix_assets_name", assets.c.name)

# Other blobs an asset keeps alive besides its own bytes (PyPI: the wheel's PEP 658 core
# metadata file), so a blob is dropped only when nothing in its domain uses it.
asset_blobs = Table(
    "asset_blobs", metadata,
    Column("asset_id", Integer, ForeignKey("assets.id"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
)
Index("ix_asset_blobs_sha256", asset_blobs.c.sha256)

# Blobs no asset of their domain uses any more, to be deleted from the blob store after the
# metadata change that freed them has committed (``metadata/blob_sweeps.py``): a crash in
# between leaves the row, and the next sweep (at the latest the next start) deletes the blob.
# ``swept_at`` is set when the blob is gone; the row stays a while, so an upload that stored
# the same bytes just before the sweep deleted them finds out (and is refused) instead of
# recording a file whose bytes are gone.
blob_sweeps = Table(
    "blob_sweeps", metadata,
    Column("domain_id", Integer, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("queued_at", UTCDateTime(), nullable=False),
    Column("swept_at", UTCDateTime(), nullable=True),
)

# A repository's upstream repositories, in priority order (CodeArtifact's `upstreams`).
repository_upstreams = Table(
    "repository_upstreams", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("upstream_id", Integer, ForeignKey("repositories.id"), nullable=False),
    UniqueConstraint("repository_id", "upstream_id",
                     name="uq_repository_upstreams_repository_upstream"),
)
Index("ix_repository_upstreams_upstream_id", repository_upstreams.c.upstream_id)

# A repository's external connection; the primary key allows one per repository, as in
# CodeArtifact.
repository_external_connections = Table(
    "repository_external_connections", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id"), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("package_format", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Upstream index project pages, parsed, shared by every domain (they are public data). Kept
# across restarts so that installs keep working while the upstream is down.
upstream_pages = Table(
    "upstream_pages", metadata,
    Column("index_url", String(1024), primary_key=True),
    Column("project", String(255), primary_key=True),
    Column("found", Boolean, nullable=False),  # False: the upstream answered 404
    Column("document", Text, nullable=True),  # JSON list of the page's files, as parsed
    Column("etag", String(512), nullable=True),
    Column("last_modified", String(64), nullable=True),
    Column("fetched_at", UTCDateTime(), nullable=False),  # last time confirmed current
)

tokens = Table(
    "tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("principal_arn", String(2048), nullable=False),
    Column("access_key_id", String(128), nullable=True),
    Column("domain_id", Integer, ForeignKey("domains.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# One row per topic of ``change_feed`` (catalog, content, access, iam, tokens): on SQLite every
# write increments its topic's counter in its own transaction, and other processes poll them
# (``ChangePoller``); on PostgreSQL announcements are NOTIFYs and these rows stay at 0.
change_counters = Table(
    "change_counters", metadata,
    Column("topic", String(16), primary_key=True),
    Column("counter", BigInteger, nullable=False, default=0),
    Column("origin", String(40), nullable=False, default=""),  # the last writer's process
)

# The audit trail in the scaled setup (PACKYARD_AUDIT_LOG=database): one row per CloudTrail-
# shaped event (packyard/audit/), the columns `packyard audit` filters on beside the whole
# record. The embedded setup keeps the same records in files in the data directory instead.
audit_events = Table(
    "audit_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_time", UTCDateTime(), nullable=False),
    Column("event_source", String(128), nullable=False),
    Column("event_name", String(128), nullable=False),
    Column("principal_arn", String(2048), nullable=True),
    Column("error_code", String(128), nullable=True),
    Column("document", Text, nullable=False),  # the whole event as JSON
)
Index("ix_audit_events_event_time", audit_events.c.event_time)

# Package version changes waiting to be sent to the webhooks (packyard/webhooks/): written in
# the same transaction as the change (metadata/outbox.py), so a crash neither loses nor invents
# one. Writers are serialized (metadata/engine.py), so ids commit in increasing order and a
# webhook's cursor never passes a row still to come.
event_outbox = Table(
    "event_outbox", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("domain_name", String(50), nullable=False),
    Column("domain_owner", String(12), nullable=False),
    Column("repository_name", String(100), nullable=False),
    Column("document", Text, nullable=False),  # the EventBridge event as JSON
    # Ids are the webhooks' cursors: never reused after pruning (SQLite: AUTOINCREMENT).
    sqlite_autoincrement=True,
)

# Each package's last event number (CodeArtifact's detail.sequenceNumber), by the package's
# natural key so that deleting a package needs no change here.
package_event_sequences = Table(
    "package_event_sequences", metadata,
    Column("repository_id", Integer, primary_key=True),
    Column("format", String(16), primary_key=True),
    Column("namespace", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
)

# How far each configured webhook has been sent (the last outbox id it acknowledged, or that
# is not for it), and its current retry state.
webhook_cursors = Table(
    "webhook_cursors", metadata,
    Column("webhook", String(128), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered", BigInteger, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Who sends events now: one process at a time among every worker and replica, so each
# webhook gets its events in order (a lease, renewed while held, taken over when it runs out).
event_dispatch_lease = Table(
    "event_dispatch_lease", metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Files being pulled from an upstream, one row per file a process is downloading (``key``: a
# hash of the domain, file name and declared digest): the others wait for its outcome instead
# of downloading it too. ``expires_at`` is renewed while the download runs, so a killed
# process's claim is taken over when it runs out; a finished row keeps ``outcome`` (the
# digests and where the file is kept, or why it was refused) a little longer for late waiters.
upstream_claims = Table(
    "upstream_claims", metadata,
    Column("key", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("outcome", Text, nullable=True),
    Index("ix_upstream_claims_expires_at", "expires_at"),
)

# Package groups (CodeArtifact's CreatePackageGroup): a pattern per domain, its own origin
# control mode per restriction (PUBLISH, EXTERNAL_UPSTREAM, INTERNAL_UPSTREAM; INHERIT
# resolved by the rules in ``packyard.package_groups``). Every domain has the root group ``/*``.
package_groups = Table(
    "package_groups", metadata,
    Column("id", Integer, primary_key=True),
    Column("domain_id", Integer, ForeignKey("domains.id"), nullable=False),
    Column("pattern", String(520), nullable=False),
    Column("description", Text, nullable=True),
    Column("contact_info", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("publish_mode", String(32), nullable=False),
    Column("external_upstream_mode", String(32), nullable=False),
    Column("internal_upstream_mode", String(32), nullable=False),
    UniqueConstraint("domain_id", "pattern", name="uq_package_groups_domain_pattern"),
)

# A package group's allowed repository lists, one per restriction (ALLOW_SPECIFIC_REPOSITORIES).
package_group_repositories = Table(
    "package_group_repositories", metadata,
    Column("package_group_id", Integer, ForeignKey("package_groups.id"), primary_key=True),
    Column("restriction", String(32), primary_key=True),
    Column("repository_id", Integer, ForeignKey("repositories.id"), primary_key=True),
)
Index("ix_package_group_repositories_repository_id",
      package_group_repositories.c.repository_id)

# Tags (TagResource) on domains, repositories and package groups: ``resource_type`` is
# ``domain``, ``repository`` or ``package-group`` and ``resource_id`` that table's id.
resource_tags = Table(
    "resource_tags", metadata,
    Column("resource_type", String(16), primary_key=True),
    Column("resource_id", Integer, primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)
