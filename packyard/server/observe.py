"""Every request through Starlette, observed once: its id, its audit event, its counts, its
access-log line.

``Observe`` is the outermost middleware of the app. For each HTTP request it

1. makes the request id and a ``RequestNote`` (``http/request_note.py``) for the surface to fill,
   and sets the id for the request's log lines;
2. when the response starts, adds ``x-amzn-RequestId`` (unless the surface set it) and, if the
   surface noted an event to record, records it in the audit trail and waits until it is
   durable before the status line goes out: an acknowledged request's event is never lost. An
   event that cannot be recorded turns the answer into a 500 (the audit trail is a control;
   the change itself may have been made, which the server log says), or a 503 when the trail's
   database is down; a request the surface answered 503 for that outage keeps its own answer;
3. when the response ends, counts it (``server/traffic.py``), writes its access-log line, and
   for an error answer one line in the server log with its id (``log_failure``), unless the
   surface wrote one.

Answers the hot path gives from memory never reach Starlette; they are counted where they are
sent (``PackyardApp``, ``server/protocol.py``).
"""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from packyard.audit.events import RequestFacts, api_event
from packyard.audit.trail import AuditTrail
from packyard.errors import Unavailable
from packyard.http.request_note import (
    RequestIds,
    attach,
    bind_request_id,
    kept_request_id,
    release_request_id,
)
from packyard.server.access_log import AccessLog, now_text
from packyard.server.response_cycle import PATHSEND, UNSENT, ZEROCOPYSEND
from packyard.server.traffic import Traffic

log = logging.getLogger("packyard.audit")
requests_log = logging.getLogger("packyard.request")

_REQUEST_ID = b"x-amzn-requestid"
_AUDIT_FAILED = (b"The request could not be recorded in the audit trail; see the server log\n")
_DISK_FULL = (b"The request could not be recorded in the audit trail: the server's disk is "
              b"full; try again shortly\n")


