"""The access log (``--access-log``): one JSON line per request, off by default.

Each line: ``time``, ``requestId`` (the ``x-amzn-RequestId`` the client got), ``method``, ``path``
(without the query string), ``status``, ``bytesIn``, ``bytesOut``, ``durationMs``, ``principal``
(the caller's ARN once authenticated), ``sourceIp``, ``userAgent``, and the ``surface`` and
``operation`` the request was for. Answers the server's fast lane wrote from memory are logged
too (``"fastLane": true``, no principal: the grant they reuse is not looked at again).

Lines are appended with one ``write`` each, so the workers of ``--workers N`` can share one file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any


class AccessLog:
    """Appends JSON lines to a file, or to standard output (``-``)."""

    def __init__(self, target: str) -> None:
        self.target = target
        if target == "-":
            self._fd = sys.stdout.fileno()
            self._owned = False
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._owned = True

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str)
        # A closed pipe or a full disk must not fail the request.
        with contextlib.suppress(OSError):
            os.write(self._fd, line.encode("utf-8", "replace") + b"\n")

    def fast_lane(self, request_id: str, method: str, path: str, status: int, size: int,
                  client: str | None, user_agent: str | None) -> None:
        """An answer from memory, written as soon as the request's head was parsed (in the
        same callback): there is no duration to measure, so ``durationMs`` is 0."""
        self.write({"time": _now(), "requestId": request_id, "method": method, "path": path,
                    "status": status, "bytesIn": 0, "bytesOut": size, "durationMs": 0.0,
                    "sourceIp": client, "userAgent": user_agent, "fastLane": True})

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)


def _now() -> str:
    moment = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + \
        f".{int(moment % 1 * 1000):03d}Z"


now_text = _now
