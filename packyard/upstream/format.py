"""``FormatUpstream``: what the neutral upstream machinery asks of a format.

The machinery (``resolver``, ``documents``, ``pullthrough``, ``merge``) plans the search over a
domain's repositories and external connections, caches upstream documents, pulls files through
once, verifies and keeps them. What an upstream's document looks like, what a file's name says,
and what the catalog records for a kept file are the format's: PyPI's answers are in
``formats/pypi/upstream.py`` (PEP 691/503 pages, PEP 658 metadata files).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from packyard.metadata.new_files import NewAsset, NewVersion
from packyard.storage.blobs import Digests
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.merge import OfferedFile, OfferedVersion


def url_parses(url: str) -> bool:
    """Whether ``urlsplit`` takes ``url``: it refuses only an IPv6 literal's brackets that do
    not close or hold no address, and a non-ASCII host that normalizes to a delimiter."""
    if url.isascii() and "[" not in url and "]" not in url:
        return True
    try:
        urlsplit(url)
    except ValueError:
        return False
    return True


def file_hosts(urls: Iterable[str]) -> frozenset[str]:
    """The hosts of ``urls``; a URL that does not parse names none (fetching it fails on its
    own, and must not make the other files of its listing fail too)."""
    hosts = set()
    for url in urls:
        try:
            host = urlsplit(url).hostname
        except ValueError:  # e.g. "https://[bad/…": an unclosed IPv6 literal
            continue
        if host:
            hosts.add(host)
    return frozenset(hosts)


_SERIALS = itertools.count(1)


@dataclass(frozen=True)
class UpstreamListing:
    """A package as an upstream's document lists it, parsed by the format."""

    name: str  # as requested (normalized by the format's rules)
    versions: tuple[OfferedVersion, ...]
    files: tuple[OfferedFile, ...]  # each with its ``url``
    rejected: tuple[str, ...] = field(default=(), compare=False)  # why each left-out file was
    # Named pointers to versions (npm's dist-tags), tag -> version.
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The format's own data about the whole package (npm: the packument's readme and times).
    payload: Any = field(default=None, compare=False)
    # What it stands for in memory: its encoded document's length (set by the document
    # cache, which bounds the memory of what it and the merges made from it hold by this).
    weight: int = field(default=0, compare=False)
    # Which parse of a document it is, never reused (unlike an object's id once it is gone):
    # what is rendered from a listing is remembered by this, without holding the listing.
    serial: int = field(default_factory=lambda: next(_SERIALS), compare=False)

    def file_hosts(self) -> frozenset[str]:
        """Hosts the upstream's own file URLs use (redirects may go only there)."""
        return self._file_hosts

    @cached_property
    def _file_hosts(self) -> frozenset[str]:
        # Once per listing, not once per pull: every file pulled asks, on the event loop, and
        # a large project lists thousands of URLs (grpcio's 11,000: tens of milliseconds).
        return file_hosts(f.url for f in self.files if f.url)

    def find(self, filename: str) -> OfferedFile | None:
        return next((f for f in self.files if f.filename == filename), None)

    def version(self, version_key: str) -> OfferedVersion | None:
        return next((v for v in self.versions if v.version_key == version_key), None)


@dataclass(frozen=True)
class KeptFile:
    """What the catalog records for a file pulled from an upstream and verified."""

    display_name: str
    version: NewVersion
    asset: NewAsset
    # Blobs stored besides the file itself (PyPI: the wheel's core metadata), sha256 -> size.
    extra_blobs: Mapping[str, int] = field(default_factory=dict)


PutBlob = Callable[[bytes], Digests]
"""Stores small bytes in the requesting domain's blob partition (``BlobStore.put_bytes``)."""