def _disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass
class Observer:
    """What every observed request shares: ids, the audit trail, the counters, the access log."""

    ids: RequestIds
    trail: AuditTrail
    traffic: Traffic
    access_log: AccessLog | None
    region: str
    account_id: str


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Observe:
    """The middleware (``Middleware(Observe, observer=...)``, first in the app's list)."""

    def __init__(self, app: ASGIApp, observer: Observer) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observer = self.observer
        # The first-read path's, when it handed the request on: one id for all of it.
        request_id = kept_request_id(scope) or observer.ids.next()
        token = bind_request_id(request_id)
        note = attach(scope, request_id)
        started = time.perf_counter()
        received = 0
        sent = 0
        status = 0
        replaced = False
        length = 0  # the answer's Content-Length: what a file sent by its path carries

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def observed_send(message: Message) -> None:
            nonlocal sent, status, replaced, length
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                length = _content_length(headers)
                if not any(name.lower() == _REQUEST_ID for name, _ in headers):
                    headers.append((_REQUEST_ID, request_id.encode("ascii")))
                message = {**message, "headers": headers}
                if note.recorded and observer.trail.enabled:
                    try:
                        await observer.trail.record_async(api_event(note, self._facts(
                            scope, request_id)))
                    except Exception as error:
                        # The database being down (the scaled setup's trail) is an outage like
                        # any other: 503 with Retry-After, which clients retry; so is a full
                        # disk under the file trail (/ready says so meanwhile).
                        outage = isinstance(error, Unavailable) or _disk_full(error)
                        if outage and (status == 503 or (status == 507
                                                         and _disk_full(error))):
                            # The surface met the same outage (or full disk) and answered it
                            # in its own protocol (CodeArtifact's ServiceUnavailableException,
                            # npm's {"error"}, twine's reason): that answer says why, ours
                            # would not. Nothing was done, so only a refusal's event is lost.
                            log.warning("could not record %s %s in the audit trail (%s); "
                                        "answering the surface's own %d", note.source,
                                        note.name, error, status)
                            observer.traffic.audit_failures += 1
                            note.logged = True
                            await send(message)
                            return
                        replacement = 503 if outage else 500
                        if outage:  # its cause was logged on one line where it was met
                            log.warning("could not record %s %s in the audit trail (%s); "
                                        "answering 503", note.source, note.name, error)
                        else:
                            log.exception("could not record %s %s in the audit trail; "
                                          "answering 500 instead of %d", note.source,
                                          note.name, status)
                        observer.traffic.audit_failures += 1
                        note.logged = True
                        replaced = True
                        status = replacement
                        body = _DISK_FULL if _disk_full(error) else _AUDIT_FAILED
                        headers = [(b"content-type", b"text/plain; charset=utf-8"),
                                   (b"content-length", str(len(body)).encode()),
                                   (_REQUEST_ID, request_id.encode("ascii"))]
                        if outage:
                            headers.append((b"retry-after", b"2"))
                        await send({"type": "http.response.start", "status": replacement,
                                    "headers": headers})
                        await send({"type": "http.response.body", "body": body})
                        return
            elif message["type"] == "http.response.body":
                if replaced:
                    return
                sent += len(message.get("body", b""))
            elif message["type"] == ZEROCOPYSEND:  # a range of a file, sent by the kernel
                if replaced:
                    return
                sent += message.get("count") or 0
            elif message["type"] == PATHSEND:  # a whole file, its Content-Length
                if replaced:
                    return
                sent += length
            await send(message)
            # What did not go out because the client had gone (uvicorn drops it silently):
            # a download cut short counts the bytes it got, not the file's size.
            sent -= scope.pop(UNSENT, 0)

        observer.traffic.in_flight += 1
        try:
            await self.app(scope, counted_receive, observed_send)
        finally:
            observer.traffic.in_flight -= 1
            if (status >= 400 or not status) and not note.logged:
                log_failure(scope, note, status)  # while the request's id is the log's
            release_request_id(token)
            elapsed = time.perf_counter() - started
            observer.traffic.count(note.surface, note.route, status or 500, elapsed, received,
                                   sent)
            if note.upload_outcome is not None or (note.name == "PublishPackageVersion"
                                                   and note.error_code is not None):
                observer.traffic.count_upload(note.surface, note.upload_outcome
                                              or note.error_code or "failed")
            if observer.access_log is not None:
                observer.access_log.write(access_entry(scope, request_id, note, status,
                                                       received, sent, elapsed))

    def _facts(self, scope: Scope, request_id: str) -> RequestFacts:
        client = scope.get("client")
        return RequestFacts(request_id=request_id, time=datetime.now(UTC),
                            source_ip=client[0] if client else None,
                            user_agent=_header(scope, b"user-agent"),
                            region=self.observer.region, account_id=self.observer.account_id)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def log_failure(scope: Scope, note: Any, status: int) -> None:
    """One line in the server log for a request answered with an error (the request id is
    the record's own): which request, the status, and what the refusal said. A surface that
    writes its own line (the APIs' "refused", every traceback) marks the note ``logged``.
    A read of something that is not there is routine (pip asks every index for every
    project), so it is a debug line; a server error is a warning."""
    method = scope.get("method", "?")
    if not status or status >= 500:
        level = logging.WARNING
    elif status == 404 and method in ("GET", "HEAD"):
        level = logging.DEBUG
    else:
        level = logging.INFO
    if not requests_log.isEnabledFor(level):
        return
    said = note.error_message or note.reason
    requests_log.log(level, "%s %s answered %s%s%s", method, _printable(scope.get("path", "")),
                     status or "nothing (the error is below)",
                     f" {note.error_code}" if note.error_code else "",
                     f": {_printable(said)}" if said else "")


def _printable(text: str) -> str:
    """``text`` on one line: a path or message quoting what a client sent cannot forge a line
    of the log."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def access_entry(scope: Scope, request_id: str, note: Any, status: int, received: int,
                 sent: int, elapsed: float) -> dict[str, Any]:
    """A request's access-log line (``server/access_log.py``), from its note."""
    client = scope.get("client")
    return {"time": now_text(), "requestId": request_id, "method": scope.get("method"),
            "path": scope.get("path"), "status": status or 500, "bytesIn": received,
            "bytesOut": sent, "durationMs": round(elapsed * 1000, 3),
            "principal": note.caller.arn if note.caller is not None else None,
            "sourceIp": client[0] if client else None,
            "userAgent": _header(scope, b"user-agent"), "surface": note.surface,
            "operation": note.route, "errorCode": note.error_code}
