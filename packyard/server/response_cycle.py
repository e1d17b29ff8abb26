"""The one patch of uvicorn's request cycle: its ``send``, wrapped once per back end.

Two things ASGI cannot ask of a server go through it: a marked answer's head and body in one
write (``server.coalesce``, httptools only) and the response's own reason phrase on the status
line (``server.reason``, httptools and h11). Both act on the same ``send`` call, so one wrapper
does both, in this order: a held head goes out with the next write; a start message loses its
reason header, and while uvicorn writes its head the status-line table answers with that
reason; a marked start has its head caught instead of written.

Before wrapping, ``install`` checks that uvicorn's cycle still has what the wrapper uses (a
``send(self, message)`` coroutine writing through ``self.transport`` and reading the module's
status table); when not, it logs one line and leaves that back end unpatched: responses then
go out as uvicorn writes them, head and body apart, with the standard reason phrases.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from packyard.server.coalesce import COALESCE, HeadCatcher, HeadFirst
from packyard.server.fence import Shape
from packyard.server.reason import REASON, Phrases, split_reason

Send = Callable[[Any, Any], Awaitable[None]]

_HELD = "_packyard_head"
# The wrappers this module made, and the sends it found unfit and left alone: installing again
# (``packyard serve`` reaches ``fence.install`` twice) changes and logs nothing more.
_ours: weakref.WeakSet[Send] = weakref.WeakSet()
_unfit: dict[str, object] = {}  # module name -> its send, found unfit


def wrap_send(original: Send, *, coalesce: bool) -> Send:
    """uvicorn's ``RequestResponseCycle.send`` with reason phrases, and with coalescing."""

    async def send(self: Any, message: Any) -> None:
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
    return send


def cycle_shape(module: ModuleType, table: str, *, coalesce: bool) -> Shape:
    """What ``wrap_send`` needs of one back end's module (``httptools_impl``: the status lines
    in ``STATUS_LINE``; ``h11_impl``: the phrases in ``STATUS_PHRASES``)."""
    shape = Shape()
    cycle = getattr(module, "RequestResponseCycle", None)
    if not isinstance(cycle, type):
        shape.missing.append(f"{module.__name__}.RequestResponseCycle")
        return shape
    shape.method(cycle, "send", "self, message", coroutine=True)
    shape.reads(cycle, "send", table)
    expected = b"HTTP/1.1 404 Not Found\r\n" if table == "STATUS_LINE" else b"Not Found"
    shape.holds(f"{table} as a dict of status code to {expected!r}",
                lambda: isinstance(getattr(module, table), dict)
                and getattr(module, table)[404] == expected)
    if coalesce:
        shape.attributes(cycle, "transport")
        shape.reads(cycle, "send", "transport")
        shape.holds("RequestResponseCycle instances taking new attributes",
                    lambda: cycle.__dictoffset__ != 0)
    return shape


def patch(module: ModuleType, table: str, *, coalesce: bool, consequence: str) -> bool:
    """Wrap one back end's ``send`` if it has what the wrapper uses; whether it is wrapped."""
    cycle = getattr(module, "RequestResponseCycle", None)
    send = getattr(cycle, "send", None)
    if send in _ours:
        return True
    if module.__name__ in _unfit and _unfit[module.__name__] is send:
        return False
    if not cycle_shape(module, table, coalesce=coalesce).fits(consequence):
        _unfit[module.__name__] = send
        return False
    assert cycle is not None
    setattr(module, table, Phrases(getattr(module, table), status_line=table == "STATUS_LINE"))
    cycle.send = wrap_send(cycle.send, coalesce=coalesce)
    return True


def install() -> None:
    """Patch uvicorn's httptools and h11 request cycles, each if it fits."""
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools not installed: uvicorn serves with h11
        pass
    else:
        patch(httptools_impl, "STATUS_LINE", coalesce=True,
              consequence="responses go out as uvicorn writes them (head and body in two "
                          "writes; standard reason phrases, so twine shows no reason)")
    from uvicorn.protocols.http import h11_impl

    patch(h11_impl, "STATUS_PHRASES", coalesce=False,
          consequence="h11 responses keep the standard reason phrases")
