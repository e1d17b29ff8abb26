"""The server log as JSON lines (``--log-format json``), for log shippers (Loki, Elasticsearch,
CloudWatch) that read one JSON object a line.

Each line: ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger``, ``message``, the
request's ``requestId`` (the key the access log uses) when the line was written while a request
was served, and ``exception`` (the formatted traceback) when there is one. Everything else the
server could write to standard error is made a log record in that mode: uvicorn's own lines
(``uvicorn_log_config``), Python's warnings, and exceptions nothing caught (``log_uncaught``).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

_uncaught = logging.getLogger("packyard.uncaught")


class JsonFormatter(logging.Formatter):
    """One record as one line of JSON, ASCII only: non-ASCII and control characters (a
    message's or a traceback's newlines among them) are escaped, so no line is ever split and
    the line reads the same whatever the encoding of standard error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _rfc3339(record.created), "level": record.levelname,
                                 "logger": record.name, "message": _message(record)}
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["requestId"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


def _rfc3339(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _message(record: logging.LogRecord) -> str:
    """The record's message; when its arguments do not fit its format, the format and the
    arguments as they are (logging would write its own traceback to standard error instead,
    lines that are not JSON)."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - any failure of a caller's format string
        return f"{record.msg!r} with arguments {record.args!r} that do not fit it"


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration (its ``LOGGING_CONFIG``'s loggers) with every line a JSON
    line on standard error, its access log (``--log-level debug``) too: standard output stays
    for ``--access-log -`` alone. Given to ``uvicorn.run``, which applies it in each worker of
    ``--workers N`` as well."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": handler, "access": dict(handler)},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def log_uncaught() -> None:
    """Send what Python itself writes to standard error to the log instead: warnings, and the
    tracebacks of exceptions no code caught (in the main thread, in another thread, or ignored
    in a destructor or callback)."""
    logging.captureWarnings(True)
    sys.excepthook = _log_exception
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable


def _log_exception(kind: type[BaseException], error: BaseException,
                   traceback: TracebackType | None) -> None:
    _uncaught.critical("Uncaught exception", exc_info=(kind, error, traceback))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as Python's own hook: a thread's quiet way out
        return
    name = args.thread.name if args.thread is not None else "?"
    _uncaught.error("Uncaught exception in thread %s", name,
                    exc_info=(args.exc_type, args.exc_value or args.exc_type(),
                              args.exc_traceback))


def _log_unraisable(args: Any) -> None:
    what = args.err_msg or "Exception ignored in"
    if args.object is not None:
        what = f"{what}: {args.object!r}"
    exc_info = ((args.exc_type, args.exc_value, args.exc_traceback)
                if args.exc_value is not None else None)
    _uncaught.error("%s", what, exc_info=exc_info)
