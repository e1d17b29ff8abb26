"""Wrapped data keys: one per encrypted blob of a domain, and what rotation and migration ask.

The catalog keeps each blob's data key wrapped by the domain's KEK (the provider's own wrapped
form, the KEK's id and version), never beside the blob (``docs/decisions/0001``). The first
writer of a (domain, sha256) decides its key (``add_data_key`` keeps the row already there),
so every copy of the same plaintext in a domain is under one key and dedupe keeps working.

These writes do not bump ``changes``: no page or file lookup shows a data key, and rotation
re-wraps rows one at a time, which would otherwise empty every response cache per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from packyard.metadata.new_files import domain_gone
from packyard.metadata.schema import (
    asset_blobs,
    assets,
    blobs,
    data_keys,
    domains,
    package_versions,
    packages,
    repositories,
)
from packyard.metadata.transactions import CatalogBase, write_unflushed


@dataclass(frozen=True, slots=True)
class StoredDataKey:
    """A blob's data key as the catalog keeps it (wrapped), with the plaintext's size."""

    domain_id: int
    sha256: str
    provider: str
    key_id: str
    key_version: int | None
    wrapped: bytes
    plaintext_size: int


@dataclass(frozen=True, slots=True)
class BlobRow:
    """A blob the catalog counts in a domain (``blobs``), and whether it has a data key."""

    domain_id: int
    sha256: str
    size: int
    encrypted: bool


@dataclass(frozen=True, slots=True)
class BlobUser:
    """A package version's asset that is a blob, or that the blob comes with."""

    repository: str
    format: str
    namespace: str | None
    package: str
    version: str
    asset: str


# Built once (``new_files``' module docstring says why): each pulled file asks them.
_KEY_OF = select(data_keys).where(data_keys.c.domain_id == bindparam("domain_id"),
                                  data_keys.c.sha256 == bindparam("sha256"))
# A new key, unless the blob has one: ``RETURNING`` says which (psycopg gives no row count
# for an ``INSERT … ON CONFLICT``), so a new blob's key costs one statement, not a read first.
_INSERT_NEW_KEY = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(data_keys).on_conflict_do_nothing(
        index_elements=[data_keys.c.domain_id, data_keys.c.sha256],
    ).returning(data_keys.c.sha256)
    for dialect in (postgresql, sqlite)}


def _record(row: Row[Any]) -> StoredDataKey:
    return StoredDataKey(domain_id=row.domain_id, sha256=row.sha256, provider=row.provider,
                         key_id=row.key_id, key_version=row.key_version,
                         wrapped=bytes(row.wrapped), plaintext_size=int(row.plaintext_size))


# Built once, for the event loop's lookup (``point_reads.py``: compiled once per statement).
_DATA_KEY = select(data_keys).where(data_keys.c.domain_id == bindparam("domain_id"),
                                    data_keys.c.sha256 == bindparam("sha256"))


