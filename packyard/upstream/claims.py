"""One upstream download per file across processes: a claim in the database, the others wait.

Inside one process, ``PullThrough`` already joins every request for a file to one download.
Across the processes on one database (``--workers`` on SQLite, replicas on PostgreSQL) the
first to ask *claims* the file (``metadata/pull_claims.py``: a row with an expiry, which one
statement takes for exactly one of any number of claimers) and downloads it; the others wait
for the claim's outcome:

- **Pulled**: the holder stored the file and kept it in a repository (``keeper``); a waiter
  keeps that copy in its own repositories, without the upstream.
- **Refused**: the bytes failed verification; the waiter fails the same way, without a
  download, until the refusal runs out (as a process remembers its own).
- **Gone** (released after another failure, or run out because the holder died or stalled):
  the next waiter claims it and downloads the file itself.

A waiter holds no database connection while it waits: it reads the claim (one short query on
the reader engine) at growing intervals, from 50 ms to a second, off the event loop, and one
waiter per file per process does (the others join its ``PullThrough`` flight). The holder
renews the claim every third of ``lease_seconds`` until it settles it, so a killed holder is
taken over at most ``lease_seconds`` after its last renewal; a holder that stalls past its
expiry keeps downloading, and the file is at worst downloaded twice, which is harmless
(content-addressed blobs, idempotent keeping). Why a row and not an advisory lock:
``docs/decisions/0016``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from packyard.errors import PackyardError
from packyard.metadata.pull_claims import PullClaim
from packyard.storage.blobs import Digests

log = logging.getLogger("packyard.upstream")

_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 1.0
# How long a pulled file's outcome stays readable for waiters that look late.
_PULLED_KEPT_SECONDS = 60.0


class ClaimStore(Protocol):
    """Where claims are kept (``PullClaimStore``); every method is one short transaction."""

    def claim(self, key: str, holder: str, now: datetime, expires_at: datetime) -> bool: ...

    def renew(self, key: str, holder: str, expires_at: datetime) -> bool: ...

    def settle(self, key: str, holder: str, outcome: str, now: datetime,
               keep_until: datetime) -> None: ...

    def release(self, key: str, holder: str) -> None: ...

    def look(self, key: str) -> PullClaim | None: ...


@dataclass(frozen=True)
class PulledElsewhere:
    """Another process stored the file and kept it in repository ``keeper`` (None: it kept it
    nowhere a waiter can copy it from)."""

    digests: Digests
    keeper: int | None


@dataclass(frozen=True)
class RefusedElsewhere:
    """Another process found the upstream's bytes did not match what its document declared."""

    message: str


class HeldClaim:
    """This process's claim on one file: renewed in the background until it is settled."""

    def __init__(self, shared: SharedPulls, key: str) -> None:
        self._shared = shared
        self._key = key
        self._renewing = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        shared = self._shared
        while True:
            await asyncio.sleep(shared.lease_seconds / 3)
            try:
                held = await run_in_threadpool(shared.store.renew, self._key, shared.holder,
                                               shared.expiry())
            except PackyardError as exc:  # the database is down: try again at the next turn
                log.warning("renewing the claim on an upstream download: %s", exc.message)
                continue
            if not held:
                log.warning("the claim on an upstream download ran out and was taken over; "
                            "this process finishes its download anyway")
                return

    async def pulled(self, digests: Digests, keeper: int | None) -> None:
        """Stored and kept in ``keeper``: waiters keep that copy."""
        outcome = {"digests": dataclasses.asdict(digests), "keeper": keeper}
        await self._settle(json.dumps(outcome), _PULLED_KEPT_SECONDS)

    async def refused(self, message: str, for_seconds: float) -> None:
        """Failed verification: waiters, and whoever asks within ``for_seconds``, fail too."""
        await self._settle(json.dumps({"refused": message}), for_seconds)

    async def release(self) -> None:
        """Failed otherwise: the next to ask claims the file again."""
        self._renewing.cancel()
        try:
            await run_in_threadpool(self._shared.store.release, self._key, self._shared.holder)
        except PackyardError as exc:  # it runs out on its own
            log.warning("releasing the claim on an upstream download: %s", exc.message)

    async def _settle(self, outcome: str, keep_seconds: float) -> None:
        self._renewing.cancel()
        shared = self._shared
        now = shared.now()
        try:
            await run_in_threadpool(shared.store.settle, self._key, shared.holder, outcome,
                                    now, now + timedelta(seconds=keep_seconds))
        except PackyardError as exc:  # waiters take the claim over when it runs out
            log.warning("recording an upstream download's outcome: %s", exc.message)


class SharedPulls:
    """Claims on upstream downloads for one process (its ``holder`` name is unique)."""

    def __init__(self, store: ClaimStore, lease_seconds: float,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.now = now
        self.holder = f"{socket.gethostname()[:80]}/{os.getpid()}/{secrets.token_hex(4)}"

    def expiry(self) -> datetime:
        return self.now() + timedelta(seconds=self.lease_seconds)

    async def claim_or_wait(self, key: str, on_wait: Callable[[], None] = lambda: None
                            ) -> HeldClaim | PulledElsewhere | RefusedElsewhere:
        """Claim ``key`` for this process, or wait for the process that holds it and return
        how it ended; ``on_wait`` is called once if this waits."""
        waited = False
        while True:
            now = self.now()
            if await run_in_threadpool(self.store.claim, key, self.holder, now,
                                       now + timedelta(seconds=self.lease_seconds)):
                return HeldClaim(self, key)
            if not waited:
                waited = True
                on_wait()
            settled = await self._wait(key)
            if settled is not None:
                return settled

    async def _wait(self, key: str) -> PulledElsewhere | RefusedElsewhere | None:
        """The outcome of another process's claim on ``key``; None once it is free."""
        delay = _FIRST_POLL_SECONDS
        while True:
            claim = await run_in_threadpool(self.store.look, key)
            if claim is None:
                return None
            if claim.outcome is not None:
                return _outcome(claim.outcome)
            if claim.expires_at <= self.now():
                log.warning("the claim of %s on an upstream download ran out; taking it over",
                            claim.holder)
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, _MAX_POLL_SECONDS)


def _outcome(text: str) -> PulledElsewhere | RefusedElsewhere:
    document = json.loads(text)
    if "refused" in document:
        return RefusedElsewhere(str(document["refused"]))
    return PulledElsewhere(Digests(**document["digests"]), document["keeper"])
