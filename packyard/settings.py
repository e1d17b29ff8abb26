"""Packyard's one typed settings object, read from flags and ``PACKYARD_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Settings:
    """Everything a Packyard process is configured with; built once at start-up."""

    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 8080
    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION
    # More regions a request's SigV4 credential scope may name, comma-separated, besides
    # `region` (and us-east-1 for IAM and STS, which are global); "*" accepts any region.
    allowed_regions: str = ""
    # Public base URL used in repository endpoints; derived from the request when unset.
    public_url: str | None = None
    # SQLAlchemy URL of the catalog: sqlite:///PATH, or postgresql://USER:PASSWORD@HOST/DB
    # (psycopg 3). Default: sqlite in data_dir.
    database_url: str | None = None
    # Connections each of the two engines (reader, writer) keeps, and may open beyond that
    # when busy: on PostgreSQL a process holds up to 2 × (size + overflow).
    database_pool_size: int = 10
    database_max_overflow: int = 10
    # Where committed blobs live: a directory, memory://, or s3://BUCKET/PREFIX
    # (storage/backends.py).
    blob_store: str | None = None  # default: blobs/ in data_dir
    # An S3-compatible store's endpoint (SeaweedFS, MinIO, …) for s3:// blob stores; unset
    # for AWS. Credentials and region come from the usual AWS variables and files.
    s3_endpoint_url: str | None = None
    # The local read cache of hot blobs in front of an s3:// store (storage/read_cache.py),
    # in the data directory's blob-cache/ (0: none).
    blob_cache_bytes: int = 1024 * 1024 * 1024
    root_access_key_id: str | None = None
    root_secret_access_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 1024 * 1024 * 1024 * 5  # CodeArtifact's asset limit is 5 GB
    # npm publishes: the largest tarball (CodeArtifact's npm limit is 2 GB), and the largest
    # publish document without it (a deprecate PUT is the whole packument).
    npm_max_tarball_bytes: int = 2 * 1024 * 1024 * 1024
    npm_max_document_bytes: int = 32 * 1024 * 1024
    # Uploads one server process stores at once (0: no limit); more get 503 + Retry-After.
    max_concurrent_uploads: int = 16
    # Free space the data directory's disk keeps: an upload that would leave less (counting
    # the uploads in progress) gets 507 (0: no check).
    min_free_disk_bytes: int = 1024 * 1024 * 1024
    # Connections (server_limits.py, docs/security.md): a request's head must arrive within
    # this many seconds of the connection or the request's first byte (a total) ...
    header_timeout_seconds: float = 30.0
    # ... and a body may pause at most this long while the server reads it (not a total, so
    # a large upload on a slow link is fine).
    body_timeout_seconds: float = 60.0
    # Open connections per server process; more are answered 503 and closed at once.
    max_connections: int = 1000
    # Allowed clock skew on signed requests, as AWS enforces it.
    max_signature_skew_seconds: int = 15 * 60
    # Seconds added to the wall clock; only for tests of expiry (never set in production).
    clock_offset_seconds: float = 0.0
    log_level: str = "info"
    # How the server log (standard error) is written: "text" (lines for people) or "json" (one
    # JSON object a line, for Loki, Elasticsearch, CloudWatch: server/log_format.py).
    log_format: str = "text"
    workers: int = 1
    # Proxy addresses whose X-Forwarded-For/-Proto/-Host headers are believed (comma-separated
    # addresses or networks, "*" for any): uvicorn's --forwarded-allow-ips, whose
    # FORWARDED_ALLOW_IPS variable is read too when PACKYARD_FORWARDED_ALLOW_IPS is unset.
    forwarded_allow_ips: str = "127.0.0.1"
    # -- upstreams (docs/upstreams.md) --
    # Where the external connection public:pypi reaches: any PEP 691/503 simple index (a
    # corporate mirror, a local index in tests). Packyard contacts only this URL's host and the
    # hosts its pages name for files.
    pypi_upstream_url: str = "https://pypi.org/simple/"
    # Where the external connection public:npmjs reaches: any npm registry (a corporate
    # mirror, Verdaccio, a local registry in tests).
    npm_upstream_url: str = "https://registry.npmjs.org/"
    # How long a fetched upstream project page is used without asking again; after that it is
    # revalidated with a conditional request, and still served if the upstream fails.
    upstream_page_ttl_seconds: int = 600
    upstream_connect_timeout_seconds: float = 10.0
    # Longest wait for the next bytes of an upstream response (not for a whole file).
    upstream_read_timeout_seconds: float = 30.0
    # Longest wait for a whole upstream document (a project page, a packument, a core metadata
    # file): one trickling a byte at a time never meets the read timeout.
    upstream_document_timeout_seconds: float = 120.0
    # Bytes of upstream documents (project pages, packuments, metadata files) read whole and
    # parsed at once; a document that would take more waits (up to the read timeout), then
    # fails "Upstream busy". At least the largest page (64 MiB); the default holds four.
    upstream_document_budget_bytes: int = 256 * 1024 * 1024
    # A file pulled from an upstream may take as long as it keeps moving at this many bytes a
    # second, averaged over each minute of its download (0: no such check): one trickled a
    # byte at a time would hold an upstream slot for ever.
    upstream_min_file_bytes_per_second: int = 1024
    # Internal networks (comma-separated CIDRs) upstream files and redirects may still reach:
    # no connection goes to a loopback, private (RFC 1918, CGNAT, unique local), link-local or
    # multicast address (not the documentation ranges: upstream/destinations.py) but the index
    # URL's own host and port, unless it is in one of these (a DNS that answers public names
    # with internal addresses: a proxy's fake IPs, a split-horizon mirror of a CDN).
    upstream_internal_networks_allowed: str = ""
    # Extra attempts after a connection error, a timeout or a 5xx/429 answer, before any byte.
    upstream_retries: int = 2
    # Upstream requests in flight at once; more wait (up to the read timeout) and then fail.
    upstream_max_concurrency: int = 16
    # After an upstream host fails, requests to it fail at once (cached pages are served) for
    # this long instead of each waiting out the timeouts; then one request tries it again, and
    # an answer puts it back in use.
    upstream_cooldown_seconds: float = 2.0
    # Files up to this size are verified against the upstream's sha256 before the first byte is
    # sent (so a mismatch is a clean 502); larger ones are streamed as they arrive, holding the
    # last chunk back until the hash is checked.
    upstream_verify_before_send_bytes: int = 1024 * 1024
    # A process downloading a file from an upstream claims it in the database, so the other
    # workers and replicas asked for it wait instead of downloading it too; the claim lasts this
    # long unless renewed (every third of it while the download runs), so when its holder dies
    # the others wait at most this long before one of them downloads the file itself.
    upstream_claim_seconds: float = 30.0
    # -- encryption at rest (README "Encryption", packyard/encryption/) --
    # "on": every blob written is encrypted under its own data key, wrapped by its domain's
    # key; blobs stored before stay readable as they are until `packyard encrypt` encrypts
    # them. "off": blobs are written plain (refused once any blob is encrypted).
    encryption: str = "on"
    # Who keeps the key-encryption keys: "local" (keyring.json in the data directory),
    # "transit" (Vault / OpenBao transit) or "kms" (AWS KMS through boto3's credentials).
    key_provider: str = "local"
    # The local keyring's master key (base64 of 32 bytes), inline or in a 0600 file: the
    # keyring file then holds its keys sealed with it.
    master_key: str | None = field(default=None, repr=False)
    master_key_file: str | None = None
    transit_url: str | None = None
    transit_token: str | None = field(default=None, repr=False)
    # A file holding the token, read again when transit refuses it (a Vault / OpenBao agent's
    # token sink renews it there): instead of, or besides, ``transit_token``.
    transit_token_file: str | None = None
    transit_mount: str = "transit"
    kms_region: str | None = None
    kms_endpoint_url: str | None = None
    # The key of a domain created without --encryption-key (CodeArtifact's AWS managed key);
    # the local keyring makes it on first use.
    default_encryption_key: str = "alias/aws/codeartifact"
    # How long an unwrapped data key stays in memory after use.
    data_key_cache_seconds: float = 300.0
    # -- operations: audit trail, access log, webhooks, metrics (README) --
    # Where the audit trail goes: file (JSON lines in DATA_DIR/audit/), database (the
    # catalog's database: the scaled setup) or off; empty: database on PostgreSQL, else file.
    audit_log: str = ""
    # A file segment of the audit trail is closed and the next begun past this size.
    audit_log_max_bytes: int = 64 * 1024 * 1024
    # Each audit write reaches the disk (fdatasync, once per batch of waiting requests) before
    # the request is answered; off, an operating-system crash may lose the last seconds.
    audit_fsync: bool = True
    # Also record every successful download of a package file (verbose: one event each).
    audit_downloads: bool = False
    # JSON access log: empty for none, "-" for standard output, or a file path.
    access_log: str = ""
    # Webhooks for package version events (JSON; README, "Package version events"); empty:
    # webhooks.json in the data directory when it exists.
    webhooks_file: str = ""
    # Serve /metrics (Prometheus' text format).
    metrics: bool = True
    # -- the web console (packyard/console/, docs/console.md) --
    # A console session ends after this long without a request ...
    console_idle_timeout_seconds: int = 30 * 60
    # ... and this long after its sign-in, whatever (a role session's own end comes first).
    console_session_seconds: int = 12 * 60 * 60
    # Failed sign-ins one address, or one access key id, may make before it must wait
    # console_signin_window_seconds since its last failure.
    console_max_failed_signins: int = 5
    console_signin_window_seconds: int = 5 * 60

    @property
    def upstream_networks_allowed(self) -> tuple[str, ...]:
        return tuple(_split_list(self.upstream_internal_networks_allowed))

    @property
    def signing_regions(self) -> frozenset[str] | None:
        """The regions a signed request may be scoped to; None accepts any."""
        extra = _split_list(self.allowed_regions)
        if "*" in extra:
            return None
        return frozenset({self.region, *extra})

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'packyard.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def as_environment(self) -> dict[str, str]:
        """These settings as PACKYARD_* variables, for worker processes to read back."""
        return {_ENV_PREFIX + f.name.upper(): str(getattr(self, f.name))
                for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def effective_webhooks_file(self) -> Path:
        return Path(self.webhooks_file) if self.webhooks_file else self.data_dir / "webhooks.json"

    @property
    def upstream_spool_dir(self) -> Path:
        """Where earlier versions wrote files being pulled from an upstream (now the blob
        store's staging, ``storage/staging.py``); leftovers there are still removed at start."""
        return self.data_dir / "upstream-spool"


_ENV_PREFIX = "PACKYARD_"
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")
# The largest upstream document read (upstream/client.py's MAX_PAGE_BYTES): a smaller budget
# of documents could never hold one.
_MAX_UPSTREAM_PAGE_BYTES = 64 * 1024 * 1024


def _split_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]



