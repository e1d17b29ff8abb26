"""The registry's records as plain Python: what services pass around, independent of SQL and HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Domain:
    id: int
    name: str
    owner: str
    encryption_key: str
    status: str
    created_at: datetime
    repository_count: int = 0
    asset_size_bytes: int = 0

    @property
    def blob_key(self) -> str:
        """The blob store partition that holds this domain's assets."""
        return domain_blob_key(self.id)

    @staticmethod
    def id_of_blob_key(blob_key: str) -> int:
        """The id of the domain whose blob partition this is (``blob_key``'s inverse)."""
        if not (blob_key.startswith("d") and blob_key[1:].isdigit()):
            raise ValueError(f"not a domain's blob key: {blob_key!r}")
        return int(blob_key[1:])


def domain_blob_key(domain_id: int) -> str:
    """The blob store partition of the domain with this id."""
    return f"d{domain_id}"


@dataclass(frozen=True)
class Repository:
    id: int
    domain_id: int
    domain_name: str
    domain_owner: str
    name: str
    description: str
    administrator_account: str
    created_at: datetime


@dataclass(frozen=True)
class Package:
    id: int
    repository_id: int
    format: str
    namespace: str
    name: str
    display_name: str
    origin_publish: str
    origin_upstream: str
    # When its versions or files last changed (``metadata/serials.py``; PyPI's last_serial).
    last_serial: int = 0


@dataclass(frozen=True)
class PackageVersion:
    id: int
    package_id: int
    version: str
    version_key: str
    status: str
    revision: str
    published_at: datetime
    summary: str | None = None
    home_page: str | None = None
    source_code_repository: str | None = None
    licenses: list[dict[str, str]] = field(default_factory=list)
    readme: str | None = None
    readme_content_type: str | None = None
    dependencies: list[dict[str, str]] = field(default_factory=list)
    origin_type: str = "INTERNAL"
    origin_repository_id: int | None = None
    # The format's own data about the version (npm: the manifest); read by the format only.
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Asset:
    id: int
    package_version_id: int
    name: str
    size: int
    sha256: str
    # None for a pulled file's digest not computed yet: a pull computes what it verifies and
    # what its format needs at once, the rest is filled in after (``upstream/later_digests``).
    sha512: str | None
    sha1: str | None
    md5: str | None
    created_at: datetime
    # The format's own data about the file (PyPI: ``formats/pypi/attributes.py``).
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def digests_complete(self) -> bool:
        return None not in (self.md5, self.sha1, self.sha512)

    def hashes(self) -> dict[str, str]:
        """The hash map CodeArtifact's AssetSummary carries (the digests known)."""
        return {label: value for label, value in (
            ("MD5", self.md5), ("SHA-1", self.sha1), ("SHA-256", self.sha256),
            ("SHA-512", self.sha512)) if value is not None}

    def hashes_by_algorithm(self) -> dict[str, str]:
        """The same digests by ``hashlib`` name, as upstream listings declare them."""
        return {name: value for name, value in (
            ("md5", self.md5), ("sha1", self.sha1), ("sha256", self.sha256),
            ("sha512", self.sha512)) if value is not None}


@dataclass(frozen=True)
class IndexEntry:
    """One file row of a project page: the asset with its version's status, in one query."""

    version: str
    status: str
    asset: Asset
    published_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    id: str
    principal_arn: str
    access_key_id: str | None
    domain_id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
