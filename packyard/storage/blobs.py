"""The blob store interface: content-addressed bytes, stored once per domain.

Writers stage bytes (hashing as they go), then commit atomically under their sha256; readers
stream ranges. Every backend implements ``BlobStore`` and passes
``tests/conformance/test_blob_store.py``: ``storage/local.py`` (files on disk),
``storage/memory.py`` (a dict, for in-process tests), ``storage/s3.py`` (an S3-compatible
object store), chosen by ``open_blob_store`` (``storage/backends.py``). Whatever the backend, staging is a local file
(``storage/staging.py``), so an upload can be inspected before it is committed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, Protocol

from packyard.errors import NotFound

LATER_DIGESTS = ("md5", "sha1", "sha512", "blake2_256")
"""The digests a write may leave out (``StagedBlob.hash_only``); sha256, which names the blob,
is always computed."""


@dataclass(frozen=True)
class Digests:
    """Every digest a client may ask for, computed in one pass; one of ``LATER_DIGESTS`` is
    None when the write that made it left it out (a pulled file's, filled in after it is kept:
    ``upstream/later_digests.py``)."""

    size: int
    md5: str | None
    sha1: str | None
    sha256: str
    sha512: str | None
    blake2_256: str | None

    @property
    def left_for_later(self) -> bool:
        """Whether the write left some digest out (to be filled in after the file is kept)."""
        return any(getattr(self, name) is None for name in LATER_DIGESTS)


# Buffers at least this large are worked on by two threads (``side_by_side``): below it,
# handing half the work over costs more than it saves.
_SPLIT_AT = 64 * 1024


def _update(hashes: tuple[Any, ...], chunk: bytes | memoryview) -> None:
    for h in hashes:
        h.update(chunk)


@cache
def _helper() -> ThreadPoolExecutor | None:
    """The threads that take one side of ``side_by_side``; None on one core, where there is
    nothing to gain. Shared by every caller: a helper's task never waits for anything."""
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    if cores < 2:
        return None
    return ThreadPoolExecutor(max_workers=min(cores, 4), thread_name_prefix="packyard-hash")


# A forked child has none of its parent's threads: its own helpers, made when first needed.
os.register_at_fork(after_in_child=_helper.cache_clear)


def side_by_side(there: Callable[[], object], here: Callable[[], object], *, size: int) -> None:
    """``there`` on a helper thread while ``here`` runs on this one, returning when both are
    done: for work on a buffer of ``size`` bytes that lets the GIL go (hashlib's digests,
    AES-GCM), so that two cores share one stream's bytes. One after the other on one core, or
    for a buffer too small to be worth the hand-over."""
    if size < _SPLIT_AT:
        there()
        here()
        return
    done = on_helper(there)
    try:
        here()
    finally:
        if done is not None:
            done.result()


def on_helper(work: Callable[[], object]) -> Future[object] | None:
    """``work`` started on a helper thread, for the caller to wait for later (its result, or
    its error, from the future); None where there is no helper (one core), ``work`` then done
    here before returning. For work that lets the GIL go and never waits for anything."""
    helper = _helper()
    if helper is None:
        work()
        return None
    return helper.submit(work)


class Hasher:
    """Feeds each chunk to every hash we publish (CodeArtifact: MD5/SHA-1/SHA-256/SHA-512;
    PyPI: BLAKE2b-256).

    Five digests of every byte cost about 5 ms per MiB on one core, which bounded how fast a
    large file could be uploaded or pulled through (~200 MB/s): a large chunk's digests are
    split between the caller's thread and a helper thread, in two halves of about equal cost.
    Each hash still sees the chunks in order: the call returns when both halves are done."""

    def __init__(self, only: Collection[str] | None = None, *,
                 one_thread: bool = False) -> None:
        """``only``: which of ``LATER_DIGESTS`` to compute besides sha256 (all by default).
        ``one_thread``: every digest on the caller's thread, for background work, which
        leaves the other core to the requests."""
        wanted = set(LATER_DIGESTS if only is None else only)
        if not wanted <= set(LATER_DIGESTS):
            raise ValueError(f"unknown digests {sorted(wanted - set(LATER_DIGESTS))}")
        self._size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if "md5" in wanted else None
        self._sha1 = hashlib.sha1(usedforsecurity=False) if "sha1" in wanted else None
        self._sha256 = hashlib.sha256()
        self._sha512 = hashlib.sha512() if "sha512" in wanted else None
        self._blake2 = hashlib.blake2b(digest_size=32) if "blake2_256" in wanted else None
        # MD5, SHA-1 and SHA-256 here, SHA-512 and BLAKE2b on the helper: about even (MD5 is
        # the slowest; SHA-1 and SHA-256 have instructions of their own on most CPUs).
        here: tuple[Any, ...] = (self._md5, self._sha1, self._sha256)
        there: tuple[Any, ...] = (self._sha512, self._blake2)
        if one_thread:
            here, there = here + there, ()
        self._here = tuple(h for h in here if h is not None)
        self._there = tuple(h for h in there if h is not None)

    def update(self, chunk: bytes | memoryview) -> None:
        self._size += len(chunk)
        if not self._there:
            _update(self._here, chunk)
            return
        side_by_side(partial(_update, self._there, chunk), partial(_update, self._here, chunk),
                     size=len(chunk))

    @property
    def size(self) -> int:
        return self._size

    def digests(self) -> Digests:
        return Digests(
            size=self._size,
            md5=_hex(self._md5),
            sha1=_hex(self._sha1),
            sha256=self._sha256.hexdigest(),
            sha512=_hex(self._sha512),
            blake2_256=_hex(self._blake2),
        )


