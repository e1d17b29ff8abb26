"""Audit events of commands run on the server's machine (``packyard token revoke``, ``packyard
import``): no request, so the caller is the system user who ran the command and the source
``packyard.local``; recorded where the server records its own."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import Any

from packyard.audit.events import local_event
from packyard.audit.trail import open_trail
from packyard.settings import Settings


def system_user() -> str:
    """Who runs this command, as the operating system names them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


class LocalAudit:
    """The audit trail of one command run; ``close`` when the command ends."""

    def __init__(self, settings: Settings, engines: tuple[Any, Any] | None) -> None:
        self._settings = settings
        self._trail = open_trail(settings, engines)
        self._user = system_user()

    def record(self, name: str, parameters: dict[str, Any], response: dict[str, Any] | None,
               error: tuple[str, str] | None = None) -> None:
        """Keep one event; returns once it is durable."""
        settings = self._settings
        self._trail.record(local_event(
            name, user=self._user, time=datetime.now(UTC), parameters=parameters,
            response=response, account_id=settings.account_id, region=settings.region,
            error=error))

    def close(self) -> None:
        self._trail.close()
