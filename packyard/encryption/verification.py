"""``packyard verify``: read every blob back, authenticate every segment of the encrypted ones,
and check that each plaintext's sha256 is its name.

A finding per blob that is not right: ``tampered`` (a segment, the header or the size does not
authenticate, or the key does not unwrap), ``missing`` (the catalog counts it, the store has no
copy), ``corrupt`` (its bytes do not hash to its name), ``plain`` (not encrypted yet: run
``packyard encrypt``), ``key-unavailable`` (the key provider will not unwrap its data key: the
key deleted, disabled or refused there, or the provider not answering; the detail says which).
With encryption off (``verify_blobs(encryption=False)``, the plain store) a blob read back whole
is ``ok``: plain is the normal state there, and only ``missing`` and ``corrupt`` are found.
Each bad blob names the package versions it is an asset of, and where it is stored, so it can
be mended: ``REPAIR`` says how. Stored blobs no row names (``stray_blobs``, on every store: the
store's listing walked beside the catalog's rows, both in order) are listed too, and so are
plain copies of encrypted blobs that a ``packyard encrypt`` stopped before removing them: they
take space only, and are not failures. ``delete_strays`` deletes them (``packyard verify
--delete-strays``): through the blob sweep, whose write transaction re-checks each one, so it is
safe beside a running server.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field

import anyio

from packyard.crypto.errors import KeyUnavailable, TamperedBlob, TamperedKey
from packyard.encryption.blob_store import SEALED_SUFFIX, sealed_partition
from packyard.errors import NotFound
from packyard.metadata.catalog import BlobRow, BlobUser, Catalog
from packyard.model import Domain
from packyard.storage.blobs import BlobStore, StoredBlob, blob_name

_PAGE = 500
# How a bad blob is mended; both ways were tried on a registry a backup had been taken of.
REPAIR = ("To repair a blob: put its file back from a backup (the same path under the "
          "backup's blobs/; `sha256sum -c SHA256SUMS` in the backup checks it first) and run "
          "verify again; or delete the versions using it (aws codeartifact "
          "delete-package-versions) and publish them again: a version kept from an upstream "
          "is fetched again at its next install.")

# How a blob whose key will not open is mended: at the key, not the file. The file is whole.
KEY_REPAIR = ("A blob whose key the provider will not open is not damaged: mend the key as its "
              "line says (enable it, cancel its deletion, allow it to the server's "
              "credentials, restore it at the provider, or bring the provider back) and run "
              "verify again; do not delete its versions nor replace its file.")
# The findings that are the file's own (what REPAIR mends).
DAMAGED = frozenset({"tampered", "missing", "corrupt"})


@dataclass(frozen=True)
class Finding:
    domain_key: str
    sha256: str
    status: str
    detail: str = ""
    # Where it is stored under the blob store (``d1.enc/ab/ab…``), and what uses it.
    stored_as: str = ""
    used_by: tuple[BlobUser, ...] = ()


# A blob file is written before the row naming it commits (an upload in flight), and a file
# whose row went is deleted just after: younger than this, a file without a row is no stray.
STRAY_AGE_SECONDS = 3600
STRAY_REMOVAL = ("Stray files are what a write stopped before its row was committed left, "
                 "plain copies a packyard encrypt stopped before removing (their encrypted "
                 "file is served), or files put there by hand: they take space only, nothing "
                 "serves them; they may be deleted: packyard verify --delete-strays deletes "
                 "them, safely beside a running server.")
_DOMAIN_KEY = re.compile(r"d[0-9]+")


@dataclass
class VerifyReport:
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.status != "plain" for f in self.findings)

    @property
    def unsound(self) -> set[tuple[str, str]]:
        """The (domain key, sha256) of the blobs that did not read back whole: the plain file
        of one beside its ciphertext is no stray (it may be the only good copy)."""
        return {(f.domain_key, f.sha256) for f in self.findings if f.status != "plain"}

    @property
    def repairs(self) -> dict[str, str]:
        """How to mend what was found (JSON names: ``repair`` for damaged files, ``keyRepair``
        for files whose key will not open)."""
        statuses = {f.status for f in self.findings}
        return {**({"repair": REPAIR} if statuses & DAMAGED else {}),
                **({"keyRepair": KEY_REPAIR} if "key-unavailable" in statuses else {})}


def _check(store: BlobStore, domain_key: str, sha256: str) -> tuple[str, str]:
    async def digest() -> str:
        hasher = hashlib.sha256()
        async for chunk in store.read(domain_key, sha256):
            hasher.update(chunk)
        return hasher.hexdigest()

    try:
        found = anyio.run(digest)
    except (TamperedBlob, TamperedKey) as e:
        return "tampered", e.message
    except KeyUnavailable as e:
        return "key-unavailable", e.message
    except NotFound:
        return "missing", ""
    if found != sha256:
        return "corrupt", f"its bytes hash to {found}"
    return "ok", ""


def verify_blobs(catalog: Catalog, store: BlobStore, *, domain_id: int | None = None,
                 encryption: bool = True,
                 progress: Callable[[Finding], None] | None = None) -> VerifyReport:
    """Check every blob of one domain (or all of them) read through ``store``: the encrypting
    store, or without ``encryption`` the plain one, where a plain blob is no finding."""
    report = VerifyReport()
    after = (0, "")
    while page := catalog.blob_rows(domain_id, after=after, limit=_PAGE):
        for row in page:
            domain_key = f"d{row.domain_id}"
            status, detail = _check(store, domain_key, row.sha256)
            if status == "ok" and not row.encrypted and encryption:
                status = "plain"
            stored_as = blob_name(sealed_partition(domain_key) if row.encrypted else domain_key,
                                  row.sha256)
            used_by = (() if status in ("ok", "plain")
                       else tuple(catalog.blob_users(row.domain_id, row.sha256)))
            finding = Finding(domain_key, row.sha256, status, detail, stored_as, used_by)
            report.counts[status] += 1
            if status != "ok":
                report.findings.append(finding)
            if progress is not None:
                progress(finding)
        after = (page[-1].domain_id, page[-1].sha256)
    return report


@dataclass(frozen=True)
class Stray:
    """A stored blob nothing serves: no row of the catalog names it, or (``plain_copy``) it is
    the plain file of a blob served encrypted."""

    blob: StoredBlob
    plain_copy: bool = False

    @property
    def domain_id(self) -> int:
        return Domain.id_of_blob_key(self.blob.domain_key.removesuffix(SEALED_SUFFIX))

    @property
    def stored_as(self) -> str:
        return self.blob.stored_as


def stray_blobs(catalog: Catalog, store: BlobStore, *, domain_id: int | None = None,
                unsound: Collection[tuple[str, str]] = (), now: float | None = None,
                page_size: int = _PAGE,
                progress: Callable[[StoredBlob], None] | None = None) -> Iterator[Stray]:
    """The blobs of ``store`` (the one holding the files: under encryption, its inner store,
    ``d1.enc/ab/ab…``) stored more than ``STRAY_AGE_SECONDS`` ago that no row of the catalog
    names, or that are plain copies of encrypted blobs beside their ciphertext (left by a
    ``packyard encrypt`` stopped before it removed them: a plaintext at rest that nothing
    serves), of one domain or all of them; in (domain key, sha256) order.

    Each partition's listing is walked beside the catalog's rows of its domain, both in sha256
    order, a page of each at a time: memory holds a page, not the registry's names.
    ``unsound``: the (domain key, sha256) of blobs that did not read back whole; the plain file
    of one is no stray (it may be the only good copy). ``progress``: after each blob listed."""
    now = time.time() if now is None else now
    for key in store.domain_keys():
        plain_key = key.removesuffix(SEALED_SUFFIX)
        if not _DOMAIN_KEY.fullmatch(plain_key):
            continue  # not a domain's partition: put there by hand
        key_domain = Domain.id_of_blob_key(plain_key)
        if domain_id is not None and key_domain != domain_id:
            continue
        sealed = key != plain_key
        rows = _catalog_rows(catalog, key_domain, page_size)
        row = next(rows, None)
        for blob in store.list_blobs(key, page_size=page_size):
            if progress is not None:
                progress(blob)
            while row is not None and row.sha256 < blob.sha256:
                row = next(rows, None)
            named = row is not None and row.sha256 == blob.sha256
            plain_copy = (named and not sealed and row is not None and row.encrypted
                          and (plain_key, blob.sha256) not in unsound
                          and store.exists(sealed_partition(plain_key), blob.sha256))
            if named and not plain_copy:
                continue
            if now - blob.modified < STRAY_AGE_SECONDS:
                continue  # its row may be being committed
            yield Stray(blob, plain_copy)


def _catalog_rows(catalog: Catalog, domain_id: int, page_size: int) -> Iterator[BlobRow]:
    """The domain's blob rows in sha256 order, read a page at a time."""
    after = (domain_id, "")
    while page := catalog.blob_rows(domain_id, after=after, limit=page_size):
        yield from page
        after = (domain_id, page[-1].sha256)


