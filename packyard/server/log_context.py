"""Every log line written while a request is served carries its request id (the
``x-amzn-RequestId`` the client got): a log-record factory adds ``request_id`` to each record from
the context variable ``server/observe.py`` sets for the request (it follows the request into
worker threads); ``-`` outside a request."""

from __future__ import annotations

import logging
import re
from typing import Any, TypeVar

from packyard.errors import Unavailable, UpstreamError, without_credentials
from packyard.http.request_note import current_request_id
from packyard.server.log_format import JsonFormatter, log_uncaught

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


# What uvicorn logs when an application raises after its response started.
_ASGI_EXCEPTION = "Exception in ASGI application"


class CutShortResponses(logging.Filter):
    """One line, not uvicorn's error and chained tracebacks, for a response ended early by
    what its message says in full:
    - a warning for one Packyard cut short on purpose: a file streamed from an upstream that
      failed (or failed verification) before its last byte (``upstream/pullthrough.py``) can
      only be told to the client by ending the response early, which under ASGI is raising
      from its body;
    - an error for one this server's own backend cut short by an outage (``Unavailable``: the
      database restarting under a pull's commit, the blob store gone mid-file), which the
      backend's own log lines have said once already.
    Anything else that ends a started response (a bug) keeps uvicorn's error and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno >= logging.ERROR \
                and record.getMessage().startswith(_ASGI_EXCEPTION):
            error = _upstream_error(record.exc_info[1])
            if error is not None:
                record.msg, record.args = "response cut short: %s", (error.message,)
                record.exc_info = record.exc_text = None
                record.levelno, record.levelname = logging.WARNING, "WARNING"
                return True
            outage = _root_error(record.exc_info[1], Unavailable)
            if outage is not None:
                record.msg, record.args = "response cut short by an outage: %s", (
                    outage.message,)
                record.exc_info = record.exc_text = None
        return True


# What uvicorn's supervisor (``--workers N``) logs, at INFO, when a worker process has died
# (killed, out of memory, crashed) and it starts another.
_WORKER_DIED = re.compile(r"^Child process \[(\d+)\] died$")


class WorkerDeaths(logging.Filter):
    """A worker process that died is a warning, said so: uvicorn logs it as "Child process
    [N] died" at INFO, which a log shipper filtering at WARNING (as most alert on) never
    sees, and which does not say the server goes on with a new worker."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            found = _WORKER_DIED.match(record.getMessage())
            if found is not None:
                record.msg = ("worker process %s died (killed or crashed: any requests it was "
                              "serving were cut off); a new worker was started in its place")
                record.args = (found.group(1),)
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class LevelFloor(logging.Filter):
    """The server's level, kept on uvicorn's logger by a filter instead of its level: uvicorn
    runs at ``info`` at least (``cli/main.py``), so that its supervisor's line about a dead
    worker, logged at INFO, reaches ``WorkerDeaths`` (which makes it a warning) at a server
    level of ``warning`` too; the rest below the server's level is dropped here."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


class UpstreamCredentials(logging.Filter):
    """URLs logged without their credentials: httpx logs each upstream request's URL whole,
    and an index URL may hold a password (``https://USER:PASSWORD@mirror/simple/``) or a file
    URL a presigned query; uvicorn's access log (at ``debug``) writes each request's query
    string, and a presigned request carries its signature and session token there."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Each argument cleaned where it stands: uvicorn's access formatter reads the
        # arguments themselves (client, method, path, version, status).
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = _clean(record.msg)
        return True


def _clean(arg: object) -> object:
    """``arg`` as logged, without credentials if its text may hold some (an httpx ``URL`` is
    turned into its text then)."""
    if arg is None or isinstance(arg, int | float):
        return arg
    text = arg if isinstance(arg, str) else str(arg)
    if "@" in text or "=" in text:
        return without_credentials(text)
    return arg


# Libraries whose debug lines hold secrets: botocore writes each request's headers
# (Authorization, X-Amz-Security-Token) and its signing steps; urllib3 the URLs it fetches.
# They stay at INFO whatever the server's level.
_TELL_SECRETS_AT_DEBUG = ("botocore", "boto3", "s3transfer", "urllib3")


def _upstream_error(exc: BaseException | None) -> UpstreamError | None:
    """The upstream's error at the root of ``exc``'s chain (Starlette wraps it twice), if any."""
    return _root_error(exc, UpstreamError)


_E = TypeVar("_E", bound=BaseException)


def _root_error(exc: BaseException | None, kind: type[_E]) -> _E | None:
    """The first error of ``kind`` down ``exc``'s chain (its causes and contexts), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def configure_logging(level: str, log_format: str = "text") -> None:
    """The server's log: standard error, each line with its request id (``FORMAT``, or a JSON
    object with ``log_format`` json: ``log_format.py``); responses cut short on purpose as one
    line each (``CutShortResponses``, on uvicorn's logger), a worker process's death as a
    warning (``WorkerDeaths``, likewise); no credentials in URLs
    (``UpstreamCredentials``), and no library's debug lines that hold secrets."""
    install_request_ids()
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level.upper(), handlers=[handler])
        # Nothing else may reach standard error as lines that are not JSON.
        log_uncaught()
    else:
        logging.basicConfig(level=level.upper(), format=FORMAT)
    uvicorn_log = logging.getLogger("uvicorn.error")
    for kind in (CutShortResponses, WorkerDeaths):
        if not any(isinstance(f, kind) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(kind())
    # After them: a record they raise to a warning is judged by its new level.
    for old in [f for f in uvicorn_log.filters if isinstance(f, LevelFloor)]:
        uvicorn_log.removeFilter(old)
    uvicorn_log.addFilter(LevelFloor(logging.getLevelName(level.upper())))
    for name in ("httpx", "packyard.upstream", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, UpstreamCredentials) for f in logger.filters):
            logger.addFilter(UpstreamCredentials())
    floor = max(logging.INFO, logging.getLevelName(level.upper()))
    for name in _TELL_SECRETS_AT_DEBUG:
        logging.getLogger(name).setLevel(floor)
    # Alembic's lines (two a connection, one a migration: ~20 before a new server's first
    # line) only at debug; the migration says what it did in one line (metadata/migrate.py).
    logging.getLogger("alembic").setLevel(logging.DEBUG if level.lower() == "debug"
                                          else logging.WARNING)
