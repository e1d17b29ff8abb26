"""``packyard verify``: read every blob back, authenticate every segment of the encrypted ones,
and check that each plaintext's sha256 is its name.

A finding per blob that is not right: ``tampered`` (a segment, the header or the size does not
authenticate, or the key does not unwrap), ``missing`` (the catalog counts it, the store has no
copy), ``corrupt`` (its bytes do not hash to its name), ``plain`` (not encrypted yet: run
``packyard encrypt``), ``key-unavailable`` (the key provider will not unwrap its data key: the
key deleted, disabled or refused there, or the provider not answering; the detail says which).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from packyard.crypto.errors import KeyUnavailable, TamperedBlob, TamperedKey
from packyard.errors import NotFound
from packyard.metadata.catalog import Catalog
from packyard.storage.blobs import BlobStore

_PAGE = 500


@dataclass(frozen=True)
class Finding:
    domain_key: str
    sha256: str
    status: str
    detail: str = ""


@dataclass
class VerifyReport:
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.status != "plain" for f in self.findings)


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
            finding = Finding(domain_key, row.sha256, status, detail)
            report.counts[status] += 1
            if status != "ok":
                report.findings.append(finding)
            if progress is not None:
                progress(finding)
        after = (page[-1].domain_id, page[-1].sha256)
    return report
