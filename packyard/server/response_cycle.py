"""The one patch of uvicorn's request cycle: its ``send``, wrapped once per back end.

Five things uvicorn does not do go through it: a marked answer's head and body in one write
(``server.coalesce``, httptools only), the response's own reason phrase on the status line
(``server.reason``, httptools and h11), ASGI's ``http.response.pathsend`` and
``http.response.zerocopysend`` (httptools only): a file response names its file (or a range
of an open one) and the kernel sends it (``server.sendfile``), with no worker-thread hop or
copy per piece; the extensions are offered in the scope only where this patch is in
(``pathsend_ready``); a body piece of 256 KiB or more written on the socket itself, the
interpreter lock let go while the kernel copies it (uvloop's transport keeps it: a decrypted
download's next mebibyte is decrypted meanwhile, ``EncryptingBlobStore._read_file``); and
``connection: close`` on an answer started before the request's body was read, where the
server's protocol closes such connections (``_close_after_an_early_answer``). All act on the
same ``send`` call, so one wrapper does all, in this order: a path or a range to send goes out
after anything held; a large piece goes on the socket when nothing is held or queued; a held
head goes out with the next write; a start message loses its reason header, and while uvicorn
writes its head the status-line table answers with that reason; a marked start has its head
caught instead of written.

Before wrapping, ``install`` checks that uvicorn's cycle still has what the wrapper uses (a
``send(self, message)`` coroutine writing through ``self.transport`` and reading the module's
status table); when not, it logs one line and leaves that back end unpatched: responses then
go out as uvicorn writes them, head and body apart, with the standard reason phrases.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import anyio.to_thread

from packyard.http.client_gone import mark_client_gone
from packyard.server.coalesce import COALESCE, HeadCatcher, HeadFirst
from packyard.server.fence import Shape
from packyard.server.reason import REASON, Phrases, split_reason
from packyard.server.sendfile import plain_socket, send_bytes, send_file, sent_before

Send = Callable[[Any, Any], Awaitable[None]]

_HELD = "_packyard_head"
_EARLY = "_packyard_early"  # an answer started before the request's body was read
# The wrappers this module made, and the sends it found unfit and left alone: installing again
# (``packyard serve`` reaches ``fence.install`` twice) changes and logs nothing more.
_ours: weakref.WeakSet[Send] = weakref.WeakSet()
_unfit: dict[str, object] = {}  # module name -> its send, found unfit
PATHSEND = "http.response.pathsend"
# ASGI's zero-copy send: a range of an open file as the next piece of a started body (the
# download a pull-through streams while it arrives, ``services/spool_response.py``).
ZEROCOPYSEND = "http.response.zerocopysend"
_pathsenders: weakref.WeakSet[Send] = weakref.WeakSet()  # wrappers that send paths
# A file sent without sendfile (TLS, a transport with bytes still queued) goes in pieces this
# large, read in worker threads.
_PIECE = 1024 * 1024
# A body piece at least this large goes on the socket itself, not through the transport.
_DIRECT_AT = 256 * 1024


UNSENT = "packyard.unsent"
"""In a request's scope: the bytes of the body pieces the application sent that did not go
out on the connection because the client had gone (``observe`` takes them off what it
counts as sent)."""


def counted_size(cycle: Any, message: Any) -> int:
    """The body bytes a message carries, as the access log counts them (a ``zerocopysend``
    without a ``count``: 0, as there; a ``pathsend``: the Content-Length it completes)."""
    kind = message.get("type")
    if kind == "http.response.body":
        return len(message.get("body", b""))
    if kind == ZEROCOPYSEND:
        return message.get("count") or 0
    if kind == PATHSEND:
        length = getattr(cycle, "expected_content_length", 0)
        return length if isinstance(length, int) and not cycle.chunked_encoding else 0
    return 0


def left_unsent(cycle: Any, count: int) -> None:
    """Note in the request's scope that ``count`` bytes of the body did not go out: the client
    has gone (an answer streaming a generator stops reading, ``http/client_gone.py``)."""
    if count > 0:
        cycle.scope[UNSENT] = cycle.scope.get(UNSENT, 0) + count
        mark_client_gone(cycle.scope)


def pathsend_ready(cycle: type) -> bool:
    """Whether uvicorn's request cycle (httptools') answers ``http.response.pathsend`` (offer
    it then)."""
    return getattr(cycle, "send", None) in _pathsenders


def wrap_send(original: Send, *, coalesce: bool, pathsend: bool = False) -> Send:
    """uvicorn's ``RequestResponseCycle.send`` with reason phrases, and with coalescing and
    (``pathsend``) ASGI's ``http.response.pathsend`` and ``zerocopysend`` and large body
    pieces written on the socket itself."""

    async def send(self: Any, message: Any) -> None:
        """``dispatch``, telling the request's ``scope`` (``UNSENT``) how much of a body piece
        did not go out because the client had gone: uvicorn drops such pieces silently, and
        the access log and /metrics count what the application handed over."""
        size = counted_size(self, message)
        if not size:
            await dispatch(self, message)
            return
        if self.disconnected:
            left_unsent(self, size)
            await dispatch(self, message)
            return
        recorded = self.scope.get(UNSENT, 0)
        await dispatch(self, message)
        if self.disconnected and self.scope.get(UNSENT, 0) == recorded and (
                message.get("type") == "http.response.body"):
            # uvicorn's own send waited for the socket, found the client gone and dropped it.
            left_unsent(self, size)

    async def dispatch(self: Any, message: Any) -> None:
        message = _close_after_an_early_answer(self, message)
        if pathsend and message.get("type") == PATHSEND:
            await _send_path(self, message["path"], dispatch)
            return
        if pathsend and message.get("type") == ZEROCOPYSEND:
            await _send_range(self, message, dispatch)
            return
        if (pathsend and message.get("type") == "http.response.body"
                and len(message.get("body", b"")) >= _DIRECT_AT
                and await _sent_directly(self, message, dispatch)):
            return
        if coalesce:
            held: bytes | None = self.__dict__.pop(_HELD, None)
            if held is not None:  # the body of a marked response: one write with the head
                real = self.transport
                first = HeadFirst(real, held)
                self.transport = first
                try:
                    await original(self, message)
                finally:
                    self.transport = real
                    first.flush()
                return
        if message.get("type") != "http.response.start":
            await original(self, message)
            return
        reason, message = split_reason(message)
        token = None if reason is None else REASON.set(reason)
        try:
            if coalesce and message.get(COALESCE):
                real, catcher = self.transport, HeadCatcher()
                self.transport = catcher
                try:
                    await original(self, message)
                finally:
                    self.transport = real
                if catcher.head:
                    self.__dict__[_HELD] = catcher.head
            else:
                await original(self, message)
        finally:
            if token is not None:
                REASON.reset(token)

    _ours.add(send)
    if pathsend:
        _pathsenders.add(send)
    return send


def _close_after_an_early_answer(cycle: Any, message: Any) -> Any:
    """An answer started before the request's body was read says ``connection: close``: the
    server's protocol closes such a connection after a short linger (``protocol._linger``), and
    a client or proxy that reused it meanwhile (nginx's upstream keep-alive, urllib3's pool)
    would send its next request into a connection that drops it ("If the server chooses to
    close the connection immediately after sending the response, it SHOULD send a Connection
    header including the connection-token close", RFC 2616 §8.1.2.1; RFC 9112 §9.6). uvicorn
    then closes the connection when the answer is complete; while the body is still coming, the
    protocol lingers instead (a close with unread bytes would reset the answer away)."""
    kind = message.get("type")
    if kind == "http.response.start":
        protocol = getattr(getattr(cycle, "on_response", None), "__self__", None)
        if (getattr(protocol, "lingers_early_answers", False)
                and getattr(cycle, "more_body", False) and cycle.keep_alive):
            cycle.__dict__[_EARLY] = True
            return {**message, "headers": [*message.get("headers", ()),
                                           (b"connection", b"close")]}
    elif (cycle.__dict__.get(_EARLY) and not message.get("more_body", False)
            and cycle.more_body):
        cycle.keep_alive = True  # the protocol closes it, after its linger
    return message


async def _send_path(cycle: Any, path: str, send: Send) -> None:
    """The body of a started response: the file at ``path``, its whole Content-Length."""
    if not cycle.response_started or cycle.response_complete:
        raise RuntimeError(f"Unexpected ASGI message '{PATHSEND}'")
    if cycle.disconnected:
        return
    held: bytes | None = cycle.__dict__.pop(_HELD, None)
    if held is not None:
        cycle.transport.write(held)
    if cycle.flow.write_paused:
        await cycle.flow.drain()
    fd = os.open(path, os.O_RDONLY)
    try:
        length = cycle.expected_content_length
        sock = None if cycle.chunked_encoding or cycle.scope["method"] == "HEAD" \
            else plain_socket(cycle.transport)
        if sock is None:
            await _send_pieces(cycle, fd, length if not cycle.chunked_encoding else None, send,
                               counted=True)
            return
        try:
            sent = await send_file(cycle.transport, sock, fd, 0, length)
        except OSError as error:
            # The client went away (or the server closed the connection): nothing more to send.
            left_unsent(cycle, length - sent_before(error))
            cycle.disconnected = True
            cycle.transport.close()
            return
        cycle.expected_content_length -= sent
        # Completes the response as uvicorn does (a file shorter than its Content-Length is
        # refused there, and the connection closed).
        await send(cycle, {"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        os.close(fd)


async def _sent_directly(cycle: Any, message: Any, send: Send) -> bool:
    """A large piece of a body with a known length written on the socket itself
    (``sendfile.send_bytes``), the interpreter lock let go while the kernel copies it; False
    (nothing done) where the transport must write it: a held head, bytes it still holds, TLS,
    a chunked body, a piece longer than the length left."""
    body = message["body"]
    if (not cycle.response_started or cycle.response_complete or cycle.disconnected
            or cycle.chunked_encoding or cycle.scope["method"] == "HEAD"
            or _HELD in cycle.__dict__ or len(body) > cycle.expected_content_length):
        return False
    if cycle.flow.write_paused:
        await cycle.flow.drain()
    sock = plain_socket(cycle.transport)
    if sock is None:
        return False
    try:
        await send_bytes(cycle.transport, sock, body)
    except OSError as error:
        left_unsent(cycle, len(body) - sent_before(error))
        cycle.disconnected = True
        cycle.transport.close()
        return True
    cycle.expected_content_length -= len(body)
    if not message.get("more_body", False):
        await send(cycle, {"type": "http.response.body", "body": b"", "more_body": False})
    return True


async def _send_range(cycle: Any, message: Any, send: Send) -> None:
    """ASGI's ``http.response.zerocopysend``: ``count`` bytes of the open file ``file`` (an
    object with ``fileno()``, or a descriptor) from ``offset`` (the file's position when
    absent, which then moves past them), to its end when ``count`` is absent; then the body
    goes on, or ends unless ``more_body``. A file shorter than that cuts the response short."""
    if not cycle.response_started or cycle.response_complete:
        raise RuntimeError(f"Unexpected ASGI message '{ZEROCOPYSEND}'")
    if cycle.disconnected:
        return
    file = message["file"]
    fd = file if isinstance(file, int) else file.fileno()
    offset = message.get("offset")
    at = os.lseek(fd, 0, os.SEEK_CUR) if offset is None else offset
    count = message.get("count")
    if count is None:
        count = max(os.fstat(fd).st_size - at, 0)
    more = bool(message.get("more_body", False))
    held: bytes | None = cycle.__dict__.pop(_HELD, None)
    if held is not None:
        cycle.transport.write(held)
    if cycle.flow.write_paused:
        await cycle.flow.drain()
    sock = None if cycle.chunked_encoding else plain_socket(cycle.transport)
    if cycle.scope["method"] == "HEAD":
        sent = count  # a HEAD answer has no body to send
    elif sock is None:
        sent = await _send_pieces(cycle, fd, count, send, start=at, end_body=False,
                                  counted=True)
    else:
        try:
            sent = await send_file(cycle.transport, sock, fd, at, count)
        except OSError as error:
            left_unsent(cycle, (message.get("count") or 0) - sent_before(error))
            cycle.disconnected = True
            cycle.transport.close()
            return
        cycle.expected_content_length -= sent
    if offset is None:
        os.lseek(fd, at + sent, os.SEEK_SET)
    if sent < count:
        # The file ended early: what was promised cannot be sent, so the client must not
        # take the response for whole (uvicorn closes a body shorter than its length too).
        cycle.disconnected = True
        cycle.transport.close()
        return
    if not more:
        await send(cycle, {"type": "http.response.body", "body": b"", "more_body": False})


async def _send_pieces(cycle: Any, fd: int, length: int | None, send: Send, *, start: int = 0,
                       end_body: bool = True, counted: bool = False) -> int:
    """``length`` bytes of ``fd`` from ``start`` (to its end when None) read in worker threads
    and sent as body pieces, then the body's end unless not ``end_body``; returns how many
    were sent."""
    offset = start
    while length is None or offset - start < length:
        if cycle.disconnected:  # the client has gone: read no more of the file for nobody
            if counted and length is not None:  # what the access log counted as sent
                left_unsent(cycle, length - (offset - start))
            break
        want = _PIECE if length is None else min(_PIECE, length - (offset - start))
        piece = await anyio.to_thread.run_sync(os.pread, fd, want, offset)
        offset += len(piece)
        if not piece:
            break
        await send(cycle, {"type": "http.response.body", "body": piece, "more_body": True})
    if end_body:
        await send(cycle, {"type": "http.response.body", "body": b"", "more_body": False})
    return offset - start


def cycle_shape(module: ModuleType, table: str, *, coalesce: bool,
                pathsend: bool = False) -> Shape:
    """What ``wrap_send`` needs of one back end's module (``httptools_impl``: the status lines
    in ``STATUS_LINE``; ``h11_impl``: the phrases in ``STATUS_PHRASES``)."""
    shape = Shape()
    cycle = getattr(module, "RequestResponseCycle", None)
    if not isinstance(cycle, type):
        shape.missing.append(f"{module.__name__}.RequestResponseCycle")
        return shape
    shape.method(cycle, "send", "self, message", coroutine=True)
    shape.reads(cycle, "send", table)
    shape.attributes(cycle, "scope", "disconnected")  # what tells the access log of a gone client
    expected = b"HTTP/1.1 404 Not Found\r\n" if table == "STATUS_LINE" else b"Not Found"
    shape.holds(f"{table} as a dict of status code to {expected!r}",
                lambda: isinstance(getattr(module, table), dict)
                and getattr(module, table)[404] == expected)
    if coalesce:
        shape.attributes(cycle, "transport")
        shape.reads(cycle, "send", "transport")
        shape.holds("RequestResponseCycle instances taking new attributes",
                    lambda: cycle.__dictoffset__ != 0)
    if pathsend:
        shape.attributes(cycle, "transport", "flow", "scope", "response_started",
                         "response_complete", "disconnected", "expected_content_length",
                         "chunked_encoding")
        shape.reads(cycle, "send", "expected_content_length", "response_complete")
    return shape


def patch(module: ModuleType, table: str, *, coalesce: bool, consequence: str,
          pathsend: bool = False) -> bool:
    """Wrap one back end's ``send`` if it has what the wrapper uses; whether it is wrapped."""
    cycle = getattr(module, "RequestResponseCycle", None)
    send = getattr(cycle, "send", None)
    if send in _ours:
        return True
    if module.__name__ in _unfit and _unfit[module.__name__] is send:
        return False
    if not cycle_shape(module, table, coalesce=coalesce, pathsend=pathsend).fits(consequence):
        _unfit[module.__name__] = send
        return False
    assert cycle is not None
    setattr(module, table, Phrases(getattr(module, table), status_line=table == "STATUS_LINE"))
    cycle.send = wrap_send(cycle.send, coalesce=coalesce, pathsend=pathsend)
    return True


def install() -> None:
    """Patch uvicorn's httptools and h11 request cycles, each if it fits."""
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools not installed: uvicorn serves with h11
        pass
    else:
        patch(httptools_impl, "STATUS_LINE", coalesce=True, pathsend=True,
              consequence="responses go out as uvicorn writes them (head and body in two "
                          "writes; standard reason phrases, so twine shows no reason; files "
                          "read in pieces, not sent by the kernel)")
    from uvicorn.protocols.http import h11_impl

    patch(h11_impl, "STATUS_PHRASES", coalesce=False,
          consequence="h11 responses keep the standard reason phrases")
