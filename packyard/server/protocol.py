"""uvicorn's httptools protocol with a fast lane for answers the app already holds in memory.

A repeat read of a cached project page or small file is answered by the formats' hot paths
(``PackyardApp.hot_answer``) with three dictionary lookups. Served through ASGI, the same answer
also costs uvicorn a request cycle, an event, a task, two ``send`` messages and its header
checks: most of the time of such a request. So this protocol, passed to uvicorn as its ``http``
class, asks the app for a ready answer as soon as a request's headers are parsed and, when there
is one, writes it straight to the socket. Everything else (misses, bodies, upgrades, Expect,
pipelined requests behind a running one, a client that is not reading) goes the ordinary way, and an answer is the same
``Answer`` either way.

The protocol also enforces ``server.limits``: the deadlines for a request's head and body, the
cap on open connections, and a short lingering close when the app answered before a request's
body arrived (an upload refused at its head) instead of reading and dropping the whole body.

Both use uvicorn's protocol from the inside (its callbacks, its per-connection and per-request
state), so what they use is listed in ``limits_shape`` and ``fast_lane_shape`` and checked once
per process (``PackyardHttpProtocol.choose_mode``, ``server.fence``): without what the fast lane
uses the protocol serves without it; without what the limits use, connections get uvicorn's own
protocol.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from packyard.auth.environment import CONNECTION
from packyard.http.answer import Answer, HotPath
from packyard.http.request_note import RequestIds
from packyard.server.fence import Shape
from packyard.server.limits import (
    BODY,
    HEAD,
    IDLE,
    ConnectionLimits,
    ConnectionWatch,
    DeadlineSweep,
    Watched,
    sweep_for,
)
from packyard.server.proxy_headers import apply_proxy_headers, proxy_shape, scope_rewriter
from packyard.server.response_cycle import PATHSEND, ZEROCOPYSEND, pathsend_ready

_STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
                 for status in HTTPStatus}
# Headers uvicorn's proxy middleware turns into the scope's client and scheme.
_PROXY_HEADERS = frozenset({b"x-forwarded-for", b"x-forwarded-proto"})

_log = logging.getLogger(__name__)

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
         b"retry-after: 1\r\nconnection: close\r\ncontent-length: 41\r\n\r\n"
         b"Too many open connections to this server\n")
_TIMED_OUT = {
    phase: b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
           b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text)
    for phase, text in ((HEAD, b"The request head did not arrive in time\n"),
                        (BODY, b"The request body stopped arriving\n"))}
_HEAD_TOO_LARGE_TEXT = b"The request head is too large\n"
_HEAD_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                   b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
                   b"content-length: %d\r\n\r\n%s"
                   % (len(_HEAD_TOO_LARGE_TEXT), _HEAD_TOO_LARGE_TEXT))
# After answering before the body arrived: how long the rest is read and dropped before the
# connection closes, so that the client sees the answer before a reset could discard it.
_LINGER_SECONDS = 2.0


class _Answered:
    """Stands in for uvicorn's request cycle after the fast lane answered: complete."""

    response_complete = True

    class _Event:
        def set(self) -> None:
            pass

    message_event = _Event()


_ANSWERED: Any = _Answered()


