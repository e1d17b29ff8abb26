"""Sending the outbox's events to the webhooks: signed, retried with backoff, in order.

One thread per server process; one process at a time sends (a lease in the database, renewed
while held, handed back by a clean stop, taken over by another worker or replica when it runs
out after a crash), so every webhook gets
its events in the order they were committed. Each webhook has a cursor (``webhook_cursors``):
the id of the last event it acknowledged (a 2xx answer) or that is not for it. An event is sent
until it is acknowledged, with exponential backoff between attempts (1 s, 2 s, 4 s, … at most
``MAX_BACKOFF``), and later events for that webhook wait behind it: delivery is at least once
(a crash between an acknowledgement and the cursor's update sends that event again; receivers
deduplicate by ``id``), in order. An event still refused after ``MAX_AGE`` is given up, logged
as an error and counted in ``packyard_event_deliveries{result="dropped"}``.

Each request carries ``X-Packyard-Signature: sha256=HEX``, the HMAC-SHA256 of
``TIMESTAMP + "." + BODY`` under the webhook's secret, with ``X-Packyard-Timestamp`` (Unix
seconds) and ``X-Packyard-Event-Id``: a receiver checks the signature and the timestamp's age.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from packyard import __version__
from packyard.metadata.changes import ChangeLog
from packyard.metadata.outbox import EventOutbox, OutboxEvent, envelope
from packyard.metadata.schema import event_dispatch_lease, webhook_cursors
from packyard.webhooks.config import Webhook, WebhookConfig

log = logging.getLogger("packyard.webhooks")

LEASE = timedelta(seconds=30)
MAX_BACKOFF = 300.0
MAX_AGE = timedelta(hours=24)
# Sent events are kept this long in the outbox (for `packyard audit`-style inspection) before
# they are pruned.
KEEP_SENT = timedelta(hours=1)
_BATCH = 50


# The webhook a request of this context is sent to (``_send``), for ``WebhookUrlsHidden``.
_sending: ContextVar[str | None] = ContextVar("packyard_webhook_sending", default=None)


class WebhookUrlsHidden(logging.Filter):
    """httpx logs each request's URL whole, and a webhook's URL may be its receiver's secret
    (a token in its path, as chat services' incoming webhooks have): a webhook's request line
    names the webhook and its host instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = _sending.get()
        if name is not None and isinstance(record.args, tuple) and len(record.args) >= 2:
            url = httpx.URL(str(record.args[1]))
            # The port too (None when the scheme's own): a receiver on 127.0.0.1:9000 was
            # logged as http://127.0.0.1/…, which is another address.
            port = "" if url.port is None else f":{url.port}"
            record.args = (record.args[0], f"{url.scheme}://{url.host}{port}/… (webhook {name})",
                           *record.args[2:])
        return True


def _hide_webhook_urls() -> None:
    """Install ``WebhookUrlsHidden`` on httpx's logger (once)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, WebhookUrlsHidden) for f in logger.filters):
        logger.addFilter(WebhookUrlsHidden())


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Packyard-Signature`` value of ``body`` sent at ``timestamp``."""
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body,
                                hashlib.sha256).hexdigest()


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return float(min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1)))


@dataclass
class _Cursor:
    last_event_id: int
    attempts: int
    next_attempt_at: datetime | None


