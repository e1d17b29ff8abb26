"""Wiring: builds every adapter and service from the settings, in one place."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from packyard.api.codeartifact.endpoint import CodeArtifactEndpoint
from packyard.api.codeartifact.lifecycle_operations import LifecycleOperations
from packyard.api.iam.endpoint import IamEndpoint
from packyard.api.iam.operations import IamServices
from packyard.api.kms.endpoint import KmsEndpoint
from packyard.arn import ArnBuilder
from packyard.audit.trail import AuditTrail, open_trail
from packyard.auth.authorize import Authorizer
from packyard.auth.credentials import RootCredentials, load_root_credentials
from packyard.auth.package_auth import PackageAuthenticator
from packyard.auth.policy_source import StorePolicySource
from packyard.auth.signed import SignedRequestAuthenticator
from packyard.auth.token_ledger import TokenLedger
from packyard.auth.tokens import TokenService
from packyard.clock import Clock
from packyard.console import Console, ConsoleServices, build_console
from packyard.data_dir import secure_data_dir
from packyard.encryption.wiring import Encryption, wire_encryption
from packyard.errors import CannotStart
from packyard.formats import builtin_formats
from packyard.formats.plugin import FormatPlugin, MountedFormat
from packyard.formats.registry import FormatRegistry
from packyard.iam.secret_key import open_secret_box
from packyard.iam.secrets import SecretBox, UnopenedSecretBox
from packyard.iam.shared_secrets import ServerSecrets, account_created_at
from packyard.iam.store import IamStore
from packyard.metadata.catalog import Catalog, SqlCatalog
from packyard.metadata.change_feed import watch_changes
from packyard.metadata.changes import SharedChangeLog
from packyard.metadata.engine import PoolSettings, backend_name
from packyard.metadata.outbox import EventOutbox
from packyard.metadata.pull_claims import PullClaimStore
from packyard.model import domain_blob_key
from packyard.services.access import RepositoryGate
from packyard.services.asset_publishing import AssetPublisher
from packyard.services.audit_log import AuditLog
from packyard.services.backups import RESTORING
from packyard.services.cache_invalidation import CacheInvalidation
from packyard.services.core import Core
from packyard.services.iam import IamService
from packyard.services.kms import KmsService
from packyard.services.permissions_policies import PermissionsPolicies
from packyard.services.readiness import Readiness
from packyard.services.registry import Registry
from packyard.services.resource_tags import ResourceTagLookup
from packyard.services.sts import StsService
from packyard.services.token_admin import TokenAdministration
from packyard.services.upload_capacity import UploadCapacity
from packyard.settings import Settings
from packyard.storage.backends import open_blob_store, open_shared_files, staging_dir
from packyard.storage.blobs import BlobStore
from packyard.upstream.claims import ClaimStore, SharedPulls
from packyard.upstream.client import UpstreamHttp, UpstreamLimits
from packyard.upstream.core import UpstreamCore, graph_cache
from packyard.upstream.later_digests import LaterDigests
from packyard.upstream.pullthrough import PullThrough
from packyard.webhooks.config import WebhookConfig
from packyard.webhooks.dispatch import WebhookDispatcher

log = logging.getLogger("packyard")

CHANGES_FILE = "catalog.changes"
"""In the data directory: the catalog's change stamp, shared by its processes
(``metadata/changes.py``)."""
ACCESS_CHANGES_FILE = "catalog.access-changes"
"""In the data directory: the stamp of the catalog writes access rests on (read grants are
kept under it), shared the same way."""


@dataclass
class Container:
    """Everything a running server holds."""

    settings: Settings
    root: RootCredentials
    catalog: Catalog
    registry: Registry
    api: CodeArtifactEndpoint
    # The neutral services the formats are built on.
    core: Core
    # Each format's package endpoint, by format name, in registration order.
    formats: dict[str, MountedFormat]
    iam_api: IamEndpoint | None = None
    iam_store: IamStore | None = None
    # Drops this process's caches when other processes write; started by the server
    # (``start_background``), not by offline commands or in-process tests.
    invalidation: CacheInvalidation | None = None
    # What GET /ready checks: the database and the blob store.
    readiness: Readiness | None = None
    encryption: Encryption | None = None
    kms_api: KmsEndpoint | None = None
    console: Console | None = None
    # Where audit events go (``server/observe.py`` records one per noted request).
    trail: AuditTrail | None = None
    # Sends package version events to the configured webhooks (started by the server).
    webhooks: WebhookDispatcher | None = None

    def start_background(self) -> None:
        """What a serving process runs beside requests: hearing other processes' writes."""
        if self.invalidation is not None:
            self.invalidation.start()

    def stop_background(self) -> None:
        if self.invalidation is not None:
            self.invalidation.stop()


