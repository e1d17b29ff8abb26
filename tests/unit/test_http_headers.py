"""Header values built from the user's text stay ASCII, so an odd filename is never a 500."""

from __future__ import annotations

import pytest

from packyard.errors import Conflict, Invalid, NotFound
from packyard.formats.pypi.errors import to_response
from packyard.http.request import header_text
from packyard.http.server_hints import REASON_HEADER


@pytest.mark.parametrize(("text", "sent"), [
    ("File already exists: pkg-1.0-py3-none-any.whl", "File already exists: pkg-1.0-py3-none-any.whl"),
    ("pkg\u20ac-1.0.tar.gz", "pkg%E2%82%AC-1.0.tar.gz"),
    ("pkg-1\uff0e0-py3-none-any.whl", "pkg-1%EF%BC%8E0-py3-none-any.whl"),
    ("caf\u00e9", "caf%C3%A9"),
    ("100% sure", "100% sure"),
    ("a\r\nSet-Cookie: x", "a%0D%0ASet-Cookie: x"),
])
def test_header_text_is_printable_ascii(text: str, sent: str) -> None:
    assert header_text(text) == sent


@pytest.mark.parametrize("error", [
    Conflict("File already exists: \u212apkg-1.0-py3-none-any.whl was uploaded before"),
    Invalid("Invalid wheel filename (invalid version): 'pkg-1\uff0e0-py3-none-any'"),
    NotFound("No project 'caf\u00e9'"),
])
def test_pypi_error_with_non_latin1_text_keeps_its_status_and_an_ascii_reason(
        error: Conflict | Invalid | NotFound) -> None:
    response = to_response(error)
    assert response.status_code in (400, 404, 409)
    reason = dict(response.headers)[REASON_HEADER]
    assert reason.isascii() and reason.isprintable()
    # The body keeps the text as it was, in UTF-8.
    assert response.body.decode("utf-8") == error.message + "\n"
