"""Whether this process should be sent traffic: what ``GET /ready`` answers a load balancer.

Ready means the things every request needs answer now: the database (one query, which
also reads its schema revision: a replica whose code is not at the database's revision, as
during a rolling upgrade once another replica migrated, is not ready), the blob store (one
existence check of a name no blob has: a stat on disk, a HEAD on S3), and the data directory
(one small file written and removed: with the disk full or remounted read-only, every change,
every upload and every audit event kept there fails while reads still answer, so only a probe
that writes tells). ``/health`` stays the
liveness probe and checks none of them: a replica that lost its database must not be
restarted, only taken out of rotation until the database is back.

The check takes no credentials, so anyone may ask: one report is remembered for a second and
callers asking meanwhile share one check, which bounds what asking can make a process do.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from packyard.errors import Unavailable
from packyard.metadata.catalog import Catalog
from packyard.singleflight import SingleFlight
from packyard.storage.blobs import BlobStore

log = logging.getLogger("packyard.ready")

OK = "ok"
REMEMBER_SECONDS = 1.0
# A name no blob can have (domain keys are numbers, hashes are hashes of content).
_PROBE = ("packyard-ready", "0" * 64)
# What the data directory probe writes: a page, as a SQLite commit or an audit batch would.
_PROBE_BYTES = b"\0" * 4096
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class ReadinessReport:
    """Each check's outcome: ``ok``, or what is wrong, in words an operator can act on."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(outcome == OK for outcome in self.checks.values())


class Readiness:
    """Checks the database, the blob store and the data directory, at most once a second."""

    def __init__(self, catalog: Catalog, blobs: BlobStore,
                 monotonic: Callable[[], float] = time.monotonic,
                 data_dir: Path | None = None) -> None:
        self._catalog = catalog
        self._blobs = blobs
        self._data_dir = data_dir
        self._data_dir_error: str | None = None  # what the last probe met, if it failed
        self._monotonic = monotonic
        self._flight: SingleFlight[str, ReadinessReport] = SingleFlight()
        self._last: tuple[float, ReadinessReport] | None = None

    async def report(self) -> ReadinessReport:
        now = self._monotonic()
        if self._last is not None and now - self._last[0] < REMEMBER_SECONDS:
            return self._last[1]
        task = self._flight.task("ready", lambda: anyio.to_thread.run_sync(self._check))
        report = await asyncio.shield(task)
        self._last = (self._monotonic(), report)
        return report

    def _check(self) -> ReadinessReport:
        checks = {"database": self._check_database(), "blobStore": self._check_blobs()}
        if self._data_dir is not None:
            checks["dataDirectory"] = self._check_data_dir(self._data_dir)
        return ReadinessReport(checks)

    def _check_database(self) -> str:
        try:
            if self._catalog.schema_is_current():
                return OK
            return ("the database schema is not at this Packyard's revision (another version "
                    "migrated it): upgrade this replica")
        except Unavailable:
            return "the database is unavailable"
        except Exception:
            log.exception("readiness: checking the database failed")
            return "checking the database failed; see the server log"

    def _check_blobs(self) -> str:
        try:
            self._blobs.exists(*_PROBE)
            return OK
        except Unavailable:
            return "the blob store is unavailable"
        except Exception:
            log.exception("readiness: checking the blob store failed")
            return "checking the blob store failed; see the server log"

    def _check_data_dir(self, data_dir: Path) -> str:
        try:
            write_probe(data_dir / f".ready-probe-{os.getpid()}")
            if self._data_dir_error is not None:
                log.info("readiness: the data directory %s can be written again", data_dir)
                self._data_dir_error = None
            return OK
        except OSError as error:
            # The path stays in the server log: the probe answers anyone. Once per change,
            # not once per probe.
            if str(error) != self._data_dir_error:
                log.warning("readiness: cannot write to the data directory %s: %s", data_dir,
                            error)
                self._data_dir_error = str(error)
            if error.errno in _DISK_FULL:
                return "the data directory's disk is full"
            if error.errno == errno.EROFS:
                return "the data directory is read-only"
            return "the data directory cannot be written; see the server log"


def write_probe(path: Path) -> None:
    """Write a page to ``path`` and remove it (raises ``OSError`` as the disk refuses)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, _PROBE_BYTES)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
