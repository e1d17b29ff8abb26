"""``--log-format json``: each record of the server log is one line of JSON."""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import threading
import warnings
from typing import Any

import pytest

from packyard.server import log_format
from packyard.server.log_context import (
    CutShortResponses,
    UpstreamCredentials,
    configure_logging,
    install_request_ids,
)
from packyard.server.log_format import JsonFormatter, log_uncaught, uvicorn_log_config

RFC3339_MS_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _record(message: str = "hello %s", args: Any = ("world",), *, name: str = "packyard.api",
            level: int = logging.INFO, request_id: str | None = None,
            exc_info: Any = None) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, args, exc_info)
    if request_id is not None:
        record.request_id = request_id
    return record


def _line(record: logging.LogRecord) -> dict[str, Any]:
    text = JsonFormatter().format(record)
    assert "\n" not in text and "\r" not in text, f"not one line: {text!r}"
    assert text.isascii(), f"not escaped to ASCII: {text!r}"
    entry = json.loads(text)
    assert isinstance(entry, dict)
    return entry


def test_a_record_has_time_level_logger_and_message() -> None:
    record = _record()
    record.created = 1796527373.1209  # 2026-12-06T03:22:53.1209Z: milliseconds cut, as the access log cuts them
    entry = _line(record)
    assert entry == {"time": "2026-12-06T03:22:53.120Z", "level": "INFO",
                     "logger": "packyard.api", "message": "hello world"}


def test_the_time_is_utc_with_milliseconds_whatever_the_local_zone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        record = _record()
        record.created = 0.5
        assert _line(record)["time"] == "1970-01-01T00:00:00.500Z"
        assert RFC3339_MS_UTC.fullmatch(_line(_record())["time"])
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_request_id_is_under_the_access_logs_key_only_within_a_request() -> None:
    inside = _line(_record(request_id="6b5f5a2c-b7e5-a925-6be1-00000000000f"))
    assert inside["requestId"] == "6b5f5a2c-b7e5-a925-6be1-00000000000f"
    # "-" outside a request (log_context's factory), or no attribute at all (a record made
    # before the factory was installed, as uvicorn's first lines in a worker are).
    assert "requestId" not in _line(_record(request_id="-"))
    assert "requestId" not in _line(_record())


def test_records_made_through_the_factory_carry_the_request_id() -> None:
    install_request_ids()
    from packyard.http.request_note import current_request_id

    record = logging.getLogger("packyard.api").makeRecord(
        "packyard.api", logging.INFO, __file__, 1, "refused", (), None)
    assert getattr(record, "request_id", None) == (current_request_id() or "-")


def test_an_exception_is_its_formatted_traceback_on_the_same_line() -> None:
    try:
        raise KeyError("bug\non two lines")
    except KeyError:
        exc_info = sys.exc_info()
    entry = _line(_record("Exception in ASGI application", (), name="uvicorn.error",
                          level=logging.ERROR, exc_info=exc_info))
    assert entry["level"] == "ERROR"
    assert entry["message"] == "Exception in ASGI application"
    assert entry["exception"].startswith("Traceback (most recent call last):\n")
    assert entry["exception"].endswith("KeyError: 'bug\\non two lines'")
    assert "exception" not in _line(_record())


def test_non_ascii_and_control_characters_are_escaped_and_read_back_the_same() -> None:
    message = "caf\u00e9 \u2603 \x1b[31mred\x1b[0m line\nbreak\r\ttab \u2028 \udcff \x00"
    text = JsonFormatter().format(_record("%s", (message,)))
    assert "\\u00e9" in text and "\\u001b" in text and "\\n" in text and "\\u2028" in text
    assert _line(_record("%s", (message,)))["message"] == message


def test_a_message_whose_arguments_do_not_fit_is_still_one_json_line() -> None:
    # logging would print its own "--- Logging error ---" traceback to standard error instead.
    entry = _line(_record("%d items in %s", ("many",)))
    assert entry["message"] == "'%d items in %s' with arguments ('many',) that do not fit it"


def test_regression_a_hidden_secret_stays_hidden_in_json() -> None:
    """The filters act on the record before any formatter reads it: uvicorn's access line (at
    debug) and httpx's upstream URLs lose their secrets in JSON as in text."""
    configure_logging("debug", "text")
    access = _record('%s - "%s %s HTTP/%s" %d',
                     ("127.0.0.1:1", "GET", "/?X-Amz-Signature=feedc0ffee&token=tok3n", "1.1",
                      200), name="uvicorn.access")
    upstream = _record('HTTP Request: %s %s "%s"',
                       ("GET", "https://svc:s3cr3t@mirror.example/simple/x/", "HTTP/1.1 200 OK"),
                       name="httpx")
    for record in (access, upstream):
        filters = logging.getLogger(record.name).filters
        assert any(isinstance(f, UpstreamCredentials) for f in filters)
        assert all(f.filter(record) for f in filters if isinstance(f, logging.Filter))
    text = JsonFormatter().format(access) + JsonFormatter().format(upstream)
    for secret in ("feedc0ffee", "tok3n", "s3cr3t"):
        assert secret not in text
    assert json.loads(JsonFormatter().format(access))["message"] == (
        '127.0.0.1:1 - "GET /?X-Amz-Signature=HIDDEN&token=HIDDEN HTTP/1.1" 200')


