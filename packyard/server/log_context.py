"""Every log line written while a request is served carries its request id (the
``x-amzn-RequestId`` the client got): a log-record factory adds ``request_id`` to each record from
the context variable ``server/observe.py`` sets for the request (it follows the request into
worker threads); ``-`` outside a request."""

from __future__ import annotations

import logging
from typing import Any

from packyard.http.request_note import current_request_id

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

_installed = False


def install_request_ids() -> None:
    """Give every log record a ``request_id`` (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def configure_logging(level: str) -> None:
    """The server's log: standard error, each line with its request id."""
    install_request_ids()
    logging.basicConfig(level=level.upper(), format=FORMAT)
