"""Whether the client of a request has gone: told by the server, asked by a streaming answer.

uvicorn (ASGI spec 2.3) drops what an application sends after the client disconnected without
a word, so an answer streamed from a generator (a blob decrypted or fetched from S3 as it is
sent) would read and decrypt the rest of a file nobody receives. The server's send
(``server/response_cycle.py``) marks the request's scope once a piece did not go out; such an
answer asks after each piece it sent and stops reading.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

_GONE = "packyard.client_gone"


def mark_client_gone(scope: MutableMapping[str, Any]) -> None:
    scope[_GONE] = True


def client_gone(scope: MutableMapping[str, Any]) -> bool:
    """True once a piece of this request's answer could not be sent: the client has gone."""
    return bool(scope.get(_GONE))