class _ServerHeaders:
    """uvicorn's own response headers (the Date, updated each second), joined once per
    change of the list the server replaces."""

    def __init__(self) -> None:
        self._source: object = None
        self._joined = b""

    def joined(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not self._source:
            self._joined = b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
            self._source = headers
        return self._joined


_server_headers = _ServerHeaders()
# Each connection's number, for the grants reused on it (``RepositoryGate``): never reused, so a
# grant cannot pass to a later connection that happens to get the same client port.
_connection_numbers = itertools.count(1)


def find_limits(app: Any) -> ConnectionLimits:
    """The app's connection limits (``PackyardApp.connection_limits``), beneath uvicorn's
    proxy-headers middleware; the defaults for any other app."""
    if isinstance(app, ProxyHeadersMiddleware):
        app = app.app
    limits = getattr(app, "connection_limits", None)
    return limits if isinstance(limits, ConnectionLimits) else ConnectionLimits()


class _Throttled:
    """Logs a warning at most once a minute (a flood of refusals must not flood the log)."""

    def __init__(self) -> None:
        self._last = 0.0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last >= 60:
            self._last = now
            _log.warning(message, *args)


_refusals = _Throttled()


def find_observer(app: Any) -> Any:
    """The app's ``Observer`` (request ids, counters, access log), beneath uvicorn's
    proxy-headers middleware; None for any other app."""
    if isinstance(app, ProxyHeadersMiddleware):
        app = app.app
    return getattr(app, "observer", None)


def find_hot_answer(app: Any) -> tuple[HotPath | None, ProxyHeadersMiddleware | None]:
    """The app's ``hot_answer`` beneath uvicorn's proxy-headers middleware, and a copy of that
    middleware (if there is one) which only rewrites a scope. Any other wrapper (uvicorn's
    message logger) disables the lane."""
    proxy = None
    if isinstance(app, ProxyHeadersMiddleware):
        proxy = scope_rewriter(app)
        app = app.app
    hot = getattr(app, "hot_answer", None)
    return (hot if callable(hot) else None), proxy


def find_first_answer(app: Any) -> tuple[HotPath | None, Any]:
    """The app's ``first_answer_now`` and ``first_answer_sent`` (``PackyardApp``: first reads
    made without waiting, and their counting) beneath uvicorn's proxy-headers middleware;
    (None, None) for an app without them."""
    if isinstance(app, ProxyHeadersMiddleware):
        app = app.app
    now, sent = getattr(app, "first_answer_now", None), getattr(app, "first_answer_sent", None)
    return (now, sent) if callable(now) and callable(sent) else (None, None)


def response_bytes(answer: Answer, server_headers: bytes, *, head: bool,
                   keep_alive: bool, request_id_line: bytes | None = None) -> bytes:
    """The whole response as uvicorn would write it: status line, the server's headers, the
    answer's headers (and the request's id), ``connection: close`` when the connection ends,
    then the body."""
    parts = [_STATUS_LINES[answer.status], server_headers, answer.wire_headers]
    if request_id_line is not None:
        parts.append(request_id_line)
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(answer.body)
    return b"".join(parts)


def _client_addr(scope: Any) -> str:
    """The client as uvicorn's access log names it (``uvicorn.protocols.utils``)."""
    client = scope.get("client")
    return f"{client[0]}:{client[1]:d}" if client else ""


def limits_shape() -> Shape:
    """What the limits use of uvicorn's protocol, its request cycle and their state."""
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.server import ServerState

    shape = Shape()
    for name, params in (("connection_made", "self, transport"), ("data_received", "self, data"),
                         ("on_message_begin", "self"), ("on_body", "self, body"),
                         ("on_message_complete", "self"), ("on_response_complete", "self"),
                         ("_unset_keepalive_if_required", "self"),
                         ("connection_lost", "self, exc"),
                         ("_start_asgi_task", "self, cycle, app"),
                         ("timeout_keep_alive_handler", "self")):
        shape.method(HttpToolsProtocol, name, params)
    shape.attributes(HttpToolsProtocol, "app", "loop", "transport", "flow", "connections",
                     "server_state", "client", "cycle", "pipeline", "timeout_keep_alive",
                     "timeout_keep_alive_task")
    # The keep-alive timer is ours (armed lazily) only if uvicorn arms and cancels it in these
    # two places alone.
    shape.reads(HttpToolsProtocol, "on_response_complete", "timeout_keep_alive_task",
                "_unset_keepalive_if_required", "_start_asgi_task")
    shape.attributes(ServerState, "total_requests")
    shape.attributes(FlowControl, "read_paused")
    shape.attributes(RequestResponseCycle, "response_complete", "response_started",
                     "more_body", "waiting_for_100_continue", "keep_alive", "on_response")
    return shape


def fast_lane_shape() -> Shape:
    """What the fast lane uses: the parser's state at ``on_headers_complete``, what uvicorn
    reads of a completed cycle (``_Answered``), its access log and default headers, and the
    proxy-headers middleware it runs on a scope."""
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.server import ServerState

    shape = proxy_shape()
    shape.method(HttpToolsProtocol, "on_headers_complete", "self")
    shape.attributes(HttpToolsProtocol, "parser", "url", "root_path", "scope", "headers",
                     "pipeline", "expect_100_continue", "access_log", "access_logger")
    shape.attributes(ServerState, "default_headers")
    shape.attributes(FlowControl, "write_paused")
    shape.attributes(RequestResponseCycle, "response_complete", "message_event")
    return shape


class Mode(enum.Enum):
    """How this process's connections are served, chosen once from what uvicorn has."""

    FULL = "limits and fast lane"
    LIMITS = "limits without the fast lane"
    PLAIN = "uvicorn's own protocol"


class PackyardHttpProtocol(HttpToolsProtocol, Watched):
    mode: ClassVar[Mode | None] = None
    """Set by ``choose_mode``: at start (``server.fence.install``) or at the first connection."""
    lingers_early_answers: ClassVar[bool] = True
    """An answer sent before the request's body arrived is followed by a short linger and a
    close (``_linger``): the request cycle's patch says ``connection: close`` on it
    (``server/response_cycle.py``)."""

    @classmethod
    def choose_mode(cls) -> Mode:
        """Check once what the limits and the fast lane use of uvicorn (one log line for
        what is missing) and choose how connections are served."""
        if cls.mode is None:
            if not limits_shape().fits(
                    "serving with uvicorn's own protocol: no request head or body deadlines and "
                    "no cap on open connections (docs/security.md#limits), no fast lane"):
                cls.mode = Mode.PLAIN
            elif not fast_lane_shape().fits(
                    "serving without the fast lane: ready answers take the ASGI way"):
                cls.mode = Mode.LIMITS
            else:
                cls.mode = Mode.FULL
        return cls.mode

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if (cls.mode or cls.choose_mode()) is Mode.PLAIN:
            return HttpToolsProtocol(*args, **kwargs)  # not ours, so our __init__ is not run
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot, self._proxy = (find_hot_answer(self.app) if self.mode is Mode.FULL
                                  else (None, None))
        self._first_now: HotPath | None
        self._first_sent: Any
        self._first_now, self._first_sent = (find_first_answer(self.app) if self._hot
                                             else (None, None))
        self._limits = find_limits(self.app)
        self._observer = find_observer(self.app)
        self._watch = ConnectionWatch()
        self._lingering = False
        self._connection = next(_connection_numbers)
        self._idle_since: float | None = None

    # -- connection limits (server_limits) ---------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self._limits.max_connections:
            self.transport = transport
            self._watch.phase = IDLE
            _refusals.warning("refusing connections: %d open, the limit is %d "
                              "(PACKYARD_MAX_CONNECTIONS)", len(self.connections),
                              self._limits.max_connections)
            transport.write(_BUSY)
            transport.close()
            return
        super().connection_made(transport)
        limits = self._limits
        sweep_for(self.server_state, lambda: DeadlineSweep(
            self.loop, self.connections, limits.sweep_interval)).ensure_running()

    def check_deadline(self, now: float) -> None:
        # Not the client's pause: we stopped reading (the app has not taken what came), or the
        # client waits for the 100 Continue that the app's first read sends.
        cycle = self.cycle
        not_reading = self.flow.read_paused or bool(
            getattr(cycle, "waiting_for_100_continue", False))
        phase = self._watch.overdue(now, self._limits, not_reading)
        if phase is None or self.transport.is_closing():
            return
        limits = self._limits
        why = (f"its request head did not arrive within {limits.header_timeout:g}s"
               if phase == HEAD else f"its request body stopped for {limits.body_timeout:g}s")
        _log.info("closing a connection from %s: %s", self._peer(), why)
        if cycle is None or cycle.response_complete or not cycle.response_started:
            # Nothing of a response to this request is on the wire: say why.
            self.transport.write(_TIMED_OUT[phase])
        self._watch.phase = IDLE
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown address"

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a body already answered: dropped unparsed
        watch = self._watch
        progress = watch.progress
        super().data_received(data)
        # Nothing to count once a request is wholly read (the usual case: one read each).
        if (watch.phase != IDLE or watch.head_bytes) and watch.head_too_large(
                len(data), self._limits, progress):
            self._refuse_large_head()

    def _refuse_large_head(self) -> None:
        if self.transport.is_closing():
            return
        _log.info("closing a connection from %s: its request head passed %d bytes",
                  self._peer(), self._limits.max_head_bytes)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_HEAD_TOO_LARGE)  # nothing of a response is on the wire
        self._watch.phase = IDLE
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[CONNECTION] = self._connection  # type: ignore[literal-required]
        watch = self._watch
        if watch.phase != HEAD:  # a new connection's first request is timed from the connect
            watch.phase = HEAD
            watch.progress += 1

    def on_body(self, body: bytes) -> None:
        self._watch.progress += 1
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._watch.phase = IDLE
        if self.cycle is _ANSWERED:
            return  # answered by the fast lane: uvicorn would only find the cycle complete
        super().on_message_complete()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if (cycle is not None and getattr(cycle, "more_body", False)
                and not self.transport.is_closing()):
            self._linger()
            return
        # uvicorn's own steps, with the keep-alive timer armed lazily (below).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        flow = self.flow
        if flow.read_paused:  # uvicorn's resume_reading checks the same (a call less here)
            flow.resume_reading()
        if self.pipeline:
            queued, app = self.pipeline.pop()
            self._start_asgi_task(queued, app)
        else:
            self._arm_keep_alive()

    # -- the keep-alive timeout, armed once per idle stretch ------------------------------------
    # uvicorn cancels its keep-alive timer when data arrives and makes a new one when the
    # response is complete: two timer operations per request, a tenth of a fast-lane answer's
    # time. Here the connection only notes when it became idle (and that it is busy when data
    # arrives); the one timer, when due, closes the connection if it has been idle for the
    # whole timeout, or is armed again for the rest of it.

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None  # busy: not idle until the response is complete

    def _arm_keep_alive(self) -> None:
        self._idle_since = now = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_at(now + self.timeout_keep_alive,
                                                             self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:
            return  # busy: armed again when its response is complete
        due = idle_since + self.timeout_keep_alive
        if due > self.loop.time():
            self.timeout_keep_alive_task = self.loop.call_at(due, self._keep_alive_due)
            return
        self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        task = self.timeout_keep_alive_task
        if task is not None:  # not left to fire (and hold this protocol) after the close
            task.cancel()
            self.timeout_keep_alive_task = None

    def _linger(self) -> None:
        """Close after an answer sent before the request's body arrived.

        uvicorn would keep the connection and read the whole body to drop it (a refused 5 GiB
        upload would still be sent in full). Closing at once could reset the connection before
        the client read the answer, so the answer goes out with a FIN after it, what still
        comes is dropped for a moment, and then the connection closes. Clients that send the
        whole body before reading (requests, so twine) get an error on their next write and
        then read the answer.
        """
        self.server_state.total_requests += 1
        self._unset_keepalive_if_required()
        self._lingering = True
        self._watch.phase = IDLE
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    # -- the fast lane -------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        watch = self._watch
        watch.phase = BODY  # until the message completes (at once when there is no body)
        watch.progress += 1
        watch.head_bytes = 0
        if self._observer is not None:
            self._observer.traffic.begun += 1  # a plain increment (server/traffic.py)
        if (self._hot is not None and not self.pipeline and not self.expect_100_continue
                and (self.cycle is None or self.cycle.response_complete)
                and not self.flow.write_paused and self._answer_now(self._hot)):
            return
        if pathsend_ready(RequestResponseCycle):
            # Offered to the app only (the fast lane sends no files): a file response then
            # names its file, or a range of an open one, and the cycle sends it
            # (response_cycle.py).
            self.scope["extensions"] = {PATHSEND: {}, ZEROCOPYSEND: {}}
        super().on_headers_complete()

    def _answer_now(self, hot: HotPath) -> bool:
        parser = self.parser
        method = parser.get_method()
        if method != b"GET" and method != b"HEAD" or parser.should_upgrade():
            return False
        url = httptools.parse_url(self.url)
        if url.query is not None or self.root_path:
            return False
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:  # decoded as uvicorn decodes it; raw_path keeps the escapes
            path = unquote(path)  # (npm's scoped packuments: "@s%2fn")
        http_version = parser.get_http_version()
        scope: Any = self.scope
        scope["method"] = method.decode("ascii")
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = b""
        if http_version != "1.1":
            scope["http_version"] = http_version
        if self._proxy is not None:
            for name, _ in self.headers:
                if name in _PROXY_HEADERS:
                    # On a copy: if the lane declines, uvicorn's own middleware runs on the scope.
                    scope = dict(scope)
                    apply_proxy_headers(self._proxy, scope)
                    break
        started = None  # set for a first read made here (counted as the app counts those)
        try:
            answer = hot(scope)
            if answer is None and self._first_now is not None:
                started = time.perf_counter()
                answer = self._first_now(scope)
        except Exception:  # the ordinary path will meet it again and answer 500
            _log.exception("fast lane failed on %s", path)
            return False
        if answer is None or not answer.framed:
            return False
        if self.access_log:  # uvicorn's own access line
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', _client_addr(scope),
                                    scope["method"], path, scope["http_version"], answer.status)
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        observer = self._observer
        # One bytes formatting per answer (RequestIds.header_line): ~0.6 µs.
        id_line = observer.ids.header_line() if observer is not None else None
        data = response_bytes(answer, _server_headers.joined(self.server_state.default_headers),
                              head=method == b"HEAD", keep_alive=keep_alive,
                              request_id_line=id_line)
        self.transport.write(data)
        if started is not None:
            if observer is not None:
                self._first_sent(scope, RequestIds.id_of(id_line) or "", answer.status,
                                 len(answer.body), started)
        elif observer is not None:
            # Plain increments only: no lock, no label lookup (server/traffic.py).
            traffic = observer.traffic
            traffic.fast_lane_answers += 1
            traffic.fast_lane_bytes += len(data)
            if observer.access_log is not None:
                self._log_fast_answer(observer, scope, RequestIds.id_of(id_line),
                                      answer.status, len(data))
        self.cycle = _ANSWERED  # the request's body, if any, is read and dropped
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()
        return True


    def _log_fast_answer(self, observer: Any, scope: Any, request_id: Any, status: int,
                         size: int) -> None:
        agent = next((value.decode("latin-1") for name, value in self.headers
                      if name == b"user-agent"), None)
        client = scope.get("client")
        observer.access_log.fast_lane(request_id, scope["method"], scope["path"], status, size,
                                      client[0] if client else None, agent)


PROTOCOL_PATH = f"{__name__}:PackyardHttpProtocol"
"""The protocol as uvicorn imports it in worker processes."""
