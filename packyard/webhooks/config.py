"""Which webhooks get which events: a JSON file, re-read when it changes.

Configured in a file, not through an API: the webhooks' HMAC secrets then live where the
operator keeps the server's other secrets (owner-only, in a configuration manager), not in the
database or in API calls and their audit events; the file can be reviewed and versioned; and no
new API surface needs its own authorization. CodeArtifact itself has no API for this (its events
go to EventBridge, configured in EventBridge), so there was no API shape to follow.

``webhooks.json`` in the data directory, or the file ``PACKYARD_WEBHOOKS_FILE`` names::

    {"webhooks": [
      {"name": "ci", "url": "https://ci.example.com/hooks/packages",
       "secretEnv": "PACKYARD_CI_WEBHOOK_SECRET", "domain": "acme", "repository": "release"},
      {"name": "audit", "url": "http://127.0.0.1:9000/", "secret": "…", "domain": "acme"}
    ]}

``name`` (unique; its delivery state is kept under it), ``url`` (http or https), ``domain``
(events of that domain only), ``repository`` (optional: only that repository's), ``domainOwner``
(optional), and the HMAC key: ``secret`` itself or ``secretEnv``, the variable that holds it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("packyard.webhooks")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    secret: bytes = field(repr=False)
    domain: str
    repository: str | None = None
    domain_owner: str | None = None

    def wants(self, domain: str, owner: str, repository: str) -> bool:
        return (domain == self.domain and (self.repository is None
                                          or repository == self.repository)
                and (self.domain_owner is None or owner == self.domain_owner))


class WebhookConfigError(ValueError):
    """A webhooks file that cannot be used, with the reason in the user's terms."""


def parse_webhooks(text: str, where: str, environ: Mapping[str, str] | None = None
                   ) -> list[Webhook]:
    """The webhooks a file's text declares; ``WebhookConfigError`` naming the problem."""
    env = os.environ if environ is None else environ
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise WebhookConfigError(f"{where} is not valid JSON: {exc}") from None
    entries = document.get("webhooks") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise WebhookConfigError(f'{where} must be an object with a "webhooks" list')
    found: list[Webhook] = []
    for index, entry in enumerate(entries):
        found.append(_webhook(entry, f"{where}: webhooks[{index}]", env))
    names = [hook.name for hook in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise WebhookConfigError(f"{where}: webhook names must be unique; "
                                 f"{', '.join(duplicates)} appear more than once")
    return found


def _text(entry: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise WebhookConfigError(f'{where}: "{key}" must be a non-empty string')
    return value


def _webhook(entry: Any, where: str, env: Mapping[str, str]) -> Webhook:
    if not isinstance(entry, dict):
        raise WebhookConfigError(f"{where} must be an object")
    name = _text(entry, "name", where)
    assert name is not None
    if not _NAME.fullmatch(name):
        raise WebhookConfigError(f"{where}: name {name!r} may hold letters, digits, '.', '_' "
                                 "and '-' (up to 128)")
    url = _text(entry, "url", where)
    assert url is not None
    if not url.startswith(("http://", "https://")):
        raise WebhookConfigError(f"{where}: url must be an http:// or https:// URL")
    domain = _text(entry, "domain", where)
    assert domain is not None
    secret = _text(entry, "secret", where, required=False)
    variable = _text(entry, "secretEnv", where, required=False)
    if (secret is None) == (variable is None):
        raise WebhookConfigError(f'{where}: give the HMAC key as "secret" or as "secretEnv" '
                                 "(the environment variable that holds it), one of the two")
    if variable is not None:
        secret = env.get(variable)
        if not secret:
            raise WebhookConfigError(f"{where}: the environment variable {variable} that "
                                     "should hold the webhook's secret is not set")
    assert secret is not None
    return Webhook(name=name, url=url, secret=secret.encode("utf-8"), domain=domain,
                   repository=_text(entry, "repository", where, required=False),
                   domain_owner=_text(entry, "domainOwner", where, required=False))


class WebhookConfig:
    """The webhooks of one file, re-read when its modification time changes; a file that
    turns invalid keeps the last good configuration (and says why in the log)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._webhooks: list[Webhook] = []

    def current(self) -> list[Webhook]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None:
                log.info("%s is gone: no webhooks", self.path)
            self._stamp, self._webhooks = None, []
            return self._webhooks
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._webhooks = parse_webhooks(self.path.read_text("utf-8"), str(self.path))
                log.info("webhooks from %s: %s", self.path,
                         ", ".join(hook.name for hook in self._webhooks) or "none")
            except (OSError, WebhookConfigError) as exc:
                log.error("%s; keeping the webhooks configured before", exc)
        return self._webhooks
