"""Project pages rendered when a package changes, kept in the catalog for every process.

An install is almost all first reads, and the first read of a project page used to cost a
listing (two queries) and a render (HTML or JSON, a sha256, a gzip) on top of the grant. A page
changes only when its package's versions or files do, and every such write stamps the package
with a new ``last_serial`` (``serials.py``). So each write transaction that bumps serials also
renders the changed packages' own pages (with the format's ``PageRenderer``) and stores them in
``rendered_pages`` beside them: committed together, or not at all. A read is then one keyed
lookup (``rendered_page``), and a row is current exactly while its ``serial`` is the package's
``last_serial`` — a write that changed a package without rendering (another version's code, a
failed render) leaves a stale row that no read takes. A page with no current row is rendered on
its first read and kept then (``page_store.py``).

Only a package's own page is kept: a repository with upstream repositories or an external
connection serves pages merged with theirs, which change without its serials moving, so those
packages are not rendered here and their reads take the merging path (decision 0016).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, union

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


def render_changed(conn: Connection, package_ids: Iterable[int],
                   renderers: Mapping[str, PageRenderer]) -> int:
    """Render and store, in the write transaction on ``conn``, the pages of these packages
    whose format has a renderer and whose repository has no upstreams; returns how many
    packages were rendered."""
    rendered = 0
    for chunk in chunks(sorted(set(package_ids))):
        rows = conn.execute(select(packages).where(
            packages.c.id.in_(chunk), packages.c.format.in_(list(renderers)))).all()
        if not rows:
            continue
        linked = _repositories_with_upstreams(conn, {row.repository_id for row in rows})
        wanted = [package_record(row) for row in rows if row.repository_id not in linked]
        for source in page_sources(conn, wanted):
            store_pages(conn, source.package, renderers[source.package.format](source))
            rendered += 1
    return rendered


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


def store_pages(conn: Connection, package: Package, pages: Sequence[StoredPage]) -> None:
    conn.execute(delete(rendered_pages).where(rendered_pages.c.package_id == package.id))
    if pages:
        conn.execute(insert(rendered_pages), [
            {"package_id": package.id, "kind": page.kind, "serial": package.last_serial,
             "digest": page.digest, "body": page.body, "gzip_body": page.gzip_body}
            for page in pages])
