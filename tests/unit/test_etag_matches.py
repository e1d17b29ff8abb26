"""If-None-Match against an answer's ETag (``services/answers.etag_matches``): the header as
clients send it back (the one ETag, compared whole first), lists, weak forms and ``*``."""

from __future__ import annotations

import pytest

from packyard.services.answers import RenderedPage, etag_matches, page_answer

ETAG = '"3958152880f34a6e103212b626682f1f"'


@pytest.mark.parametrize("if_none_match, matches", [
    (ETAG, True),  # what pip, uv and npm send back
    (f'W/{ETAG}', True),
    (f'"other", {ETAG}', True),
    ("*", True),
    ('"3958152880f34a6e103212b626682f1e"', False),  # one character off
    (ETAG[:-1], False),  # unquoted end
    ('"other"', False),
    ("", False),
    (None, False),
])
def test_etag_matches(if_none_match: str | None, matches: bool) -> None:
    assert etag_matches(if_none_match, ETAG) is matches


def test_a_revalidation_naming_another_version_of_a_page_gets_the_page() -> None:
    page = RenderedPage.of(b"<html>v2</html>", "text/html")
    current = page_answer(page, None, None).headers[0][1].decode()
    assert page_answer(page, None, current).status == 304
    stale = '"' + "0" * 32 + '"'
    answer = page_answer(page, None, stale)
    assert (answer.status, answer.body) == (200, b"<html>v2</html>")