_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _coerce(raw: str, current: Any) -> Any:
    """``raw`` as the type of the setting's default; a ValueError says what it must be."""
    if isinstance(current, bool):
        word = raw.strip().lower()
        # Refused rather than taken as false: PACKYARD_AUDIT_FSYNC=ture must not turn it off.
        if word not in _TRUE + _FALSE:
            raise ValueError(f"must be true or false (or {'/'.join(_TRUE[1:])}, "
                             f"{'/'.join(_FALSE[1:])}), got {raw!r}")
        return word in _TRUE
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"must be a number (of seconds), got {raw!r}") from None
    if isinstance(current, Path):
        return Path(raw)
    return raw


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
MIN_WORKERS, MAX_WORKERS = 1, 64


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, then ``PACKYARD_<FIELD>`` variables, then explicit overrides."""
    env = os.environ if environ is None else environ
    base = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(_ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            default = getattr(base, f.name)
            try:
                values[f.name] = _coerce(raw, default if default is not None else "")
            except ValueError as exc:
                raise ValueError(f"{_ENV_PREFIX}{f.name.upper()} {exc}") from None
    if "forwarded_allow_ips" not in values and env.get("FORWARDED_ALLOW_IPS"):
        values["forwarded_allow_ips"] = env["FORWARDED_ALLOW_IPS"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(base, **values)
    # Choices in any case, as the yes/no settings and --log-level take them (ON was refused
    # while On and on... were not all alike either).
    settings = replace(settings, encryption=settings.encryption.strip().lower(),
                       key_provider=settings.key_provider.strip().lower(),
                       audit_log=settings.audit_log.strip().lower(),
                       log_format=settings.log_format.strip().lower())
    if settings.audit_log not in ("", "file", "database", "off"):
        raise ValueError("PACKYARD_AUDIT_LOG must be file, database or off, got "
                         f"{settings.audit_log!r}")
    for name in ("header_timeout_seconds", "body_timeout_seconds", "max_connections",
                 "audit_log_max_bytes", "upstream_claim_seconds",
                 "upstream_document_timeout_seconds",
                 "console_idle_timeout_seconds", "console_session_seconds",
                 "console_max_failed_signins", "console_signin_window_seconds"):
        if getattr(settings, name) <= 0:
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be more than 0")
    # As ``serve``'s flags take them (a level logging does not know was a traceback at start).
    settings = replace(settings, log_level=settings.log_level.strip().lower())
    if settings.log_level not in LOG_LEVELS:
        raise ValueError(f"PACKYARD_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got "
                         f"{settings.log_level!r}")
    if settings.log_format not in LOG_FORMATS:
        raise ValueError(f"PACKYARD_LOG_FORMAT must be text or json, got {settings.log_format!r}")
    if not MIN_WORKERS <= settings.workers <= MAX_WORKERS:
        raise ValueError(f"PACKYARD_WORKERS must be {MIN_WORKERS} to {MAX_WORKERS}, got "
                         f"{settings.workers}")
    if not (len(settings.account_id) == 12 and settings.account_id.isdigit()):
        raise ValueError("PACKYARD_ACCOUNT_ID must be 12 digits, like an AWS account id")
    for region in [settings.region, *_split_list(settings.allowed_regions)]:
        if region != "*" and not _REGION.fullmatch(region):
            raise ValueError(f"not a region name: {region!r} (PACKYARD_REGION and "
                             "PACKYARD_ALLOWED_REGIONS take names such as eu-west-1)")
    if settings.encryption not in ("on", "off"):
        raise ValueError(f"PACKYARD_ENCRYPTION must be on or off, got {settings.encryption!r}")
    if settings.key_provider not in ("local", "transit", "kms"):
        raise ValueError("PACKYARD_KEY_PROVIDER must be local, transit or kms, got "
                         f"{settings.key_provider!r}")
    if settings.key_provider == "transit" and not (
            settings.transit_url and (settings.transit_token or settings.transit_token_file)):
        raise ValueError("PACKYARD_KEY_PROVIDER=transit needs PACKYARD_TRANSIT_URL and "
                         "PACKYARD_TRANSIT_TOKEN (or PACKYARD_TRANSIT_TOKEN_FILE)")
    if (settings.encryption == "on" and settings.key_provider == "kms"
            and settings.default_encryption_key.startswith("alias/aws/")):
        # An AWS managed key's policy lets only the AWS service that owns it use it:
        # GenerateDataKey from Packyard's credentials is refused, so every upload would fail.
        raise ValueError(
            "PACKYARD_KEY_PROVIDER=kms needs PACKYARD_DEFAULT_ENCRYPTION_KEY set to a customer "
            "managed KMS key (its ARN, alias or id) that these credentials may use for "
            f"GenerateDataKey and Decrypt: {settings.default_encryption_key} is an AWS managed "
            "key, usable only by the AWS service that owns it")
    if settings.upstream_min_file_bytes_per_second < 0:
        raise ValueError("PACKYARD_UPSTREAM_MIN_FILE_BYTES_PER_SECOND must be 0 (no check) or "
                         "more")
    if settings.upstream_document_budget_bytes < _MAX_UPSTREAM_PAGE_BYTES:
        raise ValueError("PACKYARD_UPSTREAM_DOCUMENT_BUDGET_BYTES must be at least "
                         f"{_MAX_UPSTREAM_PAGE_BYTES} (the largest upstream page read)")
    for network in settings.upstream_networks_allowed:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError("PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED takes networks such as "
                             f"10.0.0.0/8 or fd00::/8, separated by commas; got {network!r}") \
                from None
    for name, what in (("pypi_upstream_url", "a simple index"),
                       ("npm_upstream_url", "an npm registry")):
        upstream = getattr(settings, name)
        if not upstream.startswith(("http://", "https://")):
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be an http:// or https:// URL "
                             f"of {what}, got {upstream!r}")
        if not upstream.endswith("/"):
            # Documents are resolved relative to it: ".../simple" would lose its last segment.
            settings = replace(settings, **{name: upstream + "/"})
    return settings