def test_a_response_cut_short_on_purpose_is_one_warning_in_json_too() -> None:
    from packyard.errors import UpstreamError

    try:
        try:
            raise UpstreamError("Upstream u failed while sending: reset")
        except UpstreamError as exc:
            raise RuntimeError("Caught handled exception, but response already started.") \
                from exc
    except RuntimeError:
        exc_info = sys.exc_info()
    record = _record("Exception in ASGI application\n", (), name="uvicorn.error",
                     level=logging.ERROR, exc_info=exc_info)
    assert CutShortResponses().filter(record)
    assert _line(record) == {"time": _line(record)["time"], "level": "WARNING",
                             "logger": "uvicorn.error",
                             "message": "response cut short: Upstream u failed while sending: "
                                        "reset"}


def test_uvicorns_configuration_writes_json_to_standard_error_and_keeps_the_filters() -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    config = uvicorn_log_config()
    assert {h["stream"] for h in config["handlers"].values()} == {"ext://sys.stderr"}
    configure_logging("info", "text")
    before = list(logging.getLogger("uvicorn.error").filters)
    try:
        uvicorn.Config(app="unused:app", log_config=config, log_level="info")  # applies it
        for name in ("uvicorn", "uvicorn.access"):
            [handler] = logging.getLogger(name).handlers
            assert isinstance(handler.formatter, JsonFormatter)
        assert logging.getLogger("uvicorn.error").filters == before
    finally:
        logging.config.dictConfig(LOGGING_CONFIG)


@pytest.fixture
def python_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's hooks as they were once the test is done (log_uncaught replaces them)."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)


@pytest.mark.usefixtures("python_hooks")
def test_uncaught_exceptions_and_warnings_become_records(caplog: pytest.LogCaptureFixture) -> None:
    log_uncaught()
    caplog.set_level(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("an old way", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)

    def fail() -> None:
        raise RuntimeError("in a thread")

    thread = threading.Thread(target=fail, name="sweeper")
    thread.start()
    thread.join()
    try:
        raise ValueError("nowhere caught")
    except ValueError:
        sys.excepthook(*sys.exc_info())

    by_logger = {(r.name, r.getMessage().splitlines()[0]): r for r in caplog.records}
    warned = [r for r in caplog.records if r.name == "py.warnings"]
    assert warned and "DeprecationWarning: an old way" in warned[0].getMessage()
    in_thread = by_logger[("packyard.uncaught", "Uncaught exception in thread sweeper")]
    assert "RuntimeError: in a thread" in _line(in_thread)["exception"]
    uncaught = by_logger[("packyard.uncaught", "Uncaught exception")]
    assert uncaught.levelno == logging.CRITICAL
    assert "ValueError: nowhere caught" in _line(uncaught)["exception"]


@pytest.mark.usefixtures("python_hooks")
def test_an_exception_ignored_in_a_destructor_becomes_a_record(
        caplog: pytest.LogCaptureFixture) -> None:
    log_uncaught()
    caplog.set_level(logging.WARNING)

    class Args:
        exc_type, exc_value, exc_traceback = OSError, OSError("closed"), None
        err_msg, object = "Exception ignored in", "<socket>"

    log_format._log_unraisable(Args())
    [record] = [r for r in caplog.records if r.name == "packyard.uncaught"]
    assert _line(record)["message"] == "Exception ignored in: '<socket>'"
    assert _line(record)["exception"] == "OSError: closed"


@pytest.mark.usefixtures("python_hooks")
def test_a_worker_that_cannot_start_is_a_record_not_multiprocessings_traceback(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A --workers process whose app factory raised had multiprocessing print the traceback
    # to standard error in text, once for each time uvicorn started the worker again.
    import packyard.data_dir
    from packyard.server import app, fence

    def unreachable(settings: object) -> None:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(app, "_end_with_supervisor", lambda: None)
    monkeypatch.setattr(packyard.data_dir, "restrict_new_files", lambda: None)
    monkeypatch.setattr(fence, "install", lambda: None)
    monkeypatch.setattr(app, "create_app", unreachable)
    monkeypatch.setenv("PACKYARD_LOG_FORMAT", "json")
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as stopped:
        app.app_from_environment()
    assert stopped.value.code == 1
    [record] = [r for r in caplog.records if r.name == "packyard.serve"]
    entry = _line(record)
    assert (entry["level"], entry["message"]) == ("CRITICAL", "a worker process could not start")
    assert entry["exception"].endswith("RuntimeError: database unreachable")
    # In text, as before: the exception goes on up for multiprocessing to print.
    monkeypatch.setenv("PACKYARD_LOG_FORMAT", "text")
    with pytest.raises(RuntimeError):
        app.app_from_environment()
