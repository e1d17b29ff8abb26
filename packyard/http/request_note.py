"""What a protocol surface says about the request it serves, for the audit trail, the metrics and
the access log.

Every request the app serves through Starlette gets one ``RequestNote`` and one request id
(``server/observe.py`` puts both in the ASGI scope before any surface runs). A surface fills the
note as it learns things: the operation and the event it is (CloudTrail's ``eventSource`` and
``eventName``), the caller once authenticated, the parameters once parsed, the result, and on
a refusal the error code and message its wire format gives. Nothing here records or counts:
``server/observe.py`` reads the note when the response starts and records the audit event
(before a byte of the answer is sent), counts the request and writes its access-log line.

So recording is one neutral hook every surface calls the same way: the CodeArtifact API, IAM
and STS, each format's package endpoint, and later surfaces (KMS, the console) alike.

The request id is returned as ``x-amzn-RequestId`` (as AWS does) and carried by every log line
written while the request is served (``current_request_id``, a context variable that follows the
request into worker threads).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Protocol

_NOTE = "packyard.request_note"
_REQUEST_ID = "packyard.request_id"

_current_request_id: ContextVar[str | None] = ContextVar("packyard_request_id", default=None)


class Caller(Protocol):
    """What the audit trail records of an authenticated caller (``auth.principal.Principal``)."""

    @property
    def arn(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def access_key_id(self) -> str | None: ...

    @property
    def role_arn(self) -> str | None: ...


@dataclass
class RequestNote:
    """One request as its surface describes it; every field may stay empty."""

    # CloudTrail's eventSource (``codeartifact.amazonaws.com``) and eventName (the operation
    # or, on a package endpoint, the action the request needs: ``ReadFromRepository``,
    # ``PublishPackageVersion``). No name: nothing to record.
    source: str = ""
    name: str = ""
    # For the metrics: the surface (``codeartifact``, ``iam``, ``sts``, ``pypi``, …) and the
    # operation or route class (``CreateDomain``, ``project_page``, ``upload``, …).
    surface: str = "other"
    route: str = "other"
    caller: Caller | None = None
    request_parameters: dict[str, Any] | None = None
    response_elements: dict[str, Any] | None = None
    resources: list[dict[str, str]] = field(default_factory=list)
    read_only: bool = False
    # Whether a successful request is recorded (package reads only when
    # PACKYARD_AUDIT_DOWNLOADS is on); refusals always are.
    record_success: bool = True
    error_code: str | None = None
    error_message: str | None = None
    # What an upload added (for the uploads metric): "created" or "identical".
    upload_outcome: str | None = None
    # For the server log's line of a failed request (``server/observe.py``): what the refusal
    # said (audited or not), and whether the surface wrote that line itself.
    reason: str | None = None
    logged: bool = False

    def refused(self, code: str, message: str) -> None:
        """The request was refused (or failed) with this error code and message."""
        self.error_code = code
        self.error_message = message

    @property
    def recorded(self) -> bool:
        """Whether this request goes to the audit trail."""
        return bool(self.name) and (self.error_code is not None or self.record_success)


def note_of(scope: Any) -> RequestNote:
    """The request's note (a fresh one, recorded nowhere, outside ``server/observe.py``)."""
    note = scope.get(_NOTE)
    if note is None:
        note = scope[_NOTE] = RequestNote()
    assert isinstance(note, RequestNote)
    return note


def attach(scope: Any, request_id: str) -> RequestNote:
    """Start a request: a new note and its id in the scope."""
    note = RequestNote()
    scope[_NOTE] = note
    scope[_REQUEST_ID] = request_id
    return note


def keep_request_id(scope: Any, request_id: str) -> None:
    """Give the request ``request_id`` before ``attach`` (the first-read path, which may hand
    the request on to the routes): ``attach`` is then given the same id back by
    ``kept_request_id``, so every line and the answer name one id."""
    scope[_REQUEST_ID] = request_id


def kept_request_id(scope: Any) -> str | None:
    """The id ``keep_request_id`` gave the request, if any."""
    found = scope.get(_REQUEST_ID)
    return found if isinstance(found, str) else None


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the id of this context's log lines (until ``release_request_id``)."""
    return _current_request_id.set(request_id)


def release_request_id(token: Token[str | None]) -> None:
    _current_request_id.reset(token)


def request_id_of(scope: Any) -> str:
    """The request's id; one is made when the request came without (tests of a bare route)."""
    found = scope.get(_REQUEST_ID)
    if isinstance(found, str):
        return found
    import uuid

    made = scope[_REQUEST_ID] = str(uuid.uuid4())
    return made


def current_request_id() -> str | None:
    """The id of the request being served in this context, for log lines."""
    return _current_request_id.get()


class RequestIds:
    """UUID-shaped request ids, unique across processes: a random prefix per process (80 bits)
    and a counter. Cheaper than ``uuid4()`` (no system call, no 128-bit formatting), which
    matters on the server's fast lane."""

    def __init__(self) -> None:
        import itertools
        import secrets

        raw = secrets.token_hex(10)
        self._prefix = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-"
        self._line = b"x-amzn-requestid: " + self._prefix.encode("ascii") + b"%012x\r\n"
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):012x}"

    def header_line(self) -> bytes:
        """The next id as the response header line the server's fast lane writes."""
        return self._line % next(self._counter)

    @staticmethod
    def id_of(line: bytes | None) -> str | None:
        """The id in a ``header_line``."""
        return line[18:-2].decode("ascii") if line is not None else None
