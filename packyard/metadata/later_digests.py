"""Digests filled in after a pulled file is kept.

A pull computes the sha256 that names the file, the digests its upstream declared (it verifies
them) and those its format's records need at once; an asset's other digests (``md5``, ``sha1``,
``sha512``) are NULL until ``upstream/later_digests.py`` reads the file back and fills them in.
A digest is a function of the bytes, and the bytes are named by their sha256: every asset with
that sha256, in any repository or domain (a copy, a second repository keeping the same pull),
gets the same digests.

A format's own digest of a file, kept in its asset's ``attributes`` (PyPI: BLAKE2b), is left for
later the same way: the pull records the attribute, named for the digest (``LaterDigest``'s
fields), with null for its value, and the fill writes the digest there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update

from packyard.metadata.engine import outages_as_unavailable
from packyard.metadata.new_files import decode_attributes, encode_attributes
from packyard.metadata.rows import ASSET_JOIN
from packyard.metadata.schema import DIGESTS_MISSING, assets, packages, repositories
from packyard.metadata.transactions import CatalogBase, write_unflushed


class LaterDigest(NamedTuple):
    """One blob's digests, as the fill writes them."""

    sha256: str
    md5: str
    sha1: str
    sha512: str
    blake2_256: str


ATTRIBUTE_DIGESTS = LaterDigest._fields[1:]
"""The digests an asset's attributes may leave for later (a key of this name, null)."""


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

    def fill_digests(self, filled: Sequence[LaterDigest]) -> int:
        """Every asset of each blob gets the digests it lacks, its attributes' too, in one
        transaction; returns how many assets changed.

        Leaves ``changes`` alone and announces nothing, like a stored upstream page: no cached
        answer was made with these digests missing (the answers that show them fill them in
        first), and moving the stamp would empty every process's caches after each install.
        Not flushed on its own (``write_unflushed``): a fill lost to a power loss is done
        again by the next start."""
        if not filled:
            return 0
        by_sha = {f.sha256: f for f in filled}
        with outages_as_unavailable(), write_unflushed(self._writer) as conn:
            # The few whose attributes hold a null (a pull's): the null digests among them.
            waiting = conn.execute(
                select(assets.c.id, assets.c.sha256, assets.c.attributes)
                .where(assets.c.sha256.in_(list(by_sha)), DIGESTS_MISSING,
                       assets.c.attributes.contains("null"))).all()
            attributes = [
                {"asset_id": row.id, "attributes_value": encode_attributes(new)}
                for row in waiting
                if (new := _filled_attributes(row.attributes, by_sha[row.sha256])) is not None]
            if attributes:
                conn.execute(_FILL_ATTRIBUTES, attributes)
            return conn.execute(_FILL, [
                {"digest": f.sha256, "md5_value": f.md5, "sha1_value": f.sha1,
                 "sha512_value": f.sha512} for f in filled]).rowcount


def _filled_attributes(text: str, digests: LaterDigest) -> dict[str, object] | None:
    """The attributes with each null digest filled in; None if none was null."""
    found = decode_attributes(text)
    later = [key for key in ATTRIBUTE_DIGESTS if key in found and found[key] is None]
    if not later:
        return None
    return {**found, **{key: getattr(digests, key) for key in later}}


_FILL_ATTRIBUTES = (update(assets).where(assets.c.id == bindparam("asset_id"))
                    .values(attributes=bindparam("attributes_value")))
_FILL = (update(assets).where(assets.c.sha256 == bindparam("digest"), DIGESTS_MISSING)
         .values(md5=func.coalesce(assets.c.md5, bindparam("md5_value")),
                 sha1=func.coalesce(assets.c.sha1, bindparam("sha1_value")),
                 sha512=func.coalesce(assets.c.sha512, bindparam("sha512_value"))))
