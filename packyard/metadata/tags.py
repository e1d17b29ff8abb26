"""Package tags: named pointers to versions (npm's dist-tags), per package of a repository.

A tag's change is a change of its package, as a version's is: it raises the package's
``last_serial`` (``serials.py``), which a merged listing kept across other packages' changes is
checked against (``UpstreamResolver``), in every process at once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select, update

from packyard.metadata.schema import package_tags
from packyard.metadata.serials import bump_serials
from packyard.metadata.transactions import CatalogBase


class TagStore(CatalogBase):
    """Reads and writes of package tags; a write bumps the ChangeLog and the package's serial
    like any other change of it."""

    def package_tags(self, package_id: int) -> dict[str, str]:
        with self._read() as conn:
            return {row.tag: row.version_key for row in conn.execute(
                select(package_tags.c.tag, package_tags.c.version_key)
                .where(package_tags.c.package_id == package_id).order_by(package_tags.c.tag))}

    def put_package_tag(self, package_id: int, tag: str, version_key: str) -> None:
        with self._write() as conn:
            write_package_tags(conn, package_id, {tag: version_key})
            bump_serials(conn, [package_id], datetime.now(UTC))

    def delete_package_tag(self, package_id: int, tag: str) -> bool:
        with self._write() as conn:
            deleted = bool(conn.execute(delete(package_tags).where(
                package_tags.c.package_id == package_id, package_tags.c.tag == tag)).rowcount)
            if deleted:
                bump_serials(conn, [package_id], datetime.now(UTC))
            return deleted


def write_package_tags(conn: Connection, package_id: int,
                       changes: Mapping[str, str | None]) -> None:
    """Point each tag of ``changes`` at its version key, or remove it (None), in the caller's
    write transaction: a publish's tags are written with its version, so a failure between
    the two cannot leave the version published and its tags as they were."""
    gone = sorted(tag for tag, key in changes.items() if key is None)
    if gone:
        conn.execute(delete(package_tags).where(package_tags.c.package_id == package_id,
                                                package_tags.c.tag.in_(gone)))
    for tag, version_key in changes.items():
        if version_key is None:
            continue
        moved = conn.execute(update(package_tags).where(
            package_tags.c.package_id == package_id, package_tags.c.tag == tag)
            .values(version_key=version_key)).rowcount
        if not moved:
            conn.execute(insert(package_tags).values(package_id=package_id, tag=tag,
                                                     version_key=version_key))