@dataclass
class Services:
    """The service layer over one data directory, without credentials or protocol surfaces:
    what the server and the offline commands (``packyard import``) share."""

    settings: Settings
    plugins: list[FormatPlugin]
    catalog: Catalog
    blobs: BlobStore
    clock: Clock
    arns: ArnBuilder
    iam_store: IamStore
    authorizer: Authorizer
    tokens: TokenService
    formats: FormatRegistry
    registry: Registry
    # Token listing and revocation (``packyard token``, the console), on the catalog's database.
    token_ledger: TokenLedger
    # The catalog's (reader, writer) engines, for the stores that share its database.
    engines: tuple[Engine, Engine]
    # What seals IAM's secrets (the console derives its session key from it): the same on
    # every replica, its key in the shared files (``storage/shared_files.py``).
    secret_box: SecretBox
    # Secrets replicas share through the database (the root key), sealed with ``secret_box``.
    secrets: ServerSecrets
    # The blob store under encryption (``blobs`` when it is off): what /ready probes.
    stored_blobs: BlobStore
    # Encryption at rest (None when PACKYARD_ENCRYPTION=off); ``blobs`` is its store then.
    encryption: Encryption | None = None


def build_services(settings: Settings, *, iam_secrets: bool = True) -> Services:
    """Open (and migrate) the metadata store and the blob store ``settings`` name, and wire the
    services on them. Without ``iam_secrets`` (a command that reads none), IAM's secret key
    that does not open is refused only if something asks for a secret."""
    if (settings.data_dir / RESTORING).exists():
        # Started now, it would make a new, empty registry where the restore is to put one.
        raise CannotStart(f"a packyard restore into {settings.data_dir} has not finished "
                          f"({RESTORING} is there): run the same restore again to finish it")
    secure_data_dir(settings.data_dir)
    plugins = builtin_formats()
    formats = FormatRegistry(plugins)
    blobs: BlobStore = open_blob_store(settings)
    catalog = SqlCatalog(settings.effective_database_url,
                         PoolSettings(settings.database_pool_size, settings.database_max_overflow),
                         file_rules={plugin.name: plugin.file_conflict for plugin in plugins},
                         # Pages rendered when a package changes (``rendered_pages``).
                         page_renderers={plugin.name: plugin.page_renderer for plugin in plugins
                                         if plugin.page_renderer is not None},
                         # Every process on this data directory sees every write at once.
                         changes=SharedChangeLog(settings.data_dir / CHANGES_FILE),
                         access_changes=SharedChangeLog(settings.data_dir
                                                        / ACCESS_CHANGES_FILE),
                         blob_present=lambda domain_id, sha256: blobs.exists(
                             domain_blob_key(domain_id), sha256))
    catalog.migrate()
    stored = blobs  # what /ready probes: the store under any encryption
    encryption = wire_encryption(settings, catalog, blobs)
    if encryption is not None:
        # blob_present above reads ``blobs`` when called: the encrypting store from here on.
        blobs = encryption.blobs
    clock = Clock(settings.clock_offset_seconds)
    arns = ArnBuilder(settings.region, settings.account_id)
    try:
        secret_box = open_secret_box(settings, encryption.provider if encryption else None,
                                     catalog.engines[1], open_shared_files(settings))
    except CannotStart as e:
        if iam_secrets:
            raise
        secret_box = UnopenedSecretBox(str(e))
    iam_store = IamStore(catalog.engines, settings.account_id, secret_box)
    # Resource policies go with their repository or domain (a catalog write): compiled ones
    # are kept under the access stamp too.
    policies = StorePolicySource(iam_store, also_version=catalog.access_changes.stamp)
    authorizer = Authorizer(settings.account_id, policies, clock,
                            settings.region,
                            ResourceTagLookup(catalog, settings.region, settings.account_id))
    tokens = TokenService(catalog)
    registry = Registry(catalog, blobs, authorizer, arns, tokens, formats, clock,
                        domain_keys=encryption.keys.for_new_domain if encryption else None)
    return Services(settings, plugins, catalog, blobs, clock, arns, iam_store, authorizer,
                    tokens, formats, registry, TokenLedger(catalog.engines),
                    catalog.engines, secret_box, ServerSecrets(catalog.engines, secret_box),
                    stored, encryption)