class FormatUpstream(Protocol):
    """A format's side of reading from upstreams."""

    @property
    def format(self) -> str:
        """The CodeArtifact format name the packages are recorded under."""
        ...

    @property
    def noun(self) -> str:
        """What the format calls a package in messages ("project" for PyPI)."""
        ...

    @property
    def document_noun(self) -> str:
        """What the format calls an upstream's document in messages ("index page" for PyPI,
        "packument" for npm)."""
        ...

    @property
    def accept(self) -> str:
        """The Accept header sent for an upstream document."""
        ...

    @property
    def has_tags(self) -> bool:
        """Whether a repository's listing carries its package tags (npm's dist-tags)."""
        ...

    @property
    def pull_digests(self) -> frozenset[str]:
        """Which of ``LATER_DIGESTS`` (``storage/blobs.py``) a kept file's records need at
        once (npm: SHA-512 and SHA-1, its packuments' ``integrity`` and ``shasum``; PyPI:
        none). A pull computes these and those its upstream declared; the rest are filled in
        after the file is kept (``upstream/later_digests.py``), a format's attributes too when
        they hold the digest's name with null (PyPI's BLAKE2b)."""
        ...

    def check_name(self, name: str) -> None:
        """Refuse (``Invalid``) a name the format cannot have, before anything is looked up."""
        ...

    def document_name(self, namespace: str, name: str) -> str:
        """The name an upstream knows the package by, and its document is cached under
        (PyPI: the name; npm: ``@scope/name``)."""
        ...

    def file_name(self, name: str, version: str, asset_name: str) -> str:
        """The name a repository's stored file is requested by and listed under (PyPI: the
        asset's name; npm: ``name-1.0.0.tgz`` for every version's ``package.tgz``)."""
        ...

    def asset_named(self, name: str, filename: str) -> tuple[str, str | None]:
        """The stored asset a requested file name is, and the version key when the asset's
        name alone does not tell the versions apart (npm's); None otherwise."""
        ...

    def version_sort_key(self, version: str) -> Any: ...

    def document_url(self, index_url: str, name: str) -> str:
        """Where the upstream at ``index_url`` has its document about ``name``."""
        ...

    def parse_listing(self, body: bytes, content_type: str, url: str,
                      name: str) -> UpstreamListing:
        """An upstream document (``UpstreamError`` when it is not one the format reads)."""
        ...

    def encode(self, listing: UpstreamListing) -> str:
        """A parsed document as kept in the catalog, to survive restarts."""
        ...

    def decode(self, name: str, text: str) -> UpstreamListing: ...

    def derived_file(self, filename: str) -> str | None:
        """The file ``filename`` is derived from, when it names one served next to another
        (PyPI: ``X.metadata`` is the core metadata of ``X``); None for an ordinary file."""
        ...

    def derived_blob(self, attributes: Mapping[str, Any], filename: str
                     ) -> tuple[str, int | None]:
        """The sha256 and size (None: not recorded) of the stored blob a derived file is,
        from its base file's attributes; ``NotFound`` when the base has none."""
        ...

    async def fetch_derived(self, http: UpstreamHttp, file: OfferedFile,
                            hosts: Collection[str], filename: str, upstream: str) -> bytes:
        """A derived file of an upstream's file, fetched and verified (it is not kept);
        ``upstream`` is the index URL of the upstream that offered ``file``."""
        ...

    async def fetch_companion(self, http: UpstreamHttp, file: OfferedFile,
                              hosts: Collection[str], upstream: str) -> bytes | None:
        """What the upstream serves beside ``file`` that ``keep`` would otherwise read out of
        the file itself (PyPI: a wheel's PEP 658 core metadata), fetched while the file
        downloads and verified against what the upstream's document declares for it; None
        when it offers none, or it cannot be had or fails verification (``keep`` then reads
        the file). Never raises."""
        ...

    def keep(self, spool: Path, digests: Digests, name: str, file: OfferedFile,
             version: OfferedVersion | None, put_blob: PutBlob,
             companion: bytes | None = None) -> KeptFile:
        """What to record for a pulled file of the package ``name`` (as the document was asked
        for), read from its verified spool file in place, or
        from ``companion`` (``fetch_companion``'s) when it has what is needed (runs in a worker
        thread; the file itself is stored by the caller)."""
        ...
