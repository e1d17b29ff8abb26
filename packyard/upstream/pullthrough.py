"""Pulling one file from upstream: one download however many ask, streamed while it is stored.

The first request for a file not yet in Packyard starts a download; every request for the same
bytes that arrives while it runs joins it instead of starting another. The download is written
straight into a staged write of the blob store (hashed as it is written), which readers follow
as it grows, so the first client receives bytes as they arrive from the upstream, and keeping
the file is the store's commit of that staged write: no copy.

Nothing unverified is ever kept or completed: the digests the upstream's document declared
(every one of sha256, sha512, sha1 and md5 it names) are checked when the last byte is in (a
download computes those, sha256 and what the caller asks for; the rest are filled in after the
file is kept, ``later_digests.py``), and only then is the staged file handed to ``commit``
(which stores it). A reader is always one chunk behind the download until the file is stored,
so a client never holds the complete file before it is verified and kept; on a mismatch
readers fail (their response is cut short), nothing is stored, and for a while further
requests for those bytes get the same error without a new download.

Across processes (``--workers``, replicas) a download first claims the file in the database
(``claims.py``); a process that finds it claimed waits for the holder and keeps the holder's
copy (``adopt``) instead of downloading it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
from starlette.concurrency import run_in_threadpool

from packyard.errors import PackyardError, UpstreamError
from packyard.singleflight import SingleFlight
from packyard.storage.blobs import (
    LATER_DIGESTS,
    Digests,
    ExpectedBlob,
    StagedBlob,
    is_blob_name,
)
from packyard.storage.staging import StagingArea
from packyard.upstream.claims import HeldClaim, PulledElsewhere, RefusedElsewhere, SharedPulls
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.later_digests import pull_digests
from packyard.upstream.pace import Pace
from packyard.write_behind import WriteBehind

log = logging.getLogger("packyard.upstream")

_READ_CHUNK = 1024 * 1024
# What the upstream sends is written in batches of about this much: one queued write per batch
# instead of one per network read (often a few KiB). 1 MiB rather than 256 KiB: a 300 MiB
# pull 0.92 → 0.87 s, its CPU 1.09 → 1.00 s; readers of a file still arriving get its bytes
# a batch behind (bench/UPSTREAM.md round 13).
_WRITE_BATCH = 1024 * 1024
_RECENT_SECONDS = 60.0  # a finished download answers late joiners this long


class VerificationFailed(UpstreamError):
    """The upstream's bytes do not match what its page declared."""


# The digests a download is verified against, in the order they are checked (and the first
# one declared tells downloads apart).
VERIFIED_DIGESTS = ("sha256", "sha512", "sha1", "md5")


@dataclass(frozen=True)
class FileSource:
    """Where a file is on the upstream, and what its document promised about it."""

    url: str
    filename: str
    # Algorithm -> lower-case hex, as the upstream declared them; at least one of
    # ``VERIFIED_DIGESTS``, or nothing could be verified and the file is refused.
    digests: Mapping[str, str]
    size: int | None
    allowed_hosts: frozenset[str]
    upstream: str  # the index URL of the upstream offering it (its failures cool down there)
    document: str = "index page"  # what the format calls the document (messages)

    @property
    def key_digest(self) -> str:
        return next((self.digests[a] for a in VERIFIED_DIGESTS if a in self.digests), "")


_Key = tuple[str, str, str]  # (partition, filename, first declared digest)


def claim_key(partition: str, source: FileSource) -> str:
    """The name of the claim on a download shared by processes (``claims.py``): a digest of
    what tells downloads apart in one process."""
    return hashlib.sha256("\0".join((partition, source.filename, source.key_digest)).encode()
                          ).hexdigest()

Finish = Callable[[], Digests]
"""Finishes a download's staged write (its last bytes written, ``digests()`` called) and
verifies it against what the upstream declared (``VerificationFailed`` when it does not
match); its digests. Blocking: ``Commit`` calls it in a worker thread, before it stores the
file."""

Commit = Callable[[StagedBlob, Finish], Awaitable[Digests]]
"""Stores a download: calls ``finish`` first, as a rule in the worker thread that then commits
the staged write it finished to the blob store (one hop for both; ``UpstreamResolver`` gives it
a hop of its own while what the upstream serves beside the file is still on its way); the
digests ``finish`` gave. Nothing is stored when ``finish`` raises; what is left of the staged
write afterwards is discarded."""