def build(settings: Settings) -> Container:
    # Owner-only: the database holds token hashes and IAM records.
    secure_data_dir(settings.data_dir)
    services = build_services(settings)
    # On PostgreSQL every replica must have the same root key: the database's.
    shared = backend_name(settings.effective_database_url) == "postgresql"
    root = load_root_credentials(settings, services.secrets if shared else None)
    leftovers = services.blobs.recover()
    if leftovers:
        log.warning("removed %d incomplete upload(s) left by an earlier stop", leftovers)
    # Blobs a deletion freed just before an earlier stop are deleted now.
    services.registry.sweeper.sweep()
    catalog, registry, clock = services.catalog, services.registry, services.clock
    iam_store, authorizer = services.iam_store, services.authorizer
    signed = SignedRequestAuthenticator(root, settings.account_id, clock,
                                        settings.max_signature_skew_seconds, iam_store,
                                        regions=settings.signing_regions)
    permissions = PermissionsPolicies(registry, iam_store, authorizer, services.arns, clock)
    staging = staging_dir(settings)
    capacity = UploadCapacity(settings.max_concurrent_uploads, settings.min_free_disk_bytes,
                              lambda: shutil.disk_usage(staging).free)
    api = CodeArtifactEndpoint(
        LifecycleOperations(registry, permissions,
                            AssetPublisher(registry, capacity, settings.max_upload_bytes)),
        signed, settings.public_url)
    iam = IamService(iam_store, authorizer, clock,
                     lambda now: account_created_at(services.secrets, now))
    sts = StsService(iam_store, authorizer, clock)
    iam_api = IamEndpoint(IamServices(iam, sts), signed)
    package_auth = PackageAuthenticator(services.tokens, settings.account_id, clock,
                                        root.access_key_id, iam_store)
    gate = RepositoryGate(registry, package_auth)
    trail = open_trail(settings, services.engines)
    console = build_console(
        ConsoleServices(settings, registry, permissions, iam, TokenAdministration(
            services.token_ledger, services.tokens, authorizer, clock),
            AuditLog(authorizer, trail.events) if trail.enabled else None),
        signed, sts, package_auth,
        services.secret_box.derive_key("console-sessions"))  # the same on every replica
    kms_api = KmsEndpoint(KmsService.on(services.encryption.provider if services.encryption
                                        else None, authorizer, settings.account_id,
                                        settings.region), signed)
    # Another process may pull the same file only with replicas or workers: one process alone
    # needs no claims (two more transactions per pulled file).
    claims = PullClaimStore(services.engines) if shared or settings.workers > 1 else None
    upstreams = build_upstreams(settings, catalog, services.blobs, services.formats, clock,
                                registry.later_digests, claims)
    core = Core(settings, registry, gate, upstreams, capacity)
    mounted = {plugin.name: plugin.build(core) for plugin in services.plugins}
    invalidation = CacheInvalidation(catalog, iam_store, services.tokens, upstreams,
                                     watch_changes(settings.effective_database_url))
    webhooks = WebhookDispatcher(WebhookConfig(settings.effective_webhooks_file),
                                 EventOutbox(*services.engines), catalog.changes,
                                 region=settings.region, now=clock.now)
    return Container(settings, root, catalog, registry, api, core, mounted, iam_api, iam_store,
                     invalidation=invalidation,
                     readiness=Readiness(catalog, services.stored_blobs,
                                         data_dir=settings.data_dir),
                     encryption=services.encryption, kms_api=kms_api, console=console,
                     trail=trail, webhooks=webhooks)


def build_upstreams(settings: Settings, catalog: Catalog, blobs: BlobStore,
                    formats: FormatRegistry, clock: Clock, later: LaterDigests,
                    claims: ClaimStore | None = None) -> UpstreamCore:
    """The upstream side every format shares: HTTP client, pull-through downloads (one per
    file across every process on the database, through ``claims``; None: one per file in
    this process), and where each external connection the formats declare is (a URL from the
    settings)."""
    http = UpstreamHttp(UpstreamLimits(
        connect_timeout=settings.upstream_connect_timeout_seconds,
        read_timeout=settings.upstream_read_timeout_seconds,
        document_timeout=settings.upstream_document_timeout_seconds,
        document_budget=settings.upstream_document_budget_bytes,
        file_min_rate=settings.upstream_min_file_bytes_per_second,
        internal_networks_allowed=settings.upstream_networks_allowed,
        retries=settings.upstream_retries,
        max_concurrency=settings.upstream_max_concurrency,
        cooldown=settings.upstream_cooldown_seconds))
    # One download per file across every process on the database (workers and replicas).
    shared = (SharedPulls(claims, settings.upstream_claim_seconds) if claims is not None
              else None)
    # Downloads are written into the blob store's staged writes (kept = committed, no copy),
    # flushed to disk at the commit; an encrypted store encrypts them as they are written.
    pull = PullThrough(http, settings.upstream_spool_dir, settings.max_upload_bytes,
                       failure_seconds=settings.upstream_page_ttl_seconds,
                       stage=lambda expected: blobs.stage(batched=True, expected=expected),
                       shared=shared)
    leftovers = pull.recover()
    if leftovers:
        log.warning("removed %d incomplete upstream download(s) left by an earlier stop",
                    leftovers)
    served = [c for c in formats.external_connections() if c.url_setting]
    urls = {c.name: str(getattr(settings, c.url_setting)) for c in served if c.url_setting}
    return UpstreamCore(catalog, blobs, http, pull, clock, urls,
                        {c.name: c.package_format for c in served},
                        settings.upstream_page_ttl_seconds,
                        settings.upstream_verify_before_send_bytes, graph_cache(catalog),
                        later)
