"""Digests filled in after a pulled file is kept.

A pull computes the sha256 that names the file, the digests its upstream declared (it verifies
them) and those its format's records need at once; an asset's other digests (``md5``, ``sha1``,
``sha512``) are NULL until ``upstream/later_digests.py`` reads the file back and fills them in.
A digest is a function of the bytes, and the bytes are named by their sha256: every asset with
that sha256, in any repository or domain (a copy, a second repository keeping the same pull),
gets the same digests.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select, update

from packyard.metadata.engine import outages_as_unavailable
from packyard.metadata.rows import ASSET_JOIN
from packyard.metadata.schema import DIGESTS_MISSING, assets, packages, repositories
from packyard.metadata.transactions import CatalogBase, write_unflushed


class LaterDigestStore(CatalogBase):
    def digests_missing(self, limit: int = 100) -> list[tuple[int, str]]:
        """Blobs (domain id, sha256) some asset of which still lacks a digest (the domain:
        one that holds the blob)."""
        with self._read() as conn:
            rows = conn.execute(
                select(func.min(repositories.c.domain_id).label("domain_id"), assets.c.sha256)
                .select_from(ASSET_JOIN.join(repositories,
                                             packages.c.repository_id == repositories.c.id))
                .where(DIGESTS_MISSING)
                .group_by(assets.c.sha256).order_by(assets.c.sha256).limit(limit))
            return [(row.domain_id, row.sha256) for row in rows]

    def fill_digests(self, filled: Sequence[tuple[str, str, str, str]]) -> int:
        """Every asset of each blob (sha256, md5, sha1, sha512) gets the digests it lacks, in one
        transaction; returns how many assets changed.

        Leaves ``changes`` alone and announces nothing, like a stored upstream page: no cached
        answer was made with these digests missing (the answers that show them fill them in
        first), and moving the stamp would empty every process's caches after each install.
        Not flushed on its own (``write_unflushed``): a fill lost to a power loss is done
        again by the next start."""
        if not filled:
            return 0
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            return conn.execute(_FILL, [
                {"digest": sha256, "md5_value": md5, "sha1_value": sha1,
                 "sha512_value": sha512} for sha256, md5, sha1, sha512 in filled]).rowcount


_FILL = (update(assets).where(assets.c.sha256 == bindparam("digest"), DIGESTS_MISSING)
         .values(md5=func.coalesce(assets.c.md5, bindparam("md5_value")),
                 sha1=func.coalesce(assets.c.sha1, bindparam("sha1_value")),
                 sha512=func.coalesce(assets.c.sha512, bindparam("sha512_value"))))
