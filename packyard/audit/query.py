"""Which audit events ``packyard audit`` shows: its filters, applied to events from any sink."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class AuditFilter:
    """Every condition is optional; an event must meet all that are given."""

    since: datetime | None = None
    until: datetime | None = None
    # An ARN, an access key id, a user name, or the end of an ARN (``user/alice``).
    principal: str | None = None
    name: str | None = None  # eventName, exactly
    # Part of a resource: an ARN, or a domain, repository or package name in the parameters.
    resource: str | None = None
    errors_only: bool = False

    def matches(self, event: dict[str, Any]) -> bool:
        when = event_time(event)
        if self.since is not None and (when is None or when < self.since):
            return False
        if self.until is not None and (when is None or when >= self.until):
            return False
        if self.name is not None and event.get("eventName") != self.name:
            return False
        if self.errors_only and "errorCode" not in event:
            return False
        if self.principal is not None and not _is_principal(event, self.principal):
            return False
        return self.resource is None or _names_resource(event, self.resource)


def event_time(event: dict[str, Any]) -> datetime | None:
    raw = event.get("eventTime")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_principal(event: dict[str, Any], wanted: str) -> bool:
    identity = event.get("userIdentity") or {}
    arn = str(identity.get("arn", ""))
    if wanted in (arn, identity.get("accessKeyId"), identity.get("userName"),
                  identity.get("principalId")):
        return True
    return bool(arn) and (arn.endswith("/" + wanted) or arn.endswith(":" + wanted))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _names_resource(event: dict[str, Any], wanted: str) -> bool:
    for resource in event.get("resources") or []:
        if wanted in str(resource.get("ARN", "")):
            return True
    return any(wanted == text or (len(wanted) > 3 and wanted in text)
               for text in _strings(event.get("requestParameters")))


def select(events: Iterable[dict[str, Any]], wanted: AuditFilter) -> list[dict[str, Any]]:
    """The events that match, ordered by time (segments of several processes interleave)."""
    found = [event for event in events if wanted.matches(event)]
    found.sort(key=lambda event: str(event.get("eventTime", "")))
    return found


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_moment(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (``2026-05-01``, ``2026-05-01T12:00:00Z``; UTC when no zone is given)
    or an age (``15m``, ``2h``, ``7d``: that long ago); ValueError saying which forms work."""
    raw = text.strip()
    if raw and raw[-1] in _UNITS and raw[:-1].isdigit():
        return now - timedelta(seconds=int(raw[:-1]) * _UNITS[raw[-1]])
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a time (2026-05-01T12:00:00Z) nor an age "
                         "(15m, 2h, 7d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
