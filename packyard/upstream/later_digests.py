"""The digests a pull leaves for later, filled in once the server has a moment.

Every byte of a pulled file is hashed while it downloads, and the client waits for that: its
sha256 (the blob's name), the digests its upstream declared (verified before anything is kept)
and those its format's records need at once (``FormatUpstream.pull_digests``). MD5, SHA-1,
SHA-512 and BLAKE2b besides cost about six times SHA-256's CPU, and nothing a pull serves needs
them, only what the API and PyPI's JSON API answer later; so the kept file's assets hold NULL
for them, in their columns or their format's attributes (``metadata/later_digests.py``), and
this service reads the file back and fills them in.

It runs on the event loop, as a task started by the first file kept with digests missing (and
by the server's start, for those a stopped process left): it waits until no pull has been kept
for ``quiet`` seconds (an install's burst is not slowed by it), or at most ``patience``
seconds, then fills every asset the catalog says lacks a digest, reading one blob at a time and
writing a batch of them at a time. Under a server (``yield_to``) it also gives way to requests:
between blobs and between the pieces of one it goes on only while no request has begun and
none is under way, for at most ``patience`` seconds per batch (a large download right after a
large pull is not slowed by the pull's own digests; a server never idle still gets them). Any
process may fill any asset; two filling the same one write the same digests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable

import anyio
from starlette.concurrency import run_in_threadpool

from packyard.errors import PackyardError, Unavailable
from packyard.lull import Activity, AfterQuiet, Lull
from packyard.metadata.catalog import Catalog, LaterDigest
from packyard.model import domain_blob_key
from packyard.storage.blobs import LATER_DIGESTS, BlobStore, Digests, Hasher

log = logging.getLogger("packyard.digests")

BATCH = 20
"""Blobs asked of the catalog at a time."""

PIECE = 1024 * 1024
"""Bytes of a blob read (and hashed) at a time."""

def pull_digests(asked: Collection[str], declared: Collection[str]) -> set[str]:
    """Which of ``LATER_DIGESTS`` a pull computes: those its format asked for and those its
    upstream declared (to verify them). The filler finds a file by its asset's missing MD5,
    SHA-1 or SHA-512; when the upstream declared all three, nothing would bring the filler to
    it, so the pull computes every digest itself."""
    wanted = {*asked, *(name for name in declared if name in LATER_DIGESTS)}
    return set(LATER_DIGESTS) if {"md5", "sha1", "sha512"} <= wanted else wanted


class LaterDigests:
    """Fills in the digests pulls left out; ``nudge`` after each such file is kept."""

    def __init__(self, catalog: Catalog, blobs: BlobStore, *, quiet: float = 1.0,
                 patience: float = 10.0, poll: float = 0.05) -> None:
        self._catalog = catalog
        self._blobs = blobs
        self._patience = patience
        self._lull = Lull(poll=poll)
        # A failed pass is retried on the next nudge or start.
        self._soon = AfterQuiet(self.fill, "filling in digests", quiet=quiet,
                                patience=patience, logger=log, outages=(Unavailable,))
        self.filled = 0  # blobs whose digests this process filled in (tests, metrics)

    def yield_to(self, activity: Activity) -> None:
        """Give way to the requests ``activity`` counts (the server's, set at its start)."""
        self._lull.activity = activity

    def nudge(self) -> None:
        """Some asset lacks digests (called on the event loop): fill them in soon."""
        self._soon.nudge()

    async def close(self) -> None:
        """Stop filling (the server is stopping); what is left is filled after the next
        start."""
        await self._soon.close()

    async def fill(self) -> int:
        """Fill in every digest missing now; returns how many blobs were done. A blob that
        cannot be read (gone, failing its integrity check) is logged and left for the next
        time."""
        done = 0
        failed: set[tuple[int, str]] = set()
        while True:
            batch = [item for item in await run_in_threadpool(
                self._catalog.digests_missing, BATCH + len(failed)) if item not in failed]
            if not batch:
                return done
            unread = await self._fill(batch[:BATCH],
                                      yielding_until=time.monotonic() + self._patience)
            done += len(batch[:BATCH]) - len(unread)
            failed.update(unread)

    def fill_from_thread(self, blobs: Collection[tuple[int, str]]) -> bool:
        """Fill in these blobs' (domain id, sha256) digests now, for an answer that shows them
        (``ListPackageVersionAssets``), from a thread that is not the event loop's; False when
        some could not be. It reads the blobs on an event loop of its own in this thread: a
        worker thread waiting for the server's loop to read them would hold one of the
        loop's worker threads while the reads wait for one (enough such calls at once, and
        none would finish)."""
        try:
            return anyio.run(self.fill_now, blobs)
        except RuntimeError:  # called on a thread running an event loop already
            log.exception("digests not filled in")
            return False

    async def fill_now(self, blobs: Collection[tuple[int, str]]) -> bool:
        """``fill_from_thread`` on the event loop. A failure (the database away) is logged:
        the answer goes out with the digests it has rather than not at all."""
        try:
            return not await self._fill(blobs)
        except Exception:  # noqa: BLE001 - the background filler tries again later
            log.exception("filling in digests for an answer")
            return False

    async def _fill(self, blobs: Iterable[tuple[int, str]], *,
                    yielding_until: float | None = None) -> list[tuple[int, str]]:
        """Fill in these blobs' digests, in one catalog write; returns those that could not be
        read. ``yielding_until``: giving way to requests until then (the background filler;
        not an answer's own filling, which a request waits for)."""
        filled: list[LaterDigest] = []
        failed: list[tuple[int, str]] = []
        for domain_id, sha256 in blobs:
            digests = await self._blob_digests(domain_id, sha256, yielding_until)
            if digests is None:
                failed.append((domain_id, sha256))
                continue
            assert digests.md5 is not None and digests.sha1 is not None
            assert digests.sha512 is not None and digests.blake2_256 is not None
            filled.append(LaterDigest(sha256, digests.md5, digests.sha1, digests.sha512,
                                      digests.blake2_256))
        await run_in_threadpool(self._catalog.fill_digests, filled)
        self.filled += len(filled)
        return failed

    async def _blob_digests(self, domain_id: int, sha256: str,
                            yielding_until: float | None) -> Digests | None:
        try:
            digests = await self._digests(domain_blob_key(domain_id), sha256, yielding_until)
        except PackyardError as e:
            log.warning("could not fill in the digests of blob %s of domain %d: %s", sha256,
                        domain_id, e.message)
            return None
        if digests.sha256 != sha256:
            log.error("blob %s of domain %d reads back as %s; its digests are left unfilled",
                      sha256, domain_id, digests.sha256)
            return None
        return digests

    async def _digests(self, domain_key: str, sha256: str,
                       yielding_until: float | None) -> Digests:
        """The blob's digests, read back as a download reads it (decrypted), hashed off the
        event loop a piece at a time; sha256 too, so what is filled in is of these bytes. On
        one thread: a read that comes meanwhile (the same file again, a second client) keeps
        the other core (a 300 MiB wheel read while its digests are filled in: 0.65 s with
        them on two threads, 0.46 s on one; 0.33 s with no filling under way). Each piece is
        a read of its own, so that a pause for requests between two holds nothing open (nor
        counts as a long read under way, which would keep a download's decryption from
        going ahead: ``EncryptingBlobStore._read_file``)."""
        hasher = Hasher(LATER_DIGESTS, one_thread=True)
        start = 0
        while True:
            if yielding_until is not None:
                await self._lull.wait(yielding_until)
            piece = [chunk async for chunk in self._blobs.read(domain_key, sha256, start,
                                                                 start + PIECE)]
            if not piece:
                return hasher.digests()
            await run_in_threadpool(_update, hasher, piece)
            start += sum(len(chunk) for chunk in piece)


def _update(hasher: Hasher, chunks: list[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)
