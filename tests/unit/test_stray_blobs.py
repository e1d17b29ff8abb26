"""``stray_blobs``: the store's listing walked beside the catalog's rows, both in sha256 order and
a page of each at a time, so memory holds a page, not every name of the registry."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from packyard.encryption.verification import STRAY_AGE_SECONDS, stray_blobs
from packyard.metadata.catalog import BlobRow, Catalog
from packyard.storage.blobs import StoredBlob
from packyard.storage.memory import MemoryBlobStore


class _Rows:
    """The part of the catalog ``stray_blobs`` reads: ``blob_rows``, with every page it was
    asked for counted."""

    def __init__(self, rows: list[BlobRow]) -> None:
        self._rows = sorted(rows, key=lambda row: (row.domain_id, row.sha256))
        self.limits: list[int] = []

    def blob_rows(self, domain_id: int | None = None, *, after: tuple[int, str] = (0, ""),
                  limit: int = 500, plain_only: bool = False) -> list[BlobRow]:
        self.limits.append(limit)
        return [row for row in self._rows
                if (domain_id is None or row.domain_id == domain_id)
                and (row.domain_id, row.sha256) > after][:limit]


class _PagedStore(MemoryBlobStore):
    """A memory store whose listings say the page size they were asked for."""

    page_sizes: list[int]

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = 1000) -> Iterator[StoredBlob]:
        self.page_sizes.append(page_size)
        return super().list_blobs(domain_key, page_size=page_size)


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_strays_are_found_across_many_pages_of_both_listings(tmp_path: Path) -> None:
    store = _PagedStore(tmp_path / "staging")
    store.page_sizes = []
    rows = []
    strays = set()
    for n in range(60):  # recorded and stray blobs interleaved in sha256 order
        key = f"d{1 + n % 3}"
        sha = store.put_bytes(str(n).encode(), key + (".enc" if n % 2 else "")).sha256
        assert sha == _sha(n)
        if n % 7 == 0:
            strays.add(f"{key}{'.enc' if n % 2 else ''}/{sha[:2]}/{sha}")
        else:
            rows.append(BlobRow(1 + n % 3, sha, 1, bool(n % 2)))
    catalog = _Rows(rows)
    later = time.time() + STRAY_AGE_SECONDS + 1
    found = [stray.stored_as for stray in stray_blobs(cast(Catalog, catalog), store,
                                                      now=later, page_size=3)]
    assert sorted(found) == sorted(strays)
    assert found == sorted(found, key=lambda name: (name.split("/")[0], name))
    # Never more than a page asked of either.
    assert set(catalog.limits) == {3} and set(store.page_sizes) == {3}
    assert len(catalog.limits) > 60 // 3
    # Only one domain's, and none stored less than an hour ago.
    assert {stray.blob.domain_key for stray in stray_blobs(
        cast(Catalog, catalog), store, domain_id=2, now=later, page_size=3)} <= {"d2", "d2.enc"}
    assert list(stray_blobs(cast(Catalog, catalog), store, page_size=3)) == []


@pytest.mark.parametrize(("unsound", "sealed", "stray"), [
    (False, True, True),   # the plain copy an interrupted encrypt left: a stray
    (True, True, False),   # its ciphertext did not read back: maybe the only good copy
    (False, False, False),  # no ciphertext: the plain file is what is served
])
def test_a_plain_copy_is_a_stray_only_beside_a_sound_ciphertext(
        tmp_path: Path, unsound: bool, sealed: bool, stray: bool) -> None:
    store = MemoryBlobStore(tmp_path / "staging")
    sha = store.put_bytes(b"plain", "d1").sha256
    if sealed:
        store.put_bytes(b"plain", "d1.enc")  # standing in for its ciphertext
    catalog = _Rows([BlobRow(1, sha, 5, True)])
    found = list(stray_blobs(cast(Catalog, catalog), store,
                             unsound={("d1", sha)} if unsound else (),
                             now=time.time() + STRAY_AGE_SECONDS + 1))
    assert [(s.stored_as, s.plain_copy) for s in found] == (
        [(f"d1/{sha[:2]}/{sha}", True)] if stray else [])


def test_progress_is_told_of_every_blob_listed(tmp_path: Path) -> None:
    store = MemoryBlobStore(tmp_path / "staging")
    for n in range(5):
        store.put_bytes(str(n).encode(), "d1")
    seen: list[str] = []
    list(stray_blobs(cast(Catalog, _Rows([])), store, page_size=2,
                     progress=lambda blob: seen.append(blob.sha256)))
    assert seen == sorted(_sha(n) for n in range(5))
