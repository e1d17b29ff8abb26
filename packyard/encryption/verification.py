"""``packyard verify``: read every blob back, authenticate every segment of the encrypted ones,
and check that each plaintext's sha256 is its name.

A finding per blob that is not right: ``tampered`` (a segment, the header or the size does not
authenticate, or the key does not unwrap), ``missing`` (the catalog counts it, the store has no
copy), ``corrupt`` (its bytes do not hash to its name), ``plain`` (not encrypted yet: run
``packyard encrypt``), ``key-unavailable`` (the key provider will not unwrap its data key: the
key deleted, disabled or refused there, or the provider not answering; the detail says which).
Each bad blob names the package versions it is an asset of, and where it is stored, so it can
be mended: ``REPAIR`` says how. On a directory store, files no row names (``stray_files``) are
listed too, and so are plain copies of encrypted blobs that a ``packyard encrypt`` stopped
before removing them: they take space only, and are not failures.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from packyard.crypto.errors import KeyUnavailable, TamperedBlob, TamperedKey
from packyard.encryption.blob_store import SEALED_SUFFIX
from packyard.errors import NotFound
from packyard.metadata.catalog import BlobUser, Catalog
from packyard.storage.blobs import BlobStore

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
                 "serves them; they may be deleted.")
_BLOB_FILE = re.compile(r"d[0-9]+(\.enc)?/[0-9a-f]{2}/[0-9a-f]{64}")


@dataclass
class VerifyReport:
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    # Every blob the catalog lists, by (domain key, sha256): what stray_files compares with.
    listed: set[tuple[str, str]] = field(default_factory=set)
    # Those of them encrypted and read back whole: a plain file of one beside its ciphertext
    # is a stray (not of one whose ciphertext is bad: it may be the only good copy).
    sealed: set[tuple[str, str]] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not any(f.status != "plain" for f in self.findings)

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
                 progress: Callable[[Finding], None] | None = None) -> VerifyReport:
    """Check every blob of one domain (or all of them)."""
    report = VerifyReport()
    after = (0, "")
    while page := catalog.blob_rows(domain_id, after=after, limit=_PAGE):
        for row in page:
            domain_key = f"d{row.domain_id}"
            status, detail = _check(store, domain_key, row.sha256)
            if status == "ok" and not row.encrypted:
                status = "plain"
            stored_as = (f"{domain_key}{SEALED_SUFFIX if row.encrypted else ''}/"
                         f"{row.sha256[:2]}/{row.sha256}")
            used_by = (() if status in ("ok", "plain")
                       else tuple(catalog.blob_users(row.domain_id, row.sha256)))
            finding = Finding(domain_key, row.sha256, status, detail, stored_as, used_by)
            report.counts[status] += 1
            report.listed.add((domain_key, row.sha256))
            if row.encrypted and status == "ok":
                report.sealed.add((domain_key, row.sha256))
            if status != "ok":
                report.findings.append(finding)
            if progress is not None:
                progress(finding)
        after = (page[-1].domain_id, page[-1].sha256)
    return report


def stray_files(blob_dir: Path, listed: set[tuple[str, str]], domain_key: str | None = None,
                now: float | None = None,
                sealed: set[tuple[str, str]] | None = None) -> list[str]:
    """Files of a directory blob store (``d1.enc/ab/ab…``, relative to ``blob_dir``) that no
    row of the catalog names, or plain copies of ``sealed`` blobs beside their ciphertext (left
    by a ``packyard encrypt`` stopped before it removed them: a plaintext at rest that nothing
    serves), older than ``STRAY_AGE_SECONDS``; only ``domain_key``'s when given."""
    now = time.time() if now is None else now
    found = []
    for folder, subfolders, names in os.walk(blob_dir):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder, name)
            relative = path.relative_to(blob_dir).as_posix()
            if not _BLOB_FILE.fullmatch(relative):
                continue  # staging, shared files, a partial copy
            key = relative.split("/")[0].removesuffix(SEALED_SUFFIX)
            if domain_key is not None and key != domain_key:
                continue
            if (key, name) in listed and not _plain_copy(blob_dir, relative, sealed or set()):
                continue
            try:
                if now - path.stat().st_mtime < STRAY_AGE_SECONDS:
                    continue
            except FileNotFoundError:
                continue  # deleted meanwhile
            found.append(relative)
    return found


def _plain_copy(blob_dir: Path, relative: str, sealed: set[tuple[str, str]]) -> bool:
    """Whether ``relative`` is the plain file of an encrypted blob whose ciphertext is there
    (with the ciphertext missing, the plain file is what is read: no stray)."""
    key, _, rest = relative.partition("/")
    if key.endswith(SEALED_SUFFIX) or (key, rest.rpartition("/")[2]) not in sealed:
        return False
    return (blob_dir / f"{key}{SEALED_SUFFIX}" / rest).exists()
