"""Project pages rendered when a package changes, kept in the catalog for every process.

An install is almost all first reads, and the first read of a project page used to cost a
listing (two queries) and a render (HTML or JSON, a sha256, a gzip) on top of the grant. A page
changes only when its package's versions or files do, and every such write stamps the package
with a new ``last_serial`` (``serials.py``). So each write that bumps serials queues the
changed packages (``PageQueue``), and right after it commits a thread of the writing process
renders their own pages (with the format's ``PageRenderer``) and stores them in
``rendered_pages``. A read is then one keyed lookup (``rendered_page``), and a row is current
exactly while its ``serial`` is the package's ``last_serial`` — a write whose pages are not
rendered yet (or never: another version's code, a failed render, a stop) leaves a stale row
that no read takes. A page with no current row is rendered on
its first read and kept then (``page_store.py``).

Only a package's own page is kept: a repository with upstream repositories or an external
connection serves pages merged with theirs, which change without its serials moving, so those
packages are not rendered here and their reads take the merging path (decision 0016).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, union

from packyard.errors import Unavailable
from packyard.metadata.rows import asset_record, chunks, package_record, version_record
from packyard.metadata.schema import (
    assets,
    package_versions,
    packages,
    rendered_pages,
    repository_external_connections,
    repository_upstreams,
)
from packyard.model import IndexEntry, Package, PackageVersion

_CHANGED = "packyard.changed_packages"

log = logging.getLogger("packyard.metadata")


@dataclass(frozen=True)
class PageSource:
    """What a package's own page shows, read in one transaction (so ``package.last_serial``
    is the serial of exactly these versions and files)."""

    package: Package
    versions: list[PackageVersion]
    entries: list[IndexEntry]  # by file name


@dataclass(frozen=True)
class StoredPage:
    """One representation of a page, as a format rendered it."""

    kind: str  # the format's name for it ("html", "json")
    body: bytes
    gzip_body: bytes | None  # None when too small to be worth compressing
    digest: str  # the ETag's value


PageRenderer = Callable[[PageSource], Sequence[StoredPage]]
"""A format's rendering of a package's own page, in every representation it serves."""


def note_changed(conn: Connection, package_ids: Iterable[int]) -> None:
    """Remember, for the end of the write transaction on ``conn``, that these packages'
    pages must be rendered again (``serials.bump_serials`` calls it)."""
    conn.info.setdefault(_CHANGED, set()).update(package_ids)


def forget_changed(conn: Connection) -> set[int]:
    """The packages noted in this transaction, forgotten (the connection goes back to the pool
    with its ``info``)."""
    found: set[int] = conn.info.pop(_CHANGED, set())
    return found


def sources_to_render(conn: Connection, package_ids: Iterable[int],
                      formats: Collection[str]) -> list[PageSource]:
    """What the pages of these packages show, for those whose format renders pages and whose
    repository has no upstreams."""
    found: list[PageSource] = []
    for chunk in chunks(sorted(set(package_ids))):
        rows = conn.execute(select(packages).where(
            packages.c.id.in_(chunk), packages.c.format.in_(list(formats)))).all()
        if not rows:
            continue
        linked = _repositories_with_upstreams(conn, {row.repository_id for row in rows})
        found += page_sources(conn, [package_record(row) for row in rows
                                     if row.repository_id not in linked])
    return found


def _repositories_with_upstreams(conn: Connection, repository_ids: set[int]) -> set[int]:
    ids = sorted(repository_ids)
    return set(conn.execute(union(
        select(repository_upstreams.c.repository_id).where(
            repository_upstreams.c.repository_id.in_(ids)),
        select(repository_external_connections.c.repository_id).where(
            repository_external_connections.c.repository_id.in_(ids)))).scalars())


def page_sources(conn: Connection, wanted: Sequence[Package]) -> list[PageSource]:
    """Each package's versions and files, in two queries for all of them."""
    if not wanted:
        return []
    by_package: dict[int, list[PackageVersion]] = {p.id: [] for p in wanted}
    versions: dict[int, PackageVersion] = {}
    for row in conn.execute(select(package_versions).where(
            package_versions.c.package_id.in_(list(by_package)))):
        version = version_record(row)
        by_package[version.package_id].append(version)
        versions[version.id] = version
    entries: dict[int, list[IndexEntry]] = {p.id: [] for p in wanted}
    for chunk in chunks(sorted(versions)):
        for row in conn.execute(select(assets).where(assets.c.package_version_id.in_(chunk))
                                .order_by(assets.c.name)):
            version = versions[row.package_version_id]
            entries[version.package_id].append(IndexEntry(
                version=version.version, status=version.status, asset=asset_record(row),
                published_at=version.published_at))
    for found in entries.values():
        found.sort(key=lambda entry: entry.asset.name)  # across chunks too
    return [PageSource(p, by_package[p.id], entries[p.id]) for p in wanted]


