"""Digests filled in after a pulled file is kept.

A pull computes the sha256 that names the file, the digests its upstream declared (it verifies
them) and those its format's records need at once; an asset's other digests (``md5``, ``sha1``,
``sha512``) are NULL until ``upstream/later_digests.py`` reads the file back and fills them in.
A digest is a function of the bytes, and the bytes are named by their sha256: every asset with
that sha256, in any repository or domain (a copy, a second repository keeping the same pull),
gets the same digests.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from packyard.metadata.rows import ASSET_JOIN
from packyard.metadata.schema import DIGESTS_MISSING, assets, packages, repositories
from packyard.metadata.transactions import CatalogBase


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

    def fill_digests(self, sha256: str, md5: str, sha1: str, sha512: str) -> int:
        """Every asset of these bytes gets the digests it lacks; returns how many changed.

        Moves the change stamp (a kept page or answer showing the digests is made again) as a
        write that only adds to packages, so no structure cache is dropped."""
        with self._write(content_only=True) as conn:
            return conn.execute(
                update(assets).where(assets.c.sha256 == sha256, DIGESTS_MISSING)
                .values(md5=func.coalesce(assets.c.md5, md5),
                        sha1=func.coalesce(assets.c.sha1, sha1),
                        sha512=func.coalesce(assets.c.sha512, sha512))).rowcount
