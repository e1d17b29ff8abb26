"""The audit trail in the catalog's database, for the scaled setup (``PACKYARD_AUDIT_LOG=
database``; the default on PostgreSQL): every replica writes to one place, and ``packyard audit``
reads it from anywhere that reaches the database.

Events are inserted a batch at a time (``group_commit``), committed before their requests are
answered, without the catalog's writer lock (``engine.UNSERIALIZED``): an audit insert orders
with nothing, so it does not wait behind publishes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from packyard.metadata.engine import UNSERIALIZED, outages_as_unavailable
from packyard.metadata.schema import audit_events

_PAGE = 1000


def _moment(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00"))


class DatabaseAuditLog:
    """Audit events as rows of ``audit_events``."""

    def __init__(self, writer: Engine, reader: Engine) -> None:
        self._writer = writer.execution_options(**{UNSERIALIZED: True})
        self._reader = reader

    def write_batch(self, events: Sequence[dict[str, Any]]) -> None:
        rows = [{"event_time": _moment(event), "event_source": event.get("eventSource", ""),
                 "event_name": event.get("eventName", ""),
                 "principal_arn": event.get("userIdentity", {}).get("arn"),
                 "error_code": event.get("errorCode"),
                 "document": json.dumps(event, separators=(",", ":"), default=str)}
                for event in events]
        # An outage is DatabaseUnavailable, as everywhere: the request is answered 503.
        with outages_as_unavailable(), self._writer.connect() as conn, conn.begin():
            conn.execute(insert(audit_events), rows)

    def read(self, since: datetime | None = None, until: datetime | None = None,
             name: str | None = None, errors_only: bool = False) -> Iterator[dict[str, Any]]:
        """The events in time order, with the filters SQL can apply."""
        last = 0
        while True:
            query = select(audit_events.c.id, audit_events.c.document).where(
                audit_events.c.id > last).order_by(audit_events.c.id).limit(_PAGE)
            if since is not None:
                query = query.where(audit_events.c.event_time >= since)
            if until is not None:
                query = query.where(audit_events.c.event_time < until)
            if name is not None:
                query = query.where(audit_events.c.event_name == name)
            if errors_only:
                query = query.where(audit_events.c.error_code.is_not(None))
            with self._reader.connect() as conn, conn.begin():
                rows = conn.execute(query).all()
            if not rows:
                return
            last = rows[-1].id
            for row in rows:
                yield json.loads(row.document)

    def close(self) -> None:
        pass