def store_if_current(conn: Connection, package: Package, pages: Sequence[StoredPage]) -> bool:
    """Store pages rendered from ``package`` as it was then, unless it has changed since (a
    later render stores the newer page); whether they were stored."""
    serial = conn.execute(select(packages.c.last_serial).where(
        packages.c.id == package.id)).scalar()
    if serial != package.last_serial:
        return False
    store_pages(conn, package, pages)
    return True


def store_all_if_current(conn: Connection,
                         rendered: Sequence[tuple[Package, Sequence[StoredPage]]]) -> int:
    """``store_if_current`` for many packages in a few statements (a bulk import renders
    hundreds at once); returns how many were stored."""
    serials: dict[int, int] = {}
    for chunk in chunks(sorted({package.id for package, _ in rendered})):
        serials.update((row.id, row.last_serial) for row in conn.execute(
            select(packages.c.id, packages.c.last_serial).where(packages.c.id.in_(chunk))))
    current = [(package, pages) for package, pages in rendered
               if serials.get(package.id) == package.last_serial]
    for chunk in chunks([package.id for package, _ in current]):
        conn.execute(delete(rendered_pages).where(rendered_pages.c.package_id.in_(chunk)))
    rows = [{"package_id": package.id, "kind": page.kind, "serial": package.last_serial,
             "digest": page.digest, "body": page.body, "gzip_body": page.gzip_body}
            for package, pages in current for page in pages]
    if rows:
        conn.execute(insert(rendered_pages), rows)
    return len(current)


def store_pages(conn: Connection, package: Package, pages: Sequence[StoredPage]) -> None:
    conn.execute(delete(rendered_pages).where(rendered_pages.c.package_id == package.id))
    if pages:
        conn.execute(insert(rendered_pages), [
            {"package_id": package.id, "kind": page.kind, "serial": package.last_serial,
             "digest": page.digest, "body": page.body, "gzip_body": page.gzip_body}
            for page in pages])


class PageQueue:
    """Packages whose pages are to be rendered, and the thread that renders them.

    Rendering after the write's commit, not in its transaction, keeps a publish as fast as
    before (a page of 300 files takes tens of milliseconds to render, which a publish into
    that project would otherwise pay and hold the write lock for), and coalesces: what piles
    up while a render runs (twenty uploads into one project) is rendered once. A read that
    comes first renders the page itself (``StoredPages``), as every read did before.
    """

    def __init__(self, render: Callable[[set[int]], object]) -> None:
        self._render = render
        self._pending: set[int] = set()
        self._busy = False
        self._closed = False
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.batches = 0  # renders run (tests, logs)

    def add(self, package_ids: Iterable[int]) -> None:
        with self._condition:
            if self._closed:
                return
            self._pending.update(package_ids)
            if self._thread is None or self._pid != os.getpid():
                # Started on the first write (most processes that open the catalog never
                # write), and again in a forked worker, which has no copy of the thread.
                self._pid = os.getpid()
                self._busy = False
                self._thread = threading.Thread(target=self._run, name="packyard-pages",
                                                daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything added so far is rendered (``packyard import`` before it
        exits, tests); whether it was within ``timeout``."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending and not self._busy,
                                            timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Render nothing more; wait (up to ``timeout``) for a render under way to end, so
        that the connection it holds is back when the catalog's engines are disposed (a
        database file moved or copied right after ``dispose`` then has every write)."""
        with self._condition:
            self._closed = True
            self._pending.clear()
            self._condition.notify_all()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                batch, self._pending = self._pending, set()
                self._busy = True
            try:
                self._render(batch)
            except Unavailable as e:
                # The database restarting: said in one line (the engine logged why), not with
                # three chained tracebacks per process; the next read renders them.
                log.warning("rendering the pages of %d package(s) waits for their next read: "
                            "%s", len(batch), e)
            except Exception:  # noqa: BLE001 - those pages are rendered by their next read
                log.warning("rendering the pages of %d package(s) failed", len(batch),
                            exc_info=True)
            finally:
                with self._condition:
                    self._busy = False
                    self.batches += 1
                    self._condition.notify_all()
