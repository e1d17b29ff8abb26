"""The catalog's reads and writes of rendered pages (``rendered_pages.py`` says why they are
kept and when a row is current)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, case, func, select

from packyard.metadata.engine import outages_as_unavailable
from packyard.metadata.point_reads import POINT_READ_MAX_BYTES, WouldWait
from packyard.metadata.rendered_pages import (
    PageSource,
    StoredPage,
    page_sources,
    sources_to_render,
    store_all_if_current,
    store_if_current,
)
from packyard.metadata.rows import package_record
from packyard.metadata.schema import packages, rendered_pages
from packyard.metadata.transactions import CatalogBase
from packyard.model import Package

# Built once: SQLAlchemy then reuses its compiled form and cache key, which costs more than
# the query itself when made per read (the first read of every page of an install).
_PAGE_OF_PACKAGE = packages.join(rendered_pages, rendered_pages.c.package_id == packages.c.id)
_CURRENT = (packages.c.repository_id == bindparam("repository_id"),
            packages.c.format == bindparam("format"),
            packages.c.namespace == bindparam("namespace"), packages.c.name == bindparam("name"),
            rendered_pages.c.kind == bindparam("kind"),
            rendered_pages.c.serial == packages.c.last_serial)
_CURRENT_PAGE = (
    select(rendered_pages.c.digest, rendered_pages.c.body, rendered_pages.c.gzip_body,
           rendered_pages.c.serial).select_from(_PAGE_OF_PACKAGE).where(*_CURRENT))

# The same lookup for the event loop's thread (``point_reads.py``): the bodies only when they
# are small, by their lengths, which SQLite reads without the overflow pages that hold them.
_SMALL = (func.length(rendered_pages.c.body)
          + func.coalesce(func.length(rendered_pages.c.gzip_body), 0)) <= POINT_READ_MAX_BYTES
_CURRENT_SMALL_PAGE = (
    select(rendered_pages.c.digest, case((_SMALL, rendered_pages.c.body)).label("body"),
           case((_SMALL, rendered_pages.c.gzip_body)).label("gzip_body"),
           _SMALL.label("small"), rendered_pages.c.serial)
    .select_from(_PAGE_OF_PACKAGE).where(*_CURRENT))


class RenderedPageStore(CatalogBase):
    """Reads of kept pages, and keeping a page its first read rendered."""

    def rendered_page(self, repository_id: int, fmt: str, name: str, kind: str,
                      namespace: str = "") -> tuple[StoredPage, int] | None:
        """The current page ``kind`` of a package and the serial it shows, in one keyed
        lookup; None when there is none (no such package, or not rendered since it changed)."""
        with self._read() as conn:
            row = conn.execute(_CURRENT_PAGE, {
                "repository_id": repository_id, "format": fmt, "namespace": namespace,
                "name": name, "kind": kind}).first()
        if row is None:
            return None
        return StoredPage(kind, row.body, row.gzip_body, row.digest), int(row.serial)

    def rendered_page_now(self, repository_id: int, fmt: str, name: str, kind: str,
                          namespace: str = "") -> tuple[StoredPage, int] | None:
        """``rendered_page`` on the caller's own thread, where the backend reads without
        waiting (``point_reads.py``) and the page's bytes are at most ``POINT_READ_MAX_BYTES``;
        None otherwise, or when there is no current page: ``rendered_page`` (in a worker
        thread) then decides."""
        try:
            row = self._point_reads.first(_CURRENT_SMALL_PAGE, {
                "repository_id": repository_id, "format": fmt, "namespace": namespace,
                "name": name, "kind": kind})
        except WouldWait:
            return None
        if row is None or not row["small"]:
            return None
        return (StoredPage(kind, row["body"], row["gzip_body"], row["digest"]),
                int(row["serial"]))

    def page_source(self, repository_id: int, fmt: str, name: str,
                    namespace: str = "") -> PageSource | None:
        """What a package's own page shows, for a page not rendered since it changed; None
        when the repository has no such package."""
        with self._read() as conn:
            row = conn.execute(select(packages).where(
                packages.c.repository_id == repository_id, packages.c.format == fmt,
                packages.c.namespace == namespace, packages.c.name == name)).first()
            if row is None:
                return None
            return page_sources(conn, [package_record(row)])[0]

    def keep_rendered_pages(self, package: Package, pages: Sequence[StoredPage]) -> bool:
        """Store pages a read rendered from ``package`` as it was then, unless the package has
        changed since; whether they were stored. Nothing any cache holds changes, so nothing
        is announced."""
        with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
            return store_if_current(conn, package, pages)

    def render_pages(self, package_ids: Iterable[int]) -> int:
        """Render and store the pages of these packages (those whose format renders pages,
        in repositories without upstreams): read in one transaction, rendered outside any,
        stored in one; returns how many packages' pages were stored."""
        with self._read() as conn:
            sources = sources_to_render(conn, package_ids, self._page_renderers)
        if not sources:
            return 0
        rendered = [(s.package, self._page_renderers[s.package.format](s)) for s in sources]
        with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
            return store_all_if_current(conn, rendered)

    def flush_rendered_pages(self, timeout: float | None = None) -> bool:
        """Wait until the pages of every package this process changed are rendered."""
        return self._page_queue.flush(timeout)