Adopt = Callable[[int], bool]
"""Keeps the copy another process pulled into repository ``keeper`` where ``commit`` would
have kept the file; runs in a worker thread; False when that repository does not hold it."""


class Download:
    """One file on its way from the upstream; readers follow its spool file."""

    def __init__(self, source: FileSource, path: Path) -> None:
        self.source = source
        self.path = path
        self.written = 0
        self.released = 0  # bytes readers may have: all but the newest chunk until verified
        # The length the upstream's response declared (Content-Length), once its head is in.
        self.length: int | None = None
        self.headed = False
        self.verified = False
        self.stored = False
        self.removed = False
        self.error: PackyardError | None = None
        self.finished_at: float | None = None
        self._event = asyncio.Event()
        self.task: asyncio.Task[Digests] | None = None
        self._followups: list[Callable[[], None]] = []
        self._decided = asyncio.Event()

    async def decided(self) -> None:
        """Wait until it is known whether this process downloads the file (readers follow its
        spool) or another one had already stored it (the spool is gone; ``result`` says
        where): at once when nothing is shared with other processes."""
        await self._decided.wait()

    def add_followup(self, work: Callable[[], None]) -> bool:
        """Run ``work`` (in a worker thread) after the commit and before the last chunk is
        released; False when it is too late for that (stored already, or failed)."""
        if self.stored or self.error is not None:
            return False
        self._followups.append(work)
        return True

    def _notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def changed(self) -> None:
        """Wait for the next change (more bytes, verification, failure)."""
        await self._event.wait()

    async def declared_size(self) -> int | None:
        """The file's size as the upstream's response declares it, once that response has
        begun (None when it declares none); None at once when the download ended first (failed,
        or stored elsewhere)."""
        while not self.headed and self.error is None and not self.removed:
            await self.changed()
        return self.length

    async def result(self) -> Digests:
        """Wait until the file is verified and stored (or raise why it was not)."""
        assert self.task is not None
        return await asyncio.shield(self.task)

    def open_reader(self) -> SpoolReader | None:
        """A reader of the spool file, or None once the file is stored and the spool gone.

        Called in the event loop, so the spool cannot vanish between the check and the open;
        the reader's descriptor keeps the bytes readable after the spool is unlinked.
        """
        if self.removed:
            return None
        return SpoolReader(self, os.open(self.path, os.O_RDONLY))