class WebhookDispatcher:
    """Delivers events to the configured webhooks from a thread of its own."""

    def __init__(self, config: WebhookConfig, outbox: EventOutbox, changes: ChangeLog | None,
                 region: str = "us-east-1", poll_seconds: float = 1.0,
                 transport: httpx.BaseTransport | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._config = config
        self._outbox = outbox
        self._region = region
        self._poll = poll_seconds
        self._now = now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._transport = transport
        self._client: httpx.Client | None = None  # made on the first delivery
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # (webhook, result) -> count, for /metrics: delivered, failed, dropped.
        self.deliveries: dict[tuple[str, str], int] = {}
        self._pruned_at = float("-inf")
        _hide_webhook_urls()
        if changes is not None:
            changes.listeners.append(self._wake.set)

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start sending; new webhooks start from the events committed from now on."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="packyard-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Stop sending; True when the thread is over (it may still be in a slow request)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                return False
            self._thread = None
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("sending webhook events failed; trying again shortly")
                busy = False
            if not busy:
                self._wake.wait(self._poll)
                self._wake.clear()

    # -- one round -----------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Send what is due to every webhook, if this process holds the lease; True when
        there may be more to send at once."""
        webhooks = self._config.current()
        if not webhooks:
            self._prune_unsent()
            return False
        if not self._hold_lease():
            return False
        busy = False
        for webhook in webhooks:
            busy = self._advance(webhook) or busy
        self._prune(webhooks)
        return busy

    def _hold_lease(self) -> bool:
        now = self._now()
        with self._outbox.writer.connect() as conn, conn.begin():
            row = conn.execute(select(event_dispatch_lease).where(
                event_dispatch_lease.c.name == "webhooks")).first()
            if row is None:
                conn.execute(insert(event_dispatch_lease).values(
                    name="webhooks", holder=self.holder, expires_at=now + LEASE))
                return True
            if row.holder != self.holder and row.expires_at > now:
                return False
            conn.execute(update(event_dispatch_lease).where(
                event_dispatch_lease.c.name == "webhooks").values(
                holder=self.holder, expires_at=now + LEASE))
            return True

    def _release_lease(self) -> None:
        try:
            with self._outbox.writer.connect() as conn, conn.begin():
                conn.execute(delete(event_dispatch_lease).where(
                    event_dispatch_lease.c.name == "webhooks",
                    event_dispatch_lease.c.holder == self.holder))
        except Exception:  # the database gone as the server stops: the lease runs out instead
            log.warning("could not hand back the webhooks' sending lease; the next server "
                        "sends once it runs out (%d s)", LEASE.total_seconds(), exc_info=True)

    def _cursor(self, webhook: Webhook) -> _Cursor:
        with self._outbox.reader.connect() as conn, conn.begin():
            row = conn.execute(select(webhook_cursors).where(
                webhook_cursors.c.webhook == webhook.name)).first()
        if row is not None:
            return _Cursor(row.last_event_id, row.attempts, row.next_attempt_at)
        # A webhook seen for the first time gets the events committed from now on.
        start = self._outbox.last_id()
        try:
            with self._outbox.writer.connect() as conn, conn.begin():
                conn.execute(insert(webhook_cursors).values(
                    webhook=webhook.name, last_event_id=start, attempts=0, delivered=0,
                    updated_at=self._now()))
        except IntegrityError:  # another worker starting at the same time made it first
            return self._cursor(webhook)
        log.info("webhook %s: sending the events committed after event %d", webhook.name,
                 start)
        return _Cursor(start, 0, None)

    def initialize(self) -> None:
        """Give every configured webhook its cursor now (at start, before requests)."""
        for webhook in self._config.current():
            self._cursor(webhook)

    def _save(self, webhook: Webhook, **values: object) -> None:
        with self._outbox.writer.connect() as conn, conn.begin():
            conn.execute(update(webhook_cursors).where(
                webhook_cursors.c.webhook == webhook.name).values(
                updated_at=self._now(), **values))

    def _count(self, webhook: Webhook, result: str) -> None:
        key = (webhook.name, result)
        self.deliveries[key] = self.deliveries.get(key, 0) + 1

    def _advance(self, webhook: Webhook) -> bool:
        cursor = self._cursor(webhook)
        now = self._now()
        if cursor.next_attempt_at is not None and cursor.next_attempt_at > now:
            return False
        events = self._outbox.after(cursor.last_event_id, _BATCH)
        passed = cursor.last_event_id
        for event in events:
            if not webhook.wants(event.domain_name, event.document["detail"]["domainOwner"],
                                 event.repository_name):
                passed = event.id
                continue
            error = self._send(webhook, event, cursor.attempts + 1)
            if error is None:
                self._count(webhook, "delivered")
                passed = event.id
                cursor.attempts = 0
                self._save(webhook, last_event_id=passed, attempts=0, next_attempt_at=None,
                           last_error=None, delivered=webhook_cursors.c.delivered + 1)
                continue
            self._count(webhook, "failed")
            sent_at = datetime.fromisoformat(event.document["time"].replace("Z", "+00:00"))
            if now - sent_at > MAX_AGE:
                log.error("webhook %s: giving up event %s after %d attempts over %s: %s",
                          webhook.name, event.document["id"], cursor.attempts + 1, MAX_AGE,
                          error)
                self._count(webhook, "dropped")
                passed = event.id
                self._save(webhook, last_event_id=passed, attempts=0, next_attempt_at=None,
                           last_error=error)
                continue
            attempts = cursor.attempts + 1
            wait = backoff(attempts)
            log.warning("webhook %s: event %s not delivered (%s); attempt %d, next in %.0fs",
                        webhook.name, event.document["id"], error, attempts, wait)
            self._save(webhook, last_event_id=passed, attempts=attempts,
                       next_attempt_at=now + timedelta(seconds=wait), last_error=error)
            return False
        if passed != cursor.last_event_id:
            self._save(webhook, last_event_id=passed)
        return len(events) == _BATCH

    def _send(self, webhook: Webhook, event: OutboxEvent, attempt: int) -> str | None:
        """POST one event; None when the webhook acknowledged it, else why not."""
        body = json.dumps(envelope(event.document, self._region),
                          separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json",
                   "X-Packyard-Event-Id": event.document["id"],
                   "X-Packyard-Webhook": webhook.name,
                   "X-Packyard-Timestamp": timestamp,
                   "X-Packyard-Delivery-Attempt": str(attempt),
                   "X-Packyard-Signature": signature(webhook.secret, timestamp, body)}
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(10.0), follow_redirects=False, transport=self._transport,
                headers={"User-Agent": f"Packyard-Webhooks/{__version__}"})
        sending = _sending.set(webhook.name)
        try:
            response = self._client.post(webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            _sending.reset(sending)
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _prune(self, webhooks: list[Webhook]) -> None:
        with self._outbox.reader.connect() as conn, conn.begin():
            rows = conn.execute(select(webhook_cursors.c.webhook,
                                       webhook_cursors.c.last_event_id)).all()
        configured = {hook.name for hook in webhooks}
        sent = [row.last_event_id for row in rows if row.webhook in configured]
        if sent:
            self._outbox.prune(min(sent), self._now() - KEEP_SENT)

    def _prune_unsent(self) -> None:
        """Without webhooks, events are kept ``KEEP_SENT`` and then dropped (checked at most
        once a minute)."""
        moment = time.monotonic()
        if moment - self._pruned_at < 60:
            return
        self._pruned_at = moment
        self._outbox.prune(self._outbox.last_id(), self._now() - KEEP_SENT)

    def close(self) -> None:
        """Stop, and hand the lease back: the next process (a restart, another worker or
        replica) sends at once instead of waiting ``LEASE`` for it to run out. Not while the
        thread may still be sending: another sender then could reorder a webhook's events."""
        if self.stop():
            self._release_lease()
        if self._client is not None:
            self._client.close()
            self._client = None
