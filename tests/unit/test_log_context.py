"""The server's log: a response cut short on purpose is one warning line."""

from __future__ import annotations

import logging
import sys

import pytest

from packyard.errors import Unavailable, UpstreamError
from packyard.server.log_context import CutShortResponses, WorkerDeaths, configure_logging


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1,
                             "Exception in ASGI application\n", None, exc_info)


def _wrapped(cause: BaseException) -> BaseException:
    """Starlette's way: "response already started", chained from the body's error."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("Caught handled exception, but response already started.") \
                from exc
    except RuntimeError as outer:
        return outer


def test_an_upstream_error_that_ended_a_response_is_one_warning_line() -> None:
    record = _record(_wrapped(UpstreamError("Upstream u failed while sending: reset")))
    assert CutShortResponses().filter(record)
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")
    assert record.getMessage() == "response cut short: Upstream u failed while sending: reset"
    assert record.exc_info is None


def test_any_other_exception_keeps_its_traceback() -> None:
    # A bug: neither an upstream's doing nor an outage.
    record = _record(_wrapped(KeyError("bug")))
    assert CutShortResponses().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage().startswith("Exception in ASGI application")


def test_regression_an_outage_that_ended_a_response_logged_chained_tracebacks() -> None:
    # A pull's commit meeting a PostgreSQL restart: uvicorn's error with three chained
    # tracebacks in each process, for what the database's own line had already said.
    record = _record(_wrapped(Unavailable("The metadata database is unavailable right now")))
    assert CutShortResponses().filter(record)
    assert (record.levelno, record.exc_info) == (logging.ERROR, None)
    assert record.getMessage() == ("response cut short by an outage: The metadata database is "
                                   "unavailable right now")


def test_regression_a_worker_process_that_died_was_logged_at_info() -> None:
    # uvicorn's supervisor says so at INFO, below what a log shipper alerting on warnings reads.
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "Child process [4242] died", None, None)
    assert WorkerDeaths().filter(record)
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")
    assert record.getMessage().startswith("worker process 4242 died")
    assert "a new worker was started" in record.getMessage()
    other = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                              "Started parent process [%d]", (7,), None)
    assert WorkerDeaths().filter(other)
    assert other.levelno == logging.INFO and other.getMessage() == "Started parent process [7]"


def test_a_dead_worker_is_logged_at_a_warning_level_and_the_rest_below_it_is_not() -> None:
    # uvicorn runs at info at least; the server's own level is this filter chain's.
    uvicorn_log = logging.getLogger("uvicorn.error")
    before = list(uvicorn_log.filters)
    try:
        configure_logging("warning")

        def kept(message: str) -> bool:
            record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, None,
                                       None)
            return bool(uvicorn_log.filter(record))

        assert kept("Child process [12] died")
        assert not kept("Started server process [12]")
        configure_logging("info")
        assert kept("Started server process [12]")
    finally:
        uvicorn_log.filters[:] = before


def test_configuring_twice_installs_the_filter_once() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    before = list(uvicorn_log.filters)
    try:
        configure_logging("warning")
        configure_logging("warning")
        assert sum(isinstance(f, CutShortResponses) for f in uvicorn_log.filters) == 1
        assert sum(isinstance(f, WorkerDeaths) for f in uvicorn_log.filters) == 1
    finally:  # the rest of this worker's tests see uvicorn's logger as they found it
        uvicorn_log.filters[:] = before


def test_regression_upstream_credentials_are_not_logged() -> None:
    """httpx logged each upstream request's URL whole: with an index URL holding a password,
    every page fetch wrote it to the server's log."""
    configure_logging("INFO")
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s"',
                               ("GET", "https://svc:s3cr3t@mirror.example/simple/x/",
                                "HTTP/1.1 200 OK"), None)
    filters = logging.getLogger("httpx").filters
    assert filters and all(f.filter(record) for f in filters)
    assert record.getMessage() == ('HTTP Request: GET https://mirror.example/simple/x/ '
                                   '"HTTP/1.1 200 OK"')


def test_regression_presigned_queries_and_signed_headers_are_not_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    """At ``--log-level debug`` uvicorn's access log wrote each request's query string whole
    (a presigned request's X-Amz-Signature and X-Amz-Security-Token), httpx each pulled file's
    presigned URL, and botocore (the S3 blob store, KMS) every request's Authorization and
    X-Amz-Security-Token headers and its signing steps."""
    configure_logging("debug")
    caplog.set_level(logging.DEBUG)
    presigned = ("/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Credential=AKIDEXAMPLE"
                 "%2F20261205%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Signature=feedc0ffee"
                 "&X-Amz-Security-Token=sessiontokensecret&token=tok3n&sig=azuresig")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET",
                                             presigned, "1.1", 200)
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET",
                                    "https://files.example/a.whl?X-Amz-Signature=feedc0ffee",
                                    "HTTP/1.1 200 OK")
    logging.getLogger("botocore.endpoint").debug(
        "Sending http request: %s", "headers={'Authorization': b'AWS4-HMAC-SHA256 "
        "Signature=feedc0ffee', 'X-Amz-Security-Token': b'sessiontokensecret'}")
    logging.getLogger("botocore.auth").debug("Signature:\n%s", "feedc0ffee")
    for secret in ("feedc0ffee", "sessiontokensecret", "tok3n", "azuresig"):
        assert secret not in caplog.text
    # uvicorn's own formatter still finds the access line's five arguments.
    from uvicorn.logging import AccessFormatter

    [access] = [record for record in caplog.records if record.name == "uvicorn.access"]
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                           use_colors=False).format(access)
    assert line.startswith('127.0.0.1:1 - "GET /?Action=GetCallerIdentity&Version=2011-06-15&')
    assert "X-Amz-Signature=HIDDEN" in line and "feedc0ffee" not in line
    assert "GET /?Action=GetCallerIdentity&Version=2011-06-15" in caplog.text
    assert "https://files.example/a.whl?X-Amz-Signature=HIDDEN" in caplog.text
