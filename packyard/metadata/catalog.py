"""The metadata store: every SQL statement Packyard runs, behind plain methods returning model records.

Works on any SQLAlchemy URL Packyard supports (SQLite by default, PostgreSQL for replicas). Each
method is one transaction; callers never see a connection. ``Catalog`` is what the rest of
Packyard holds; it is made of one part per concept, each in its own module, sharing one pair of
engines and one write path (``packyard.metadata.transactions``). The records its methods take
and return are importable from here as well as from their own modules.
"""

from __future__ import annotations

from packyard.metadata.domains import DomainStore
from packyard.metadata.listings import ListingStore
from packyard.metadata.new_files import NewAsset, NewFile, NewVersion, new_revision
from packyard.metadata.origins import OriginStore, VersionOrigin
from packyard.metadata.publishing import PublishingStore, PublishResult
from packyard.metadata.repositories import RepositoryStore
from packyard.metadata.retention import EntryPoint, RetentionStore
from packyard.metadata.token_rows import TokenStore
from packyard.metadata.upstream_links import (
    DomainGraph,
    ExternalConnectionRecord,
    RepositoryLinks,
    UpstreamLinkStore,
)
from packyard.metadata.upstream_pages import CachedPage, UpstreamPageStore

__all__ = [
    "CachedPage",
    "Catalog",
    "DomainGraph",
    "EntryPoint",
    "ExternalConnectionRecord",
    "NewAsset",
    "NewFile",
    "NewVersion",
    "PublishResult",
    "RepositoryLinks",
    "VersionOrigin",
    "new_revision",
]


class Catalog(DomainStore, RepositoryStore, ListingStore, PublishingStore, UpstreamLinkStore,
              OriginStore, RetentionStore, UpstreamPageStore, TokenStore):
    """All metadata reads and writes.

    Constructed as ``Catalog(url)``; the parts add methods only, so there is one ``__init__``
    (``CatalogBase``'s) and one ``_write`` (with its ChangeLog bump) for all of them.
    """