class SpoolReader:
    """One client following a download; its descriptor is closed when done or collected."""

    def __init__(self, download: Download, fd: int) -> None:
        self._download = download
        self._fd = fd
        # A response that is never sent never runs the generator's cleanup; this does.
        self._closer = weakref.finalize(self, os.close, fd)

    def close(self) -> None:
        self._closer()

    async def stored(self) -> Digests:
        """Wait until the file is verified and stored, reading nothing (or raise why it was
        not): for a caller that only needs it kept. The reader is closed."""
        try:
            return await self._download.result()
        finally:
            self.close()

    def fileno(self) -> int:
        """The spool's descriptor, open until the reader is closed (``ranges`` closes it when
        done): for a response that has the kernel send the ranges (``sendfile(2)``)."""
        return self._fd

    async def ranges(self, start: int = 0, end: int | None = None
                     ) -> AsyncGenerator[tuple[int, int], None]:
        """``(offset, count)`` of the file's bytes from ``start`` to ``end`` (the whole file
        by default) as they become readable through ``fileno``, in order and without gaps;
        raises if the download fails, or ends before ``end``. The reader is closed when the
        iteration ends."""
        download = self._download
        offset = start
        try:
            while end is None or offset < end:
                if download.error is not None and not download.verified:
                    raise download.error
                released = download.released if end is None else min(download.released, end)
                if offset < released:
                    yield offset, released - offset
                    offset = released
                    continue
                if download.verified:
                    if end is not None:
                        raise UpstreamError(f"{download.source.filename} has "
                                            f"{download.released} bytes, not {end}")
                    return
                await download.changed()
        finally:
            self.close()

    async def stream(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The file's bytes (from ``start`` to ``end``, as ``ranges``) as they become
        readable, read in worker threads; raises if the download fails."""
        filename = self._download.source.filename
        ranges = self.ranges(start, end)
        try:
            async for start, count in ranges:
                end = start + count
                while start < end:
                    chunk = await run_in_threadpool(os.pread, self._fd,
                                                    min(_READ_CHUNK, end - start), start)
                    if not chunk:
                        raise UpstreamError(f"Spool of {filename} ended early")
                    start += len(chunk)
                    yield chunk
        finally:
            await ranges.aclose()


class PullThrough:
    """Downloads files from upstreams, at most one per file at a time."""

    def __init__(self, http: UpstreamHttp, spool_dir: Path, max_bytes: int,
                 failure_seconds: float,
                 stage: Callable[[ExpectedBlob | None], StagedBlob] | None = None,
                 shared: SharedPulls | None = None) -> None:
        self._http = http
        # Claims shared with the other processes on the database; None: this process alone.
        self._shared = shared
        # Where downloads are written: the blob store's staged writes (``stage``), so that
        # keeping one is a commit; without a store, spool files of this folder, named and
        # cleaned up as every staged write is (and where earlier versions spooled). A store
        # is told the domain and the sha256 the upstream declared (an encrypted one then
        # encrypts as the bytes arrive).
        self._spool = StagingArea(spool_dir)
        self._stage = stage or (lambda expected: self._spool.new(sync=False))
        self._max_bytes = max_bytes
        self._failure_seconds = failure_seconds
        self._flights: SingleFlight[_Key, Digests] = SingleFlight()
        self._downloads: dict[_Key, Download] = {}
        self._failures: dict[_Key, tuple[float, VerificationFailed]] = {}

    @property
    def downloads_started(self) -> int:
        return self._flights.started

    @property
    def shares_downloads(self) -> bool:
        """Whether downloads are claimed with the other processes on the database (a started
        download may then wait for another process's instead of downloading)."""
        return self._shared is not None

    def recover(self) -> int:
        """Remove spool files left by processes that are gone (other live workers may be
        mid-download); returns how many."""
        return self._spool.recover()

    def start(self, partition: str, source: FileSource, commit: Commit, *,
              keeper: int | None = None, adopt: Adopt | None = None,
              digests: Collection[str] = LATER_DIGESTS) -> Download:
        """The download of ``source`` into ``partition`` (a domain's blob key): running,
        recently finished, or started now. Raises the remembered error of a recent verification
        failure. Downloads are told apart by file name and declared hash, so two files that
        claim the same hash never share a result.

        ``keeper`` is the repository ``commit`` keeps the file in, where another process that
        waited for this download copies it from; ``adopt`` is how this one keeps such a copy
        (without it, a file another process pulled is downloaded again). ``digests``: which
        of ``LATER_DIGESTS`` ``commit`` needs, besides sha256 and those the source declares
        (which are verified; ``later_digests.pull_digests``); the others are None in the
        digests it is given. Wait for
        ``Download.decided`` before opening a reader."""
        if not source.key_digest:
            raise UpstreamError(f"Upstream file {source.filename} has no digest to verify it "
                                "against; not pulled")
        key = (partition, source.filename, source.key_digest)
        failed = self._failure(key)
        if failed is not None:
            raise failed
        if len(self._downloads) > 256:
            self._forget_finished()
        existing = self._joinable(key)
        if existing is not None:
            return existing
        # Created now, before the task first runs, so readers can open it straight away.
        declared = source.digests.get("sha256", "")
        staged = self._stage(ExpectedBlob(partition, declared) if is_blob_name(declared)
                             else None)
        staged.hash_only(pull_digests(digests, source.digests))
        download = Download(source, staged.local_path)
        self._downloads[key] = download
        if self._shared is None:
            download._decided.set()
        download.task = self._flights.task(key, lambda: self._run(key, download, staged, commit,
                                                                  keeper, adopt))
        return download

    def knows(self, partition: str, source: FileSource) -> bool:
        """Whether ``start`` would join a download of ``source`` (running, or stored a moment
        ago) or raise a verification failure it remembers, rather than start one."""
        key = (partition, source.filename, source.key_digest)
        return self._failure(key) is not None or self._joinable(key) is not None

    def _failure(self, key: _Key) -> PackyardError | None:
        """The verification failure remembered for ``key``, while it is remembered."""
        failed = self._failures.get(key)
        if failed is None:
            return None
        if time.monotonic() < failed[0]:
            return failed[1]
        del self._failures[key]
        return None

    def _joinable(self, key: _Key) -> Download | None:
        """The download of ``key`` a request joins: running, or stored a moment ago."""
        existing = self._downloads.get(key)
        if existing is not None and existing.error is None and (
                existing.finished_at is None
                or time.monotonic() - existing.finished_at < _RECENT_SECONDS):
            return existing
        return None

    def _forget_finished(self) -> None:
        now = time.monotonic()
        for key, download in list(self._downloads.items()):
            if download.finished_at is not None and now - download.finished_at >= _RECENT_SECONDS:
                del self._downloads[key]

    async def _claim(self, key: _Key, download: Download,
                     adopt: Adopt | None) -> HeldClaim | Digests | None:
        """Claim the download for this process, or wait for the one that holds it: the
        claim; the digests of the copy another process stored, once adopted; None to download
        without a claim (that copy is not where this process can adopt it)."""
        assert self._shared is not None
        stats = self._http.stats

        def waiting() -> None:
            stats.file_pull_waits += 1

        settled = await self._shared.claim_or_wait(claim_key(key[0], download.source), waiting)
        if isinstance(settled, RefusedElsewhere):
            raise VerificationFailed(settled.message)
        if not isinstance(settled, PulledElsewhere):
            return settled
        if (settled.keeper is not None and adopt is not None
                and await run_in_threadpool(adopt, settled.keeper)):
            log.info("%s was pulled by another process; kept its copy",
                     download.source.filename)
            return settled.digests
        return None

    async def _run(self, key: _Key, download: Download, staged: StagedBlob, commit: Commit,
                   keeper: int | None, adopt: Adopt | None) -> Digests:
        source = download.source
        started = time.monotonic()
        stats = self._http.stats
        claim: HeldClaim | None = None
        try:
            if self._shared is not None:
                claimed = await self._claim(key, download, adopt)
                if isinstance(claimed, Digests):
                    await _follow_up(download)
                    download.stored = download.verified = download.removed = True
                    return claimed
                claim = claimed
            download._decided.set()
            stats.file_pulls += 1
            async with self._http.stream_file(source.url, source.allowed_hosts,
                                               upstream=source.upstream) as response:
                declared = response.headers.get("content-length")
                if (declared is not None and declared.isdigit() and source.size is not None
                        and int(declared) != source.size):
                    raise VerificationFailed(
                        f"Upstream {source.url} sends {declared} bytes for {source.filename}, "
                        f"but its index page says {source.size}; nothing was kept")
                # Asked for without content coding (``Accept-Encoding: identity``), so the
                # bytes read are the bytes declared: readers may promise their clients as much.
                if (declared is not None and declared.isdigit()
                        and response.headers.get("content-encoding", "identity") == "identity"):
                    download.length = int(declared)
                download.headed = True
                download._notify()
                limits = self._http.limits
                last = await _receive(response, download, staged, self._max_bytes,
                                      Pace(limits.file_min_rate, limits.file_rate_window,
                                           source.filename))
            # The last batch waits for the commit: a client that has the whole file can rely
            # on it being kept (a later API call or offline install finds it). The commit may
            # move the staged file, so readers that come from now on wait for it instead;
            # those reading already keep their descriptors.
            download.removed = True
            digests = await commit(staged, partial(_finish, staged, last, source))
            download.written += sum(map(len, last))
            await _follow_up(download)
            download.stored = True
            download.verified = True
            download.released = download.written
            download._notify()
            if claim is not None:
                await claim.pulled(digests, keeper)
                claim = None
            stats.file_pull_bytes += digests.size
            log.info("pulled %s from upstream (%d bytes, %.2fs)", source.filename,
                     digests.size, time.monotonic() - started)
            return digests
        except BaseException as exc:
            error = exc if isinstance(exc, PackyardError) else UpstreamError(
                f"Pulling {source.filename} from upstream failed: {type(exc).__name__}")
            download.error = error
            stats.file_pull_errors += 1
            if isinstance(exc, PackyardError) and not isinstance(error, VerificationFailed):
                # Its readers' responses are cut short; this says why, once per download.
                log.warning("pulling %s from upstream failed: %s; nothing was kept",
                            source.filename, error.message)
            if isinstance(error, VerificationFailed):
                self._failures[key] = (time.monotonic() + self._failure_seconds, error)
                log.warning("%s", error.message)
                if claim is not None:
                    await claim.refused(error.message, self._failure_seconds)
                    claim = None
            elif claim is not None:
                # Released before the readers hear of the failure: a client retrying at once
                # (in this process or another) claims the download instead of waiting out
                # a claim nobody holds any more.
                await claim.release()
                claim = None
            download._notify()
            if isinstance(exc, PackyardError):
                raise
            if isinstance(exc, Exception):
                log.exception("pulling %s failed", source.filename)
                raise error from exc
            raise
        finally:
            if claim is not None:  # failed otherwise (or cancelled): the next to ask claims it
                await claim.release()
            # Whatever the commit left of the staged write (all of it, when it failed).
            staged.close()
            download.path.unlink(missing_ok=True)
            download.removed = True
            download._decided.set()
            download.finished_at = time.monotonic()
            if download.error is not None and self._downloads.get(key) is download:
                del self._downloads[key]


async def _follow_up(download: Download) -> None:
    """The work joiners added (keeping the file in their repositories too), once it is kept."""
    while download._followups:
        work = download._followups.pop(0)
        try:
            await run_in_threadpool(work)
        except Exception:  # the file is kept; one extra retention failing is logged
            log.exception("after pulling %s", download.source.filename)


async def _receive(response: httpx.Response, download: Download, staged: StagedBlob,
                   max_bytes: int, pace: Pace) -> list[bytes]:
    """The response's bytes written (and hashed) into ``staged`` in batches, in a worker thread
    while the next are read (``write_behind.py``), all but the last batch, which is returned
    (``_finish`` writes it in the hop that finishes the file: a small file, one batch, takes
    a single hop); readers may have all but the last batch written (the last waits for the
    file to be kept). Given up when the upstream falls behind ``pace``."""
    source = download.source
    batch: list[bytes] = []
    batched = received = 0

    async with WriteBehind() as writes:

        async def hand_over() -> None:
            # Written in the writer's thread; then readers may have all but this batch.
            nonlocal batch, batched
            await writes.put(partial(_write, staged, batch), size=batched,
                             then=partial(_release, download, batched))
            batch, batched = [], 0

        # The bytes as sent, never decoded: a server may mark a .tar.gz "Content-Encoding:
        # gzip" although it was asked for none, and the index's digests are of the file as
        # sent (pip reads it so too); decoding would also let a small upstream answer
        # become gigabytes here.
        async for chunk in response.aiter_raw():
            batch.append(chunk)
            batched += len(chunk)
            received += len(chunk)
            if received > max_bytes:
                raise UpstreamError(f"Upstream file {source.filename} is larger than "
                                    f"{max_bytes} bytes; not kept")
            pace.received(received)
            if batched >= _WRITE_BATCH:
                # A full write queue (a slow disk) holds the download up: not the upstream's.
                held = time.monotonic()
                await hand_over()
                pace.waited(time.monotonic() - held)
        await writes.drain()
    return batch


def _release(download: Download, size: int) -> None:
    """``size`` more bytes written to the spool: readers may have all written before them."""
    download.released = download.written
    download.written += size
    download._notify()


def _finish(staged: StagedBlob, last: list[bytes], source: FileSource) -> Digests:
    """The last batch written, the staged write finished and verified: its digests (``Finish``,
    worker thread)."""
    _write(staged, last)
    digests = staged.digests()
    _verify(source, digests)
    return digests


def _verify(source: FileSource, digests: Digests) -> None:
    """``VerificationFailed`` unless the bytes have every digest and the size ``source``'s
    document declared."""
    for algorithm in VERIFIED_DIGESTS:
        declared, actual = source.digests.get(algorithm), getattr(digests, algorithm)
        if declared is not None and declared != actual:
            raise VerificationFailed(
                f"Upstream file {source.filename} failed verification: its {source.document} "
                f"declares {algorithm} {declared}, the bytes sent have {actual}; nothing was kept")
    if source.size is not None and digests.size != source.size:
        raise VerificationFailed(
            f"Upstream file {source.filename} has {digests.size} bytes, but its {source.document} "
            f"says {source.size}; nothing was kept")


def _write(staged: StagedBlob, batch: list[bytes]) -> None:
    for chunk in batch:
        staged.write(chunk)
    staged.flush()  # readers follow the file by its path
