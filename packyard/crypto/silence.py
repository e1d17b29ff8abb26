"""A key provider that stops answering (down, hung): one outage, not one failure per request.

Both network providers (transit, KMS) use it around each call. After a call gets no answer,
the calls of the next few seconds fail at once with the same reason (``KeyProviderSilent``:
503, try again), so requests queued behind a hung provider on the server's worker threads wait
one timeout, not one each per turn of the pool; the provider is asked again after that. The
outage's start and end are logged once each, not per request.
"""

from __future__ import annotations

import logging
import time

from packyard.crypto.errors import KeyProviderSilent

log = logging.getLogger("packyard.encryption")


class ProviderSilence:
    """Whether the provider ``name`` ("the transit server", "KMS") at ``where`` answers."""

    def __init__(self, name: str, where: str, *, quiet_seconds: float = 3.0) -> None:
        self._name, self._where = name, where
        self._quiet_seconds = quiet_seconds
        # When the provider last failed to answer (monotonic), and why.
        self._since: float | None = None
        self._silent = False  # since the last call that got no answer (logged once per outage)
        self._reason = ""

    def check(self) -> None:
        """``KeyProviderSilent`` at once while the last call that got no answer is recent."""
        since = self._since
        if since is not None and time.monotonic() - since < self._quiet_seconds:
            raise KeyProviderSilent(f"{self._sentence()} did not answer "
                                    f"{time.monotonic() - since:.0f} s ago ({self._reason}); "
                                    "asking again shortly")

    def no_answer(self, reason: str) -> KeyProviderSilent:
        """Record a call that got no answer; the error to raise for it."""
        if not self._silent:
            log.warning("%s at %s did not answer (%s): files whose keys are not open, and new "
                        "files, are refused until it does", self._name, self._where, reason)
        self._silent = True
        self._since, self._reason = time.monotonic(), reason
        return KeyProviderSilent(f"{self._sentence()} did not answer: {reason}")

    def answered(self) -> None:
        """Record a call that got an answer (any: a refusal is an answer)."""
        if self._silent:
            log.warning("%s at %s answers again", self._name, self._where)
        self._since, self._silent = None, False

    def _sentence(self) -> str:
        return self._name[0].upper() + self._name[1:]