StraySweep = Callable[[int, Collection[str]], list[str]]
"""Queues blobs of a domain no row names for the blob sweep and sweeps them (the sweep's own
guard: ``BlobSweeper.sweep_strays``); returns those it deleted."""


def delete_strays(strays: Iterable[Stray], store: BlobStore, catalog: Catalog,
                  sweep: StraySweep, batch: int = _PAGE) -> list[Stray]:
    """Delete ``strays``, each checked once more right before: a blob no row named goes
    through the blob sweep (``sweep``), which deletes it in a write transaction only while
    still no row names it, so an upload recording those bytes meanwhile either keeps them or
    is refused and sent again, as beside any sweep; a plain copy is deleted only while its
    blob's data key is recorded and its ciphertext is there (reads then never open it).
    ``store`` holds the files, as for ``stray_blobs`` (only plain copies are deleted from it
    here). Returns those deleted."""
    deleted: list[Stray] = []
    pending: dict[int, dict[str, list[Stray]]] = {}

    def flush(domain_id: int) -> None:
        waiting = pending.pop(domain_id, {})
        if waiting:
            for sha256 in sweep(domain_id, sorted(waiting)):
                deleted.extend(waiting[sha256])

    for stray in strays:
        sha256, key = stray.blob.sha256, stray.blob.domain_key
        if stray.plain_copy:
            if catalog.data_key(stray.domain_id, sha256) is not None \
                    and store.exists(sealed_partition(key), sha256):
                store.delete(key, sha256)
                deleted.append(stray)
            continue
        waiting = pending.setdefault(stray.domain_id, {})
        waiting.setdefault(sha256, []).append(stray)
        if len(waiting) >= batch:
            flush(stray.domain_id)
    for domain_id in sorted(pending):
        flush(domain_id)
    return sorted(deleted, key=lambda stray: (stray.blob.domain_key, stray.blob.sha256))
