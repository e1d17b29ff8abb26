"""The cache of upstream project pages, as last fetched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from packyard.metadata.engine import outages_as_unavailable
from packyard.metadata.schema import upstream_pages
from packyard.metadata.transactions import CatalogBase


@dataclass(frozen=True)
class CachedPage:
    """An upstream project page as last fetched (``document`` is the parsed files, as JSON)."""

    index_url: str
    project: str
    found: bool
    document: str | None
    etag: str | None
    last_modified: str | None
    fetched_at: datetime


class UpstreamPageStore(CatalogBase):
    """Cached upstream pages."""

    def get_upstream_page(self, index_url: str, project: str) -> CachedPage | None:
        with self._read() as conn:
            row = conn.execute(select(upstream_pages).where(
                upstream_pages.c.index_url == index_url,
                upstream_pages.c.project == project)).first()
        if row is None:
            return None
        return CachedPage(row.index_url, row.project, bool(row.found), row.document, row.etag,
                          row.last_modified, row.fetched_at)

    def put_upstream_page(self, page: CachedPage) -> None:
        """Store (or replace) a fetched page. It leaves ``changes`` alone and announces
        nothing: no cached page or lookup is built from this table (each process keeps its own
        copy of a document in memory and revalidates it on its own schedule, and a page merged
        from one is kept by that copy's identity, ``UpstreamResolver.merged_listing``), and a
        fetch or revalidation would otherwise empty every response cache of every process."""
        with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
            conn.execute(delete(upstream_pages).where(
                upstream_pages.c.index_url == page.index_url,
                upstream_pages.c.project == page.project))
            conn.execute(insert(upstream_pages).values(
                index_url=page.index_url, project=page.project, found=page.found,
                document=page.document, etag=page.etag, last_modified=page.last_modified,
                fetched_at=page.fetched_at))
