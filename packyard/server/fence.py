"""What Packyard relies on inside uvicorn, checked before it is used.

Three places go beneath uvicorn's public API (docs/decisions/0002): the server's protocol
(``server.protocol``: uvicorn's httptools protocol with the connection limits and the fast
lane), one patch of its request cycle's ``send`` (``server.response_cycle``: one write for a
marked response, our reason phrase on the status line), and the proxy-headers middleware
(``server.proxy_headers``: its trusted addresses, run on a bare scope by the fast lane).
``pyproject.toml`` pins the uvicorn minor version they were tested with, and each place
describes what it needs as a ``Shape``: methods with their parameters, attributes its
instances get, names a method reads. ``install`` checks them at start; when something is
missing (a uvicorn outside the pin installed anyway, or a release within it that moved
something), that place logs one line naming it and leaves uvicorn to work as it does without
Packyard.
"""

from __future__ import annotations

import dis
import inspect
import logging
import types
from collections.abc import Callable
from importlib import metadata
from typing import Any

from packaging.requirements import Requirement

_log = logging.getLogger(__name__)


class Shape:
    """What one patch needs of uvicorn; ``missing`` lists what is not there, as the log line
    names it (``HttpToolsProtocol.pipeline``, ``RequestResponseCycle.send(self, message)``)."""

    def __init__(self) -> None:
        self.missing: list[str] = []

    def method(self, owner: type, name: str, params: str, *, coroutine: bool = False) -> None:
        """``owner.name`` is a function taking exactly ``params`` (names, ``*args``, ``**kw``)."""
        wanted = f"{owner.__name__}.{name}({params})"
        function = getattr(owner, name, None)
        if function is None:
            self.missing.append(wanted)
            return
        found = _parameters(function)
        if found != params:
            self.missing.append(f"{wanted}, found ({found})")
        elif coroutine and not inspect.iscoroutinefunction(function):
            self.missing.append(f"{wanted} as a coroutine function")

    def attributes(self, owner: type, *names: str) -> None:
        """Instances of ``owner`` have these attributes: defined on the class or assigned
        (``self.name = ...``) by one of its methods."""
        assigned = _assigned_attributes(owner)
        self.missing.extend(f"{owner.__name__}.{name}" for name in names
                            if name not in assigned and not hasattr(owner, name))

    def reads(self, owner: type, method: str, *names: str) -> None:
        """``owner.method`` reads these names (attributes, or globals of its module): what a
        patch replaces around it is what it uses."""
        code = getattr(getattr(owner, method, None), "__code__", None)
        used = _names(code) if isinstance(code, types.CodeType) else set()
        self.missing.extend(f"{owner.__name__}.{method} reading {name}" for name in names
                            if name not in used)

    def holds(self, description: str, check: Callable[[], bool]) -> None:
        """Anything else, tried: ``check`` returns True (an exception counts as False)."""
        try:
            holds = check()
        except Exception:
            holds = False
        if not holds:
            self.missing.append(description)

    def fits(self, consequence: str) -> bool:
        """True when nothing is missing; otherwise log the one line that says what is, and
        ``consequence``: how Packyard serves without it."""
        if not self.missing:
            return True
        _log.warning("uvicorn %s lacks what Packyard was tested with (%s): %s; %s",
                     _version("uvicorn"), tested_range(), "; ".join(self.missing), consequence)
        return False


def tested_range() -> str:
    """The uvicorn versions Packyard's ``pyproject.toml`` allows, as installed."""
    try:
        requirements = metadata.requires("packyard") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.name == "uvicorn":
            return f"uvicorn{requirement.specifier}"
    return "the uvicorn pin in pyproject.toml"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def _parameters(function: object) -> str:
    try:
        parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"
    prefix: dict[Any, str] = {inspect.Parameter.VAR_POSITIONAL: "*",
                             inspect.Parameter.VAR_KEYWORD: "**"}
    return ", ".join(prefix.get(p.kind, "") + p.name for p in parameters)


def _codes(code: types.CodeType) -> list[types.CodeType]:
    """A function's code and the code nested in it (comprehensions, inner functions)."""
    nested = [const for const in code.co_consts if isinstance(const, types.CodeType)]
    return [code, *(inner for const in nested for inner in _codes(const))]


def _names(code: types.CodeType) -> set[str]:
    return {name for each in _codes(code) for name in each.co_names}


def _assigned_attributes(owner: type) -> set[str]:
    assigned: set[str] = set()
    for klass in owner.__mro__[:-1]:  # not object
        for value in vars(klass).values():
            code = getattr(value, "__code__", None)
            if isinstance(code, types.CodeType):
                assigned.update(instruction.argval for each in _codes(code)
                                for instruction in dis.get_instructions(each)
                                if instruction.opname == "STORE_ATTR")
    return assigned


def install() -> None:
    """Check what Packyard changes in uvicorn and change what fits, once per process:
    ``packyard serve`` calls it at start, and so does each ``--workers`` process."""
    from packyard.server import response_cycle
    from packyard.server.protocol import PackyardHttpProtocol

    response_cycle.install()
    PackyardHttpProtocol.choose_mode()
