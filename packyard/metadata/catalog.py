"""The metadata store: ``Catalog``, the interface the rest of Packyard holds, and ``SqlCatalog``.

``Catalog`` lists every method callers use, by concept; each is one transaction, callers never
see a connection, and failures are domain errors (``NotFound``, ``Conflict``, …) with the text
users see. ``SqlCatalog`` implements it with SQLAlchemy Core, made of one part per concept,
each in its own module, sharing one pair of engines and one write path
(``packyard.metadata.transactions``).

``tests/conformance/test_catalog*.py`` is its contract, run against every database backend:
SQLite and PostgreSQL (``packyard.metadata.engine`` gives both the same transaction
guarantees). The records the methods take and return are importable from here as well as from
their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from packyard.errors import PackyardError
from packyard.metadata.asset_publishing import AssetPublishingStore
from packyard.metadata.blob_sweeps import BlobDelete, BlobSweepStore
from packyard.metadata.changes import ChangeLog
from packyard.metadata.data_keys import BlobRow, BlobUser, DataKeyStore, StoredDataKey
from packyard.metadata.domains import DomainStore
from packyard.metadata.later_digests import LaterDigest, LaterDigestStore
from packyard.metadata.listings import ListedFile, ListingStore
from packyard.metadata.new_files import NewAsset, NewFile, NewVersion, new_revision
from packyard.metadata.origins import OriginStore, VersionOrigin
from packyard.metadata.package_groups import PackageGroupRecord, PackageGroupStore
from packyard.metadata.page_store import RenderedPageStore
from packyard.metadata.point_reads import Missing
from packyard.metadata.publishing import PublishingStore, PublishResult
from packyard.metadata.rendered_pages import PageRenderer, PageSource, StoredPage
from packyard.metadata.repositories import RepositoryStore
from packyard.metadata.resource_tags import ResourceTagStore
from packyard.metadata.retention import EntryPoint, RetentionStore
from packyard.metadata.tags import TagStore
from packyard.metadata.token_rows import TokenStore
from packyard.metadata.upstream_links import (
    DomainGraph,
    ExternalConnectionRecord,
    RepositoryLinks,
    UpstreamLinkStore,
)
from packyard.metadata.upstream_pages import CachedPage, UpstreamPageStore
from packyard.metadata.version_edits import VersionEditStore
from packyard.metadata.version_lifecycle import (
    CopyDecision,
    StatusDecision,
    VersionChanges,
    VersionLifecycleStore,
)
from packyard.model import (
    Asset,
    Domain,
    IndexEntry,
    Package,
    PackageVersion,
    Repository,
    TokenRecord,
)
from packyard.package_groups.origin_controls import OriginConfiguration, RestrictionType

__all__ = [
    "BlobRow",
    "BlobUser",
    "CachedPage",
    "Catalog",
    "DomainGraph",
    "EntryPoint",
    "ExternalConnectionRecord",
    "LaterDigest",
    "ListedFile",
    "NewAsset",
    "NewFile",
    "NewVersion",
    "PageRenderer",
    "PageSource",
    "PackageGroupRecord",
    "PublishResult",
    "RepositoryLinks",
    "SqlCatalog",
    "VersionChanges",
    "StoredDataKey",
    "StoredPage",
    "VersionOrigin",
    "new_revision",
]


class Catalog(Protocol):
    """Every metadata read and write the rest of Packyard makes."""

    @property
    def changes(self) -> ChangeLog:
        """Bumped after every committed write (never by reads or refused writes), so
        in-process caches know what they hold is stale."""
        ...

    @property
    def access_changes(self) -> ChangeLog:
        """Bumped after the committed writes an access decision or a read grant may rest on
        (domains, repositories, resource tags; ``metadata/transactions.py``), and by no
        other write."""
        ...

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is there."""
        ...

    def schema_is_current(self) -> bool:
        """Whether the database is at this code's newest revision (``/ready``): one query;
        ``DatabaseUnavailable`` when the database does not answer."""
        ...

    def dispose(self) -> None:
        """Close the connections (before forking workers, or at exit)."""
        ...

    def shared_read(self, *, now: bool = False) -> AbstractContextManager[None]:
        """The reads of the catalog and of the IAM store on its engines made inside the
        block, in one read transaction (``engine.shared_read``); with ``now``, on the caller's
        thread without waiting (embedded SQLite), or ``WouldWait``."""
        ...

    # -- domains ----------------------------------------------------------------------------

    def create_domain(self, name: str, owner: str, encryption_key: str,
                      now: datetime, tags: Mapping[str, str] | None = None) -> Domain:
        """With its root package group ``/*`` (every origin allowed) and ``tags``;
        ``Conflict`` when the owner has a domain of that name."""
        ...

    def get_domain(self, owner: str, name: str, *, with_stats: bool = True) -> Domain:
        """``NotFound`` when missing; ``with_stats`` adds repository count and asset size."""
        ...

    def list_domains(self) -> list[Domain]:
        """Every domain with its statistics, by name."""
        ...

    def delete_domain(self, domain: Domain) -> None:
        """With its tokens, blob rows, package groups and tags; ``Conflict`` while it has
        repositories."""
        ...

    # -- repositories -----------------------------------------------------------------------

    def create_repository(self, domain: Domain, name: str, description: str,
                          administrator_account: str, now: datetime,
                          tags: Mapping[str, str] | None = None) -> Repository:
        """With ``tags``; ``Conflict`` when the domain has a repository of that name."""
        ...

    def get_repository(self, domain: Domain, name: str) -> Repository:
        """``NotFound`` when missing."""
        ...

    def list_repositories(self, domain: Domain | None = None) -> list[Repository]:
        """One domain's repositories, or every domain's, by repository name."""
        ...

    def update_repository(self, repository: Repository, description: str) -> Repository: ...

    def delete_repository(self, repository: Repository,
                          now: datetime | None = None) -> list[str]:
        """With its packages, links, tags and places on package groups' allowed lists;
        returns the sha256s no longer used in the domain, queued for the blob sweep."""
        ...

    # -- packages, versions and assets ------------------------------------------------------

    def find_package(self, repository_id: int, fmt: str, namespace: str,
                     name: str) -> Package | None: ...

    def list_packages(self, repository_id: int, fmt: str | None = None,
                      namespace: str | None = None, prefix: str | None = None,
                      after: tuple[str, int] | None = None, limit: int | None = None, *,
                      namespace_prefix: str | None = None, publish: str | None = None,
                      upstream: str | None = None, version_status: str | None = None
                      ) -> list[Package]:
        """By name, then id: those after ``after`` (a package's name and id), whose name starts
        with ``prefix`` and namespace is ``namespace`` (or starts with ``namespace_prefix``),
        with the origin controls ``publish`` and ``upstream`` and a version whose status is
        ``version_status`` when given; at most ``limit``."""
        ...

    def list_project_names(self, repository_id: int, fmt: str) -> list[str]:
        """Names with at least one Published or Unlisted version, for the /simple/ root."""
        ...

    def list_versions(self, package_id: int) -> list[PackageVersion]: ...

    def get_version(self, package_id: int, version_key: str) -> PackageVersion | None: ...

    def list_assets(self, version_id: int) -> list[Asset]:
        """By file name."""
        ...

    def project_index(self, repository_id: int, fmt: str, name: str, namespace: str = ""
                      ) -> tuple[Package, list[PackageVersion], list[IndexEntry]] | None:
        """Everything a project page shows; None when the repository has no such package."""
        ...

    def domain_project_indexes(self, domain_id: int, fmt: str, namespace: str, name: str,
                               packages: Mapping[int, Package] | None = None
                               ) -> dict[int, tuple[Package, list[PackageVersion],
                                                    list[IndexEntry]]]:
        """``project_index`` in every repository of the domain that has the package, by
        repository id, in one transaction; from ``packages`` (``packages_named``) when given."""
        ...

    def rendered_page(self, repository_id: int, fmt: str, name: str, kind: str,
                      namespace: str = "") -> tuple[StoredPage, int] | None:
        """The package's page ``kind`` as rendered since its last change, with the serial it
        shows, in one keyed lookup; None when there is none (``rendered_pages``)."""
        ...

    def rendered_page_now(self, repository_id: int, fmt: str, name: str, kind: str,
                          namespace: str = "") -> tuple[StoredPage, int] | None:
        """``rendered_page`` made on the caller's thread (the event loop's) where the backend
        can without waiting and the page is small (``point_reads.py``); None otherwise too."""
        ...

    def page_source(self, repository_id: int, fmt: str, name: str,
                    namespace: str = "") -> PageSource | None:
        """What a package's own page shows (one transaction); None when there is no such
        package."""
        ...

    def keep_rendered_pages(self, package: Package, pages: Sequence[StoredPage]) -> bool:
        """Store pages rendered from ``package`` unless it has changed since; whether they
        were stored."""
        ...

    def flush_rendered_pages(self, timeout: float | None = None) -> bool:
        """Wait until the pages of every package this process changed are rendered (they are
        rendered right after each write, off its thread); whether they were within
        ``timeout``."""
        ...

    def find_listed_asset(self, repository_id: int, fmt: str, name: str, filename: str
                          ) -> tuple[str, Asset] | None:
        """The asset called ``filename`` in a project and its version's status, in one
        keyed lookup (the first read of a file)."""
        ...

    def find_listed_file_now(self, repository_id: int, fmt: str, name: str, filename: str,
                             namespace: str = "", version_key: str | None = None
                             ) -> ListedFile | Missing | None:
        """``find_listed_asset`` made on the caller's thread (the event loop's) where the
        backend can without waiting (``point_reads.py``); ``MISSING`` when the repository
        holds no such file; None when it cannot be told now. With
        ``namespace`` and ``version_key``: ``find_asset``'s file of that version."""
        ...

    def find_asset(self, repository_id: int, fmt: str, name: str, filename: str,
                   namespace: str = "", version_key: str | None = None
                   ) -> tuple[PackageVersion, Asset] | None:
        """The asset called ``filename`` in a project (file downloads), of the version
        ``version_key`` when given (formats whose versions' files share names: npm's)."""
        ...

    def find_assets_named(self, repository_id: int, fmt: str,
                          filenames: Sequence[str]) -> dict[str, Asset]:
        """Assets of the format with these file names anywhere in the repository, by name:
        for the formats whose file names are unique in a repository (PyPI's), which check
        that rule themselves."""
        ...

    def release_conflict(self, repository_id: int, fmt: str, name: str, version_key: str,
                         filename: str) -> PackyardError | None:
        """What the format's rule for a version's files (``file_rules``) says of adding
        ``filename`` to this version, judged before its bytes are stored."""
        ...

    # -- publishing -------------------------------------------------------------------------

    def publish(self, repository: Repository, fmt: str, namespace: str, name: str,
                display_name: str, new_version: NewVersion, new_asset: NewAsset,
                blob_sizes: dict[str, int], now: datetime,
                tag_changes: Mapping[str, str | None] | None = None) -> PublishResult:
        """Add one asset (and its package and version when new). The same file again is a
        no-op (``created`` False); ``Conflict`` for the same name with other bytes or a closed
        version, ``Denied`` when the package's origin controls block publishing. ``tag_changes``:
        tags pointed at a version key, or removed (None), in the same transaction."""
        ...

    def publish_many(self, repository: Repository, fmt: str, namespace: str,
                     files: Sequence[NewFile], now: datetime) -> list[bool | PackyardError]:
        """Add many files in one transaction, each answered as ``publish`` would have, in
        order: created, already there, or the error that refused it alone; with each file
        added, its ``tag_changes``. ``namespace``: the files' unless one names its own."""
        ...

    def update_version_status(self, version: PackageVersion, status: str) -> PackageVersion:
        ...

    def publish_asset(self, repository: Repository, fmt: str, namespace: str, name: str,
                      display_name: str, new_version: NewVersion, new_asset: NewAsset,
                      blob_sizes: dict[str, int], now: datetime, *,
                      finished: bool) -> PublishResult:
        """Add one asset to a new or Unfinished version (PublishPackageVersion), which ends
        Published when ``finished``, else Unfinished; the same asset again is a no-op;
        ``Conflict`` for other bytes under its name or a version that takes no new asset."""
        ...

    # -- the version lifecycle (each one transaction: read, decide, write) -------------------

    def change_versions(self, package: Package, version_keys: Mapping[str, str],
                        decide: StatusDecision, now: datetime) -> VersionChanges:
        """Status changes, disposals and deletions, as ``decide`` plans them from each
        requested version's state; freed blobs are queued for the sweep."""
        ...

    def delete_package(self, package: Package, now: datetime) -> tuple[Package, list[str]]:
        """The package, its versions, tags and origin configuration; ``NotFound`` when gone."""
        ...

    def copy_versions(self, sources: Sequence[int], destination: Repository, fmt: str,
                      namespace: str, name: str, version_keys: Mapping[str, str],
                      decide: CopyDecision, now: datetime) -> VersionChanges:
        """Versions of a package copied into ``destination`` from the first of ``sources``
        (repository ids in search order) that has each, sharing the stored bytes."""
        ...

    # -- blobs nothing uses any more ----------------------------------------------------------

    def pending_sweeps(self, limit: int = 100) -> list[tuple[int, str]]:
        """Queued blobs (domain id, sha256), oldest first."""
        ...

    def release_blobs(self, domain_id: int, shas: Iterable[str], now: datetime) -> list[str]:
        """Queue those of ``shas`` no asset of the domain uses for the sweep (blobs stored for
        a file its transaction then refused); returns them."""
        ...

    def queue_strays(self, domain_id: int, shas: Iterable[str], now: datetime) -> list[str]:
        """Queue for the sweep those of ``shas`` (blobs found stored that no row named) that
        still have no row and no asset uses; returns them, sorted."""
        ...

    def sweep_blobs(self, queued: Sequence[tuple[int, str]], delete_blob: BlobDelete,
                    now: datetime) -> int:
        """Delete these queued blobs that are still unused (``delete_blob``), in one write
        transaction; returns how many were deleted."""

    # -- digests filled in after a pull ----------------------------------------------------------

    def digests_missing(self, limit: int = 100) -> list[tuple[int, str]]:
        """Blobs (domain id, sha256) some asset of which still lacks a digest."""
        ...

    def fill_digests(self, filled: Sequence[LaterDigest]) -> int:
        """Every asset of each blob gets the digests it lacks (its attributes' too: a key
        named for a digest, null), in one transaction; returns how many assets changed."""
        ...

    def update_version_attributes(self, version: PackageVersion,
                                  attributes: Mapping[str, Any]) -> PackageVersion:
        """Replace the format's data about a version (npm: a deprecation); the version gets
        a new revision."""
        ...

    def delete_versions(self, package_id: int, version_keys: Sequence[str]) -> list[str]:
        """Remove versions with their assets and the tags pointing at them (a deleted version
        may be published again); returns the sha256s no longer used in the domain, for the
        caller to delete from the blob store after the commit."""
        ...

    # -- tags ---------------------------------------------------------------------------------

    def package_tags(self, package_id: int) -> dict[str, str]:
        """A package's tags (npm's dist-tags): tag -> version key, by tag."""
        ...

    def put_package_tag(self, package_id: int, tag: str, version_key: str) -> None:
        """Point ``tag`` at a version (a new tag, or one moved)."""
        ...

    def delete_package_tag(self, package_id: int, tag: str) -> bool:
        """Remove a tag; False when the package had no such tag."""
        ...

    # -- upstreams and external connections -------------------------------------------------

    def domain_graph(self, domain_id: int) -> DomainGraph: ...

    def replace_upstreams(self, repository: Repository, upstream_ids: Sequence[int],
                          check: Callable[[DomainGraph], None]) -> None:
        """Set a repository's upstream list, in priority order. ``check`` sees the domain's
        current graph in the same transaction (so two concurrent updates cannot build a cycle
        between them) and refuses the change by raising; nothing changes then."""
        ...

    def repository_links(self, repository_id: int) -> RepositoryLinks: ...

    def add_external_connection(self, repository: Repository, name: str, package_format: str,
                                now: datetime) -> None:
        """``Conflict`` for the same one again, ``QuotaExceeded`` for a second one."""
        ...

    def remove_external_connection(self, repository: Repository, name: str) -> None:
        """``NotFound`` when the repository does not have it."""
        ...

    # -- origin controls --------------------------------------------------------------------

    def packages_named(self, domain_id: int, fmt: str, namespace: str,
                       name: str) -> dict[int, Package]:
        """The package called ``name`` in every repository of a domain that has it, by
        repository id."""
        ...

    def put_origin_configuration(self, repository: Repository, fmt: str, namespace: str,
                                 name: str, display_name: str, publish: str, upstream: str,
                                 now: datetime) -> Package:
        """Set a package's restrictions, creating the package (with no versions) if needed."""
        ...

    def version_origins(self, version_ids: Sequence[int]) -> dict[int, VersionOrigin]:
        """Each version's entry point, with the entry repository's name."""
        ...

    # -- package groups ---------------------------------------------------------------------

    def create_package_group(self, domain: Domain, pattern: str, description: str | None,
                             contact_info: str | None, now: datetime,
                             tags: Mapping[str, str] | None = None) -> PackageGroupRecord:
        """A group inheriting every restriction; ``Conflict`` when the domain has it."""
        ...

    def get_package_group(self, domain: Domain, pattern: str) -> PackageGroupRecord:
        """``NotFound`` when the domain has no such group."""
        ...

    def list_package_groups(self, domain: Domain) -> list[PackageGroupRecord]:
        """Every group of the domain (the root included), by pattern."""
        ...

    def update_package_group(self, domain: Domain, pattern: str, description: str | None,
                             contact_info: str | None) -> PackageGroupRecord:
        """Set the description and/or contact info (None leaves one as it is)."""
        ...

    def update_package_group_origin(
            self, domain: Domain, pattern: str,
            change: Callable[[OriginConfiguration], OriginConfiguration]
    ) -> tuple[PackageGroupRecord, PackageGroupRecord]:
        """Apply ``change`` to the group's own origin configuration in one transaction;
        ``NotFound`` for an allowed repository the domain does not have. Returns the group
        before and after."""
        ...

    def delete_package_group(self, domain: Domain, pattern: str) -> PackageGroupRecord:
        """With its allowed lists and tags; returns the group as it was."""
        ...

    def domain_packages(self, domain_id: int) -> list[tuple[str, str, str]]:
        """Every package of the domain once, whatever repositories hold it: (format,
        namespace, name), sorted (ListAssociatedPackages)."""
        ...

    def group_refusal(self, domain_id: int, repository: str, restriction: RestrictionType,
                      fmt: str, namespace: str, name: str,
                      display_name: str | None = None) -> str | None:
        """Why the package's group keeps versions out of ``repository`` that way (naming the
        group, and the package as ``display_name``, by default ``name``), or None. ``publish``,
        ``publish_many`` and ``retain`` apply the same check in their transactions; this is for
        refusing before bytes are stored."""
        ...

    # -- resource tags ----------------------------------------------------------------------

    def resource_tags(self, resource_type: str, owner: str, domain: str,
                      name: str | None = None) -> dict[str, str] | None:
        """The tags of a ``domain``, ``repository`` or ``package-group`` (``name`` its pattern),
        by key; None when there is no such resource."""
        ...

    def change_resource_tags(self, resource_type: str, owner: str, domain: str,
                             name: str | None,
                             change: Callable[[dict[str, str]], dict[str, str]]
                             ) -> dict[str, str]:
        """Replace a resource's tags with what ``change`` makes of them, in one transaction;
        ``NotFound`` when there is no such resource."""
        ...

    # -- kept copies of upstream files ------------------------------------------------------

    def retain(self, targets: Sequence[Repository], fmt: str, namespace: str, name: str,
               display_name: str, new_version: NewVersion, new_asset: NewAsset,
               entry: EntryPoint, blob_sizes: dict[str, int], now: datetime) -> list[Repository]:
        """Keep a copy of one file (and its version and package, when new) in each target.

        A target whose package blocks upstream versions, or whose version is no longer listed,
        is left alone; one that holds the file already is a no-op. Returns the targets that
        now hold a new copy."""
        ...

    def retain_from(self, source_repository_id: int, fmt: str, name: str, filename: str,
                    targets: Sequence[Repository], now: datetime,
                    namespace: str = "", version_key: str | None = None) -> bool:
        """Keep in ``targets`` a copy of a file another repository of the domain holds, with
        the version's original entry point; False when the source does not hold it."""
        ...

    # -- cached upstream pages --------------------------------------------------------------

    def get_upstream_page(self, index_url: str, project: str) -> CachedPage | None: ...

    def upstream_page_urls(self) -> list[str]:
        """The index URLs pages are stored of (each upstream's, as configured when read)."""
        ...

    def put_upstream_page(self, page: CachedPage) -> None:
        """Store (or replace) a fetched page."""
        ...

    def touch_upstream_page(self, page: CachedPage) -> None:
        """A stored page revalidated unchanged: its validators and fetch time replaced, not
        its document."""
        ...

    # -- authorization tokens ---------------------------------------------------------------

    def insert_token(self, token_id: str, secret_sha256: str, principal_arn: str,
                     access_key_id: str | None, domain: Domain, now: datetime,
                     expires_at: datetime) -> None: ...

    def find_token(self, secret_sha256: str) -> TokenRecord | None: ...

    # -- data keys (encryption at rest) -----------------------------------------------------

    def data_key(self, domain_id: int, sha256: str) -> StoredDataKey | None: ...

    def data_key_now(self, domain_id: int, sha256: str) -> StoredDataKey | None:
        """``data_key`` made on the caller's thread where the backend can without waiting
        (``point_reads.py``); ``WouldWait`` otherwise (None means: no data key)."""
        ...

    def add_data_key(self, key: StoredDataKey, now: datetime, *,
                     durable: bool = True) -> tuple[StoredDataKey, bool]:
        """Insert unless present; the row that holds, and whether it is ``key``. With
        ``durable=False`` the commit may wait for the next durable commit to reach the disk
        (a power loss before it can lose the row; a killed process cannot)."""
        ...

    def add_data_keys(self, keys: Sequence[StoredDataKey], now: datetime, *,
                      durable: bool = True) -> list[tuple[StoredDataKey, bool]]:
        """``add_data_key`` for several blobs in one transaction, in order."""
        ...

    def delete_data_key(self, domain_id: int, sha256: str) -> None: ...

    def replace_wrapped_key(self, old: StoredDataKey, key_id: str, key_version: int | None,
                            wrapped: bytes) -> bool:
        """Re-wrapped, if the row still holds ``old``'s wrapping; True when stored."""
        ...

    def data_keys_below(self, key_id: str, version: int, limit: int) -> list[StoredDataKey]:
        ...

    def data_key_versions(self, key_id: str) -> dict[int | None, int]: ...

    def data_key_count(self) -> int: ...

    def blob_rows(self, domain_id: int | None = None, *, after: tuple[int, str] = (0, ""),
                  limit: int = 500, plain_only: bool = False) -> list[BlobRow]:
        """Blobs in (domain, sha256) order after ``after``; ``plain_only``: without a key."""
        ...

    def blob_users(self, domain_id: int, sha256: str, limit: int = 5) -> list[BlobUser]:
        """The package versions a blob of the domain is (or comes with) an asset of."""
        ...

    def set_domain_encryption_key(self, domain_id: int, encryption_key: str) -> None: ...

    def domain_by_id(self, domain_id: int) -> Domain | None: ...


class SqlCatalog(DomainStore, RepositoryStore, ListingStore, PublishingStore,
                 AssetPublishingStore, VersionLifecycleStore, BlobSweepStore, TagStore,
                 VersionEditStore, UpstreamLinkStore, OriginStore, RetentionStore,
                 UpstreamPageStore, TokenStore, PackageGroupStore, ResourceTagStore,
                 DataKeyStore, RenderedPageStore, LaterDigestStore):
    """The catalog on SQLAlchemy Core.

    Constructed as ``SqlCatalog(url)``; the parts add methods only, so there is one
    ``__init__`` (``CatalogBase``'s) and one ``_write`` (with its ChangeLog bump) for all of
    them. ``engines`` is for the stores that share its database (``IamStore``, the token
    ledger), so it is not part of ``Catalog``.
    """


if TYPE_CHECKING:
    # mypy checks here that SqlCatalog provides all of Catalog, with the same signatures.
    _implements: type[Catalog] = SqlCatalog
