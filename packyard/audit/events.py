"""Audit events in CloudTrail's shape, built from what a surface noted about a request.

A CloudTrail record (the AWS CloudTrail User Guide, "CloudTrail record contents"): ``eventTime``,
``eventSource``, ``eventName``, ``userIdentity`` (type, ARN, account, access key id),
``sourceIPAddress``, ``userAgent``, ``requestParameters``, ``responseElements``, ``errorCode``
and ``errorMessage`` on a failure, ``requestID``, ``eventID``, ``readOnly``, ``resources``.

Secrets never enter a record: a parameter or response member whose name says it holds one
(a secret access key, a password, a session or authorization token) is replaced by
``HIDDEN_DUE_TO_SECURITY_REASONS``, as CloudTrail does, wherever it is nested. Records are
bounded whatever the request: long strings are cut, and response elements larger than
``MAX_RESPONSE_BYTES`` are left out (CloudTrail leaves out large ones too, and read-only
calls' entirely).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packyard.http.request_note import Caller, RequestNote

EVENT_VERSION = "1.09"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
MAX_STRING = 2048
MAX_USER_AGENT = 1024
MAX_RESPONSE_BYTES = 4096
# Names of members that are paging cursors, not credentials, though they end in "token".
_NOT_SECRET = frozenset({"nexttoken", "marker", "paginationtoken"})


def is_secret_name(name: str) -> bool:
    """Whether a member called ``name`` holds a credential."""
    lowered = name.lower().replace("_", "").replace("-", "")
    if lowered in _NOT_SECRET:
        return False
    return ("secret" in lowered or "password" in lowered or "privatekey" in lowered
            or lowered.endswith("token"))


def redacted(value: Any) -> Any:
    """``value`` with every secret member hidden and every long string cut."""
    if isinstance(value, dict):
        return {key: HIDDEN if isinstance(key, str) and is_secret_name(key) and item is not None
                else redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + f"…({len(value) - MAX_STRING} more characters)"
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bytes):
        return f"({len(value)} bytes)"
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_identity(caller: Caller | None, account_id: str) -> dict[str, Any]:
    """CloudTrail's ``userIdentity``: who made the request, or an anonymous caller."""
    if caller is None:
        return {"type": "Unknown", "accountId": account_id}
    kind = {"root": "Root", "user": "IAMUser", "assumed-role": "AssumedRole"}.get(
        caller.kind, caller.kind)
    identity: dict[str, Any] = {"type": kind, "principalId": caller.user_id, "arn": caller.arn,
                                "accountId": caller.account_id,
                                "accessKeyId": caller.access_key_id}
    if caller.kind == "user":
        identity["userName"] = caller.name
    if caller.kind == "assumed-role" and caller.role_arn:
        identity["sessionContext"] = {"sessionIssuer": {
            "type": "Role", "arn": caller.role_arn, "accountId": caller.account_id,
            "userName": caller.role_arn.rsplit("/", 1)[-1]}}
    return {k: v for k, v in identity.items() if v is not None}


@dataclass(frozen=True)
class RequestFacts:
    """What the server knows of a request whatever its surface."""

    request_id: str
    time: datetime
    source_ip: str | None
    user_agent: str | None
    region: str
    account_id: str


def api_event(note: RequestNote, facts: RequestFacts) -> dict[str, Any]:
    """The audit record of one request, as ``note`` describes it."""
    event: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(note.caller, facts.account_id),
        "eventTime": _iso(facts.time),
        "eventSource": note.source,
        "eventName": note.name,
        "awsRegion": facts.region,
        "sourceIPAddress": facts.source_ip,
        "userAgent": (facts.user_agent or "")[:MAX_USER_AGENT] or None,
        "requestParameters": redacted(note.request_parameters)
        if note.request_parameters is not None else None,
        "responseElements": None if note.read_only or note.error_code else
        _small(note.response_elements),
        "requestID": facts.request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": note.read_only,
        "resources": note.resources or None,
        "eventType": "AwsApiCall",
        "managementEvent": not note.name.startswith(("ReadFromRepository",
                                                     "PublishPackageVersion")),
        "recipientAccountId": facts.account_id,
    }
    if note.error_code is not None:
        event["errorCode"] = note.error_code
        event["errorMessage"] = (note.error_message or "")[:MAX_STRING]
    return {k: v for k, v in event.items() if v is not None}


def _small(elements: dict[str, Any] | None) -> dict[str, Any] | None:
    if elements is None:
        return None
    hidden = redacted(elements)
    if len(json.dumps(hidden, default=str)) > MAX_RESPONSE_BYTES:
        return None
    assert isinstance(hidden, dict)
    return hidden


def local_event(name: str, *, user: str, time: datetime, parameters: dict[str, Any],
                response: dict[str, Any] | None, account_id: str, region: str,
                error: tuple[str, str] | None = None) -> dict[str, Any]:
    """The record of an administrative command run on the server's machine (``packyard token
    revoke``): no AWS API, so its source is ``packyard.local`` and its caller the system user
    who ran it."""
    event: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"type": "LocalUser", "userName": user, "accountId": account_id},
        "eventTime": _iso(time),
        "eventSource": "packyard.local",
        "eventName": name,
        "awsRegion": region,
        "requestParameters": redacted(parameters),
        "responseElements": _small(response),
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "PackyardCommand",
        "managementEvent": True,
        "recipientAccountId": account_id,
    }
    if error is not None:
        event["errorCode"], event["errorMessage"] = error
    return {k: v for k, v in event.items() if v is not None}
