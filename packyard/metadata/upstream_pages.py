"""The cache of upstream project pages, as last fetched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from packyard.metadata.engine import outages_as_unavailable
from packyard.metadata.schema import upstream_pages
from packyard.metadata.transactions import CatalogBase, write_unflushed


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


def _store_page(dialect: Any) -> Any:
    """A page stored, replacing the one before in one statement (ON CONFLICT, on both)."""
    stmt = dialect.insert(upstream_pages)
    return stmt.on_conflict_do_update(
        index_elements=[upstream_pages.c.index_url, upstream_pages.c.project],
        set_={column: stmt.excluded[column]
              for column in ("found", "document", "etag", "last_modified", "fetched_at")})


# Built once (``new_files``' module docstring says why): every project read cold stores one.
_STORE_PAGE = {"sqlite": _store_page(sqlite), "postgresql": _store_page(postgresql)}
_TOUCH_PAGE = (update(upstream_pages)
               .where(upstream_pages.c.index_url == bindparam("page_index_url"),
                      upstream_pages.c.project == bindparam("page_project"))
               .values(etag=bindparam("etag"), last_modified=bindparam("last_modified"),
                       fetched_at=bindparam("fetched_at")))
_PAGE = select(upstream_pages).where(upstream_pages.c.index_url == bindparam("index_url"),
                                     upstream_pages.c.project == bindparam("project"))


class UpstreamPageStore(CatalogBase):
    """Cached upstream pages."""

    def get_upstream_page(self, index_url: str, project: str) -> CachedPage | None:
        with self._read() as conn:
            row = conn.execute(_PAGE, {"index_url": index_url, "project": project}).first()
        if row is None:
            return None
        return CachedPage(row.index_url, row.project, bool(row.found), row.document, row.etag,
                          row.last_modified, row.fetched_at)

    def upstream_page_urls(self) -> list[str]:
        """The index URLs pages are stored of: a walk of the primary key's index, once (an
        export asks it once, then looks each project up by its key)."""
        with self._read() as conn:
            return [str(url) for url in conn.execute(
                select(upstream_pages.c.index_url).distinct()).scalars()]

    def put_upstream_page(self, page: CachedPage) -> None:
        """Store (or replace) a fetched page. It leaves ``changes`` alone and announces
        nothing: no cached page or lookup is built from this table (each process keeps its own
        copy of a document in memory and revalidates it on its own schedule, and a page merged
        from one is kept by that copy's identity, ``UpstreamResolver.merged_listing``), and a
        fetch or revalidation would otherwise empty every response cache of every process.

        Not flushed on its own (``write_unflushed``): a copy lost to a power loss is fetched
        again, and a cold install stores one per project it reads, each of which would hold
        the writer lock through a flush of its own."""
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            conn.execute(_STORE_PAGE[conn.dialect.name], {
                "index_url": page.index_url, "project": page.project, "found": page.found,
                "document": page.document, "etag": page.etag,
                "last_modified": page.last_modified, "fetched_at": page.fetched_at})

    def touch_upstream_page(self, page: CachedPage) -> None:
        """A stored page revalidated unchanged (the upstream's 304): its validators and fetch
        time replaced, its document left as stored (it may be megabytes); as unannounced and
        unflushed as ``put_upstream_page``."""
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            conn.execute(_TOUCH_PAGE, {
                "page_index_url": page.index_url, "page_project": page.project,
                "etag": page.etag, "last_modified": page.last_modified,
                "fetched_at": page.fetched_at})