def _hex(hash_: Any) -> str | None:
    return None if hash_ is None else str(hash_.hexdigest())


@dataclass(frozen=True, slots=True)
class ExpectedBlob:
    """Where a staged write is expected to be committed: the domain, and the sha256 that its
    source declared (an upstream's index page). Only a hint: the commit names the blob by the
    bytes' own sha256, and a pull whose bytes are not the declared ones is never committed."""

    domain_key: str
    sha256: str


class StagedBlob(Protocol):
    """Bytes being written; invisible until the store commits them."""

    @property
    def size(self) -> int: ...

    @property
    def local_path(self) -> Path:
        """The local file holding the staged bytes, in every backend (uploads are inspected as
        files before commit: archive readers seek)."""
        ...

    def write(self, chunk: bytes | memoryview) -> None: ...

    def flush(self) -> None:
        """Make what was written so far readable at ``local_path`` (not durable: that is the
        commit's)."""
        ...

    def name_as(self, sha256: str) -> None:
        """Commit under ``sha256`` rather than the bytes' own hash (which is then not
        computed; the other digests are those of nothing): for a store that keeps another
        form of the bytes under their name (an encrypted blob under its plaintext's hash)."""
        ...

    def hash_only(self, digests: Collection[str]) -> None:
        """Compute only these of ``LATER_DIGESTS`` besides sha256 (the others are None in
        ``digests()``): for a pull, which must verify what its upstream declared and nothing
        more before it is kept. Called before the first write."""
        ...

    def digests(self) -> Digests:
        """Finish writing and return the digests of everything written."""
        ...

    def close(self) -> None:
        """Release the file handle without committing (used by ``discard``)."""
        ...


LIST_PAGE = 1000
"""Blobs fetched at a time by ``list_blobs`` (S3 answers at most 1,000 per request)."""


