"""Reading the audit trail from the console: who may, and what they see.

Reading it is CloudTrail's ``cloudtrail:LookupEvents`` (on ``*``), checked by the one
authorizer like every other action: root may; an IAM user or role needs a policy that allows
it. The newest events come first, at most ``limit`` of them; each read scans the trail (the file
segments, or the rows the filters select), so narrow it with a time range on a large trail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from packyard.audit.query import AuditFilter
from packyard.auth.authorize import Authorizer
from packyard.auth.principal import Principal

LOOKUP_ACTION = "cloudtrail:LookupEvents"


class AuditLog:
    """The audit trail, as a principal may read it."""

    def __init__(self, authorizer: Authorizer,
                 read: Callable[[AuditFilter], Sequence[dict[str, Any]]]) -> None:
        self._authorizer = authorizer
        self._read = read

    def may_read(self, principal: Principal) -> bool:
        return self._authorizer.is_allowed(principal, LOOKUP_ACTION, "*")

    def lookup(self, principal: Principal, wanted: AuditFilter,
               limit: int = 200) -> list[dict[str, Any]]:
        """The newest ``limit`` events that match, newest first."""
        self._authorizer.check(principal, LOOKUP_ACTION, "*")
        found = self._read(wanted)
        return list(reversed(found[-limit:]))
