"""A key provider that stops answering (down, hung): one outage, not one failure per request.

Both network providers (transit, KMS) use it around each call. After a call gets no answer,
the calls of the next few seconds fail at once with the same reason (``KeyProviderSilent``:
503, try again), so requests queued behind a hung provider on the server's worker threads wait
one timeout, not one each per turn of the pool; the provider is asked again after that, by one
call at a time: while it is being asked, the others fail at once too (every request that came
during a hung provider's next timeout waited it whole). The outage's start and end are logged
once each, not per request.
"""

from __future__ import annotations

import logging
import threading
import time

from packyard.crypto.errors import KeyProviderSilent

log = logging.getLogger("packyard.encryption")


class ProviderSilence:
    """Whether the provider ``name`` ("the transit server", "KMS") at ``where`` answers."""

    def __init__(self, name: str, where: str, *, quiet_seconds: float = 3.0,
                 probe_seconds: float = 15.0) -> None:
        self._name, self._where = name, where
        self._quiet_seconds = quiet_seconds
        # How long one call asking a silent provider again keeps the others from asking: more
        # than a call's timeout (10 s), so a probe that ended without a word (an error neither
        # answer nor silence) holds no one back for longer.
        self._probe_seconds = probe_seconds
        self._lock = threading.Lock()
        # When the provider last failed to answer (monotonic), and why.
        self._since: float | None = None
        self._silent = False  # since the last call that got no answer (logged once per outage)
        self._reason = ""
        self._probing_until = 0.0  # a call is asking the silent provider again until then

    def check(self) -> None:
        """``KeyProviderSilent`` at once while the last call that got no answer is recent, or
        another call is asking the provider again; else this call may ask it."""
        with self._lock:
            since, now = self._since, time.monotonic()
            if since is None:
                return
            if now - since >= self._quiet_seconds and now >= self._probing_until:
                self._probing_until = now + self._probe_seconds  # this call asks
                return
            reason = self._reason
        raise KeyProviderSilent(f"{self._sentence()} did not answer {now - since:.0f} s ago "
                                f"({reason}); asking again shortly")

    def no_answer(self, reason: str) -> KeyProviderSilent:
        """Record a call that got no answer; the error to raise for it."""
        with self._lock:
            first = not self._silent
            self._silent = True
            self._since, self._reason = time.monotonic(), reason
            self._probing_until = 0.0
        if first:
            log.warning("%s at %s did not answer (%s): files whose keys are not open, and new "
                        "files, are refused until it does", self._name, self._where, reason)
        return KeyProviderSilent(f"{self._sentence()} did not answer: {reason}")

    def answered(self) -> None:
        """Record a call that got an answer (any: a refusal is an answer)."""
        with self._lock:
            was_silent = self._silent
            self._since, self._silent, self._probing_until = None, False, 0.0
        if was_silent:
            log.warning("%s at %s answers again", self._name, self._where)

    def done(self) -> None:
        """A call is over, however it ended: another may ask the provider (what ``answered``
        and ``no_answer`` say too; this for the calls that ended otherwise)."""
        with self._lock:
            self._probing_until = 0.0

    def _sentence(self) -> str:
        return self._name[0].upper() + self._name[1:]