def blob_name(domain_key: str, sha256: str) -> str:
    """Where a blob is below its store (``d1/ab/ab…``), as every backend lays blobs out."""
    return f"{domain_key}/{sha256[:2]}/{sha256}"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob the store holds, as ``BlobStore.list_blobs`` names it."""

    domain_key: str
    sha256: str
    modified: float
    """When its bytes were stored, in seconds since the epoch (a file's mtime, an object's
    LastModified)."""

    @property
    def stored_as(self) -> str:
        """Where it is below the store (``blob_name``)."""
        return blob_name(self.domain_key, self.sha256)


class BlobStore(Protocol):
    """Content-addressed storage partitioned by domain."""

    def stage(self, *, batched: bool = False, expected: ExpectedBlob | None = None,
              scratch: bool = False) -> StagedBlob:
        """Start a new staged write.

        A ``batched`` write is not flushed to disk on its own: it is meant for ``commit_many``,
        which flushes a whole batch at once. ``expected``: where the bytes are declared to
        belong, for a store that keeps another form of them (encryption), which may then make
        it as they are written; the others ignore it. ``scratch``: the bytes will never be
        committed as they are, only read back (an encrypted store's plaintext), so a store
        that would hand them to its disk as they come (the local one) does not.
        """
        ...

    def commit(self, staged: StagedBlob, domain_key: str) -> Digests:
        """Make the staged bytes durable under (domain, sha256); idempotent for equal bytes."""
        ...

    def commit_many(self, staged: Sequence[StagedBlob], domain_key: str) -> list[Digests]:
        """Commit several staged writes with one flush for all of them (bulk imports).

        The guarantee is ``commit``'s: on return every blob is durable under its sha256, and no
        blob is ever visible under its name before its bytes are durable.
        """
        ...

    def discard(self, staged: StagedBlob) -> None:
        """Throw away a staged write (bad upload, failed check)."""
        ...

    def put_bytes(self, data: bytes, domain_key: str) -> Digests:
        """Stage and commit a small object in one step (metadata files, readmes)."""
        ...

    def exists(self, domain_key: str, sha256: str) -> bool: ...

    def size(self, domain_key: str, sha256: str) -> int: ...

    def local_path(self, domain_key: str, sha256: str) -> Path | None:
        """A plain file holding the bytes, for zero-copy sending; None where the backend has
        none (callers then stream ``read``)."""
        ...

    def read_small_now(self, domain_key: str, sha256: str, limit: int) -> bytes | None:
        """The whole blob read on the caller's thread (the event loop's: the first read of a
        small file), when it is at most ``limit`` bytes and nothing but a local disk or memory
        is asked (a local file, an encrypted blob whose data key is open); None otherwise
        (missing, bigger, remote, a key still to unwrap: the caller then ``read``s it, which
        says which)."""
        ...

    def read(self, domain_key: str, sha256: str, start: int = 0,
             end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of a blob, clipped to its size (a range past the end
        yields nothing); ``NotFound`` when the blob is missing."""
        ...

    def delete(self, domain_key: str, sha256: str) -> None:
        """Forget a blob; deleting one that is not there is not an error."""
        ...

    def delete_domain(self, domain_key: str) -> None:
        """Remove every blob of a domain (after the domain itself is gone)."""
        ...

    def recover(self) -> int:
        """Clear what writers that are gone left half-written (called at start-up; other live
        processes' staged writes stay); returns how many leftovers were removed."""
        ...

    def domain_keys(self) -> list[str]:
        """The domain keys the store holds blobs under, sorted (a few per domain: what
        ``list_blobs`` of every domain goes through)."""
        ...

    def list_blobs(self, domain_key: str | None = None, *,
                   page_size: int = LIST_PAGE) -> Iterator[StoredBlob]:
        """Every committed blob of ``domain_key`` (of every domain when None), in (domain key,
        sha256) order, with when it was stored: fetched a page (or on disk a folder) at a time,
        so memory stays bounded however many there are. Staged writes, the shared files
        (``.packyard/``) and partial uploads are no blobs and are never listed. For finding
        what the catalog does not name (``packyard verify``'s strays)."""
        ...


def is_blob_name(sha256: str) -> bool:
    """Whether ``sha256`` can name a blob: 64 lowercase hex digits."""
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


def is_domain_key(name: str) -> bool:
    """Whether ``name`` can be a domain key: not empty, no slash, no leading dot (the store's
    own folders, ``.staging`` and ``.packyard``, have one)."""
    return bool(name) and "/" not in name and not name.startswith(".")


def check_blob_key(domain_key: str, sha256: str) -> None:
    """Refuse names no blob can have, in every backend alike: a hash that is not one is a blob
    nobody can find (``NotFound``); a bad domain key is a caller's bug (``ValueError``)."""
    if not is_blob_name(sha256):
        raise NotFound(f"No blob {sha256!r}")
    if not is_domain_key(domain_key):
        raise ValueError(f"bad domain key {domain_key!r}")


def listed_domains(store: BlobStore, domain_key: str | None) -> list[str]:
    """The domain keys ``store.list_blobs(domain_key)`` goes through: ``domain_key`` (checked
    as every backend checks one), or every one the store holds when None."""
    if domain_key is None:
        return store.domain_keys()
    check_blob_key(domain_key, "0" * 64)
    return [domain_key]


async def primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` with its first chunk already read: awaited before a response starts, so a blob
    that is missing or fails its integrity check becomes an error answer (404, 500) instead of
    a response cut short."""
    iterator = aiter(chunks)
    first = await anext(iterator, None)

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first is None:
                return
            yield first
            async for chunk in iterator:
                yield chunk
        finally:  # closed early (the client gone): the read's own cleanup runs now, not at GC
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()

    return rest()


def read_file_now(path: Path, limit: int) -> bytes | None:
    """A local file's bytes when it holds at most ``limit`` (read up to one byte more, so a
    bigger file is never read whole); None when it is missing, unreadable or bigger."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return None if len(data) > limit else data
