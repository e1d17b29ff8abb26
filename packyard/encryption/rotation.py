"""``packyard keys rotate``: a new version of a domain's key-encryption key for new writes, then
every data key wrapped by an older version re-wrapped by the new one (no blob is rewritten: the
data keys themselves do not change), and the old versions retired once nothing refers to them.

Resumable: the work left is exactly the rows wrapped by a version older than the key's current
one (``Catalog.data_keys_below``), re-wrapped one row per transaction and only if the row still
holds what was read (``replace_wrapped_key``), so a run killed at any point, or two runs at once,
lose nothing; ``--resume`` finishes without making another version. Where the provider keeps
versions to itself (AWS KMS), rotation is the provider's and nothing needs re-wrapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from packyard.crypto.context import EncryptionContext
from packyard.crypto.keys import KeyDescription, KeyProvider, WrappedKey
from packyard.metadata.catalog import Catalog

_PAGE = 100


@runtime_checkable
class RetiringProvider(Protocol):
    def retire_versions_below(self, key_ref: str, version: int) -> KeyDescription: ...


@dataclass
class RotationReport:
    key_id: str
    version: int | None
    rewrapped: int
    retired: tuple[int, ...]


def pending(catalog: Catalog, key: KeyDescription) -> int:
    """Data keys still wrapped by an older version of ``key``."""
    if key.current_version is None:
        return 0
    return sum(count for version, count in catalog.data_key_versions(key.key_id).items()
               if version is not None and version < key.current_version)


def rewrap_all(catalog: Catalog, provider: KeyProvider, key: KeyDescription,
               progress: Callable[[int], None] | None = None,
               before_retire: Callable[[KeyDescription], object] | None = None,
               settle_seconds: float = 0.0) -> RotationReport:
    """Re-wrap every data key below ``key``'s current version, then retire those versions;
    ``before_retire(key)`` re-wraps what the catalog does not hold (IAM's secret key).

    ``settle_seconds``: how long to wait before looking for such keys once more, ahead of
    retiring. A server's write wraps its blob's data key just before the transaction that
    records it (``EncryptingBlobStore``), so a key wrapped under the old version just before
    the rotation may be recorded just after the first pass: the second pass finds it."""
    done = 0
    current = key.current_version
    if current is not None:
        for again in (False, True):
            if again:
                if settle_seconds <= 0:
                    break
                time.sleep(settle_seconds)
            while page := catalog.data_keys_below(key.key_id, current, _PAGE):
                for row in page:
                    context = EncryptionContext(f"d{row.domain_id}", row.sha256)
                    new = provider.rewrap(WrappedKey(row.key_id, row.key_version,
                                                     row.wrapped), context)
                    if catalog.replace_wrapped_key(row, new.key_id, new.key_version,
                                                   new.ciphertext):
                        done += 1
                    if progress is not None:
                        progress(1)
    if before_retire is not None:
        before_retire(key)
    retired: tuple[int, ...] = ()
    if current is not None and isinstance(provider, RetiringProvider) and pending(
            catalog, key) == 0:
        older = tuple(v for v in key.versions if v < current)
        if older:
            provider.retire_versions_below(key.key_id, current)
            retired = older
    return RotationReport(key.key_id, current, done, retired)


def rotate(catalog: Catalog, provider: KeyProvider, key_ref: str, *, resume: bool = False,
           progress: Callable[[int], None] | None = None,
           started: Callable[[KeyDescription, int], None] | None = None,
           before_retire: Callable[[KeyDescription], object] | None = None,
           settle_seconds: float = 0.0) -> RotationReport:
    """Rotate ``key_ref`` (unless ``resume``) and re-wrap; ``started(key, pending)`` first."""
    key = provider.describe_key(key_ref) if resume else provider.rotate(key_ref)
    if started is not None:
        started(key, pending(catalog, key))
    return rewrap_all(catalog, provider, key, progress, before_retire, settle_seconds)
