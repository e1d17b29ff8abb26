"""``UpstreamCore``: the upstream machinery every format shares, built once per server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packyard.clock import Clock
from packyard.metadata.catalog import Catalog
from packyard.storage.blobs import BlobStore
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.pullthrough import PullThrough


@dataclass(frozen=True)
class UpstreamCore:
    """HTTP to upstreams, one download per file, and where each external connection is."""

    catalog: Catalog
    blobs: BlobStore
    http: UpstreamHttp
    pull: PullThrough
    clock: Clock
    # External connection name -> the index URL it reaches (from the formats' declarations).
    connection_urls: Mapping[str, str]
    # How long a fetched upstream document is used before it is revalidated.
    page_ttl_seconds: float
    # Files up to this size are verified before their first byte is sent.
    verify_before_send_bytes: int