class DataKeyStore(CatalogBase):
    """The ``data_keys`` table."""

    @contextmanager
    def _write_quiet(self) -> Iterator[Connection]:
        """A write transaction that leaves ``changes`` alone (see the module docstring)."""
        with self._writer.connect() as conn, conn.begin():
            yield conn

    def _write_unflushed(self) -> AbstractContextManager[Connection]:
        return write_unflushed(self._writer)

    def data_key(self, domain_id: int, sha256: str) -> StoredDataKey | None:
        with self._read() as conn:
            row = conn.execute(select(data_keys).where(
                data_keys.c.domain_id == domain_id, data_keys.c.sha256 == sha256)).first()
        return _record(row) if row else None

    def data_key_now(self, domain_id: int, sha256: str) -> StoredDataKey | None:
        """``data_key`` on the caller's own thread (the event loop's: the first read of a
        small encrypted file), where the backend reads without waiting (``point_reads.py``);
        ``WouldWait`` otherwise. None is an answer here: the blob has no data key (stored
        before encryption was on), so the caller must not take it for "cannot tell"."""
        row = self._point_reads.first(_DATA_KEY, {"domain_id": domain_id, "sha256": sha256})
        if row is None:
            return None
        return StoredDataKey(domain_id=row["domain_id"], sha256=row["sha256"],
                             provider=row["provider"], key_id=row["key_id"],
                             key_version=row["key_version"], wrapped=bytes(row["wrapped"]),
                             plaintext_size=int(row["plaintext_size"]))

    def add_data_key(self, key: StoredDataKey, now: datetime, *,
                     durable: bool = True) -> tuple[StoredDataKey, bool]:
        """Record ``key`` unless the blob has one already; returns the row that holds, and
        whether it is ``key`` (False: another writer decided first, use its key).

        ``durable=False`` (an upload's new blob): the commit does not wait for the disk; the
        asset rows' own commit, written after the ciphertext, makes it durable with them
        (``_write_unflushed``). Not for a blob whose plain copy is removed next."""
        with self._domain_standing([key.domain_id]), \
                self._write_quiet() if durable else self._write_unflushed() as conn:
            row = conn.execute(select(data_keys).where(
                data_keys.c.domain_id == key.domain_id,
                data_keys.c.sha256 == key.sha256)).first()
            if row is not None:
                return _record(row), False
            conn.execute(insert(data_keys).values(
                domain_id=key.domain_id, sha256=key.sha256, provider=key.provider,
                key_id=key.key_id, key_version=key.key_version, wrapped=key.wrapped,
                plaintext_size=key.plaintext_size, created_at=now))
        return key, True

    @contextmanager
    def _domain_standing(self, domain_ids: Sequence[int]) -> Iterator[None]:
        """A data key for a domain deleted since its upload was let in fails its foreign key:
        said as the domain gone (``NotFound``), not as an internal error."""
        try:
            yield
        except IntegrityError:
            with self._read() as conn:
                standing = set(conn.execute(select(domains.c.id).where(
                    domains.c.id.in_(sorted(set(domain_ids))))).scalars())
            if standing != set(domain_ids):
                raise domain_gone() from None
            raise

    def add_data_keys(self, keys: Sequence[StoredDataKey], now: datetime, *,
                      durable: bool = True) -> list[tuple[StoredDataKey, bool]]:
        """``add_data_key`` for several blobs in one transaction (a pulled wheel and its
        metadata file), in order: a key for bytes named twice is the first's."""
        decided: list[tuple[StoredDataKey, bool]] = []
        with self._domain_standing([key.domain_id for key in keys]), \
                self._write_quiet() if durable else self._write_unflushed() as conn:
            insert_new = _INSERT_NEW_KEY[conn.dialect.name]
            for key in keys:
                inserted = conn.execute(insert_new, {
                    "domain_id": key.domain_id, "sha256": key.sha256, "provider": key.provider,
                    "key_id": key.key_id, "key_version": key.key_version,
                    "wrapped": key.wrapped, "plaintext_size": key.plaintext_size,
                    "created_at": now}).first()
                if inserted is not None:
                    decided.append((key, True))
                    continue
                # Another writer's key (or an earlier one of this batch): that one holds.
                row = conn.execute(_KEY_OF, {"domain_id": key.domain_id,
                                             "sha256": key.sha256}).one()
                decided.append((_record(row), False))
        return decided

    def delete_data_key(self, domain_id: int, sha256: str) -> None:
        with self._write_quiet() as conn:
            conn.execute(delete(data_keys).where(data_keys.c.domain_id == domain_id,
                                                 data_keys.c.sha256 == sha256))

    def replace_wrapped_key(self, old: StoredDataKey, key_id: str, key_version: int | None,
                            wrapped: bytes) -> bool:
        """Store a re-wrapping of ``old``'s data key, if the row still holds ``old``'s
        wrapping (another rotation run may have got there first); True when stored."""
        with self._write_quiet() as conn:
            result = conn.execute(update(data_keys).where(
                data_keys.c.domain_id == old.domain_id, data_keys.c.sha256 == old.sha256,
                data_keys.c.wrapped == old.wrapped,
            ).values(key_id=key_id, key_version=key_version, wrapped=wrapped))
        return bool(result.rowcount)

    def data_keys_below(self, key_id: str, version: int, limit: int) -> list[StoredDataKey]:
        """Up to ``limit`` rows wrapped by ``key_id`` at a version older than ``version``."""
        with self._read() as conn:
            rows = conn.execute(select(data_keys).where(
                data_keys.c.key_id == key_id, data_keys.c.key_version < version,
            ).order_by(data_keys.c.domain_id, data_keys.c.sha256).limit(limit)).all()
        return [_record(r) for r in rows]

    def data_key_versions(self, key_id: str) -> dict[int | None, int]:
        """How many rows each version of ``key_id`` wraps."""
        with self._read() as conn:
            rows = conn.execute(select(data_keys.c.key_version, func.count())
                                .where(data_keys.c.key_id == key_id)
                                .group_by(data_keys.c.key_version)).all()
        return {version: int(count) for version, count in rows}

    def data_key_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(data_keys)).scalar_one())

    def blob_rows(self, domain_id: int | None = None, *, after: tuple[int, str] = (0, ""),
                  limit: int = 500, plain_only: bool = False) -> list[BlobRow]:
        """The domain's blobs (every domain's when None) in (domain, sha256) order after
        ``after``, a page at a time; ``plain_only``: those without a data key."""
        key = select(data_keys.c.sha256).where(data_keys.c.domain_id == blobs.c.domain_id,
                                               data_keys.c.sha256 == blobs.c.sha256).exists()
        query = select(blobs.c.domain_id, blobs.c.sha256, blobs.c.size, key.label("encrypted"))
        if domain_id is not None:
            query = query.where(blobs.c.domain_id == domain_id)
        if plain_only:
            query = query.where(~key)
        domain_after, sha_after = after
        query = query.where((blobs.c.domain_id > domain_after) | (
            (blobs.c.domain_id == domain_after) & (blobs.c.sha256 > sha_after)))
        with self._read() as conn:
            rows = conn.execute(query.order_by(blobs.c.domain_id, blobs.c.sha256)
                                .limit(limit)).all()
        return [BlobRow(r.domain_id, r.sha256, int(r.size), bool(r.encrypted)) for r in rows]

    def blob_users(self, domain_id: int, sha256: str, limit: int = 5) -> list[BlobUser]:
        """The package versions whose assets are (or come with: a wheel's METADATA) this blob
        of the domain, at most ``limit``: what ``packyard verify`` names for a bad blob."""
        joined = (assets.join(package_versions,
                              package_versions.c.id == assets.c.package_version_id)
                  .join(packages, packages.c.id == package_versions.c.package_id)
                  .join(repositories, repositories.c.id == packages.c.repository_id))
        columns = (repositories.c.name.label("repository"), packages.c.format,
                   packages.c.namespace, packages.c.name.label("package"),
                   package_versions.c.version, assets.c.name.label("asset"))
        own = select(*columns).select_from(joined).where(
            repositories.c.domain_id == domain_id, assets.c.sha256 == sha256)
        companion = select(*columns).select_from(
            joined.join(asset_blobs, asset_blobs.c.asset_id == assets.c.id)).where(
            repositories.c.domain_id == domain_id, asset_blobs.c.sha256 == sha256)
        with self._read() as conn:
            rows = conn.execute(own.union_all(companion).limit(limit)).all()
        return [BlobUser(r.repository, r.format, r.namespace or None, r.package, r.version,
                         r.asset) for r in rows]

    def set_domain_encryption_key(self, domain_id: int, encryption_key: str) -> None:
        """Move a domain to another KEK (a domain of an earlier release, whose made-up key
        ARN names no key of the provider, gets the default key)."""
        # A domain row: what read grants and the gate's lookups hold is kept under the
        # access stamp.
        with self._write(changes_access=True) as conn:
            conn.execute(update(domains).where(domains.c.id == domain_id)
                         .values(encryption_key=encryption_key))
