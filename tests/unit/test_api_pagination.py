"""The nextToken of CodeArtifact's in-memory lists (``api/pagination.py``)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from packyard.api.pagination import page
from packyard.errors import Invalid

NAMES = ["b", "d", "a", "c", "e"]


def _walk(items: list[str], size: int, change: Any = None) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"maxResults": size}
    while True:
        chunk, token = page(items, params, "ListThings", lambda n: [n])
        seen += chunk
        if change is not None:
            items = change(items, chunk)
        if token is None:
            return seen
        params = {"maxResults": size, "nextToken": token}


def test_pages_come_in_the_cursors_order_each_item_once() -> None:
    assert _walk(NAMES, 2) == ["a", "b", "c", "d", "e"]


def test_deleting_what_a_page_showed_skips_nothing() -> None:
    assert _walk(NAMES, 2, lambda items, shown: [i for i in items if i not in shown]) == [
        "a", "b", "c", "d", "e"]


def test_an_item_added_before_the_cursor_does_not_repeat_the_page() -> None:
    assert _walk(NAMES, 2, lambda items, shown: [*items, "0"]) == ["a", "b", "c", "d", "e"]


def _token(*made: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(made)).encode()).decode()


@pytest.mark.parametrize("token", [
    "bogus",
    _token("ListOther", "a"),
    _token("ListThings"),
    _token("ListThings", 1.5),
    _token("ListThings", None),
    _token("ListThings", 3),  # an int where the order compares strings
    base64.urlsafe_b64encode(b"3").decode(),
])
def test_a_token_not_made_for_this_list_is_refused(token: str) -> None:
    with pytest.raises(Invalid, match="nextToken is not valid"):
        page(NAMES, {"nextToken": token}, "ListThings", lambda n: [n])


def test_a_list_without_cursor_pages_by_offset() -> None:
    chunk, token = page(NAMES, {"maxResults": 3}, "ListDeps")
    assert (list(chunk), page(NAMES, {"nextToken": token}, "ListDeps")[0]) == (
        NAMES[:3], NAMES[3:])
    with pytest.raises(Invalid):
        page(NAMES, {"nextToken": _token("ListDeps", -1)}, "ListDeps")


def test_regression_tokens_fit_the_models_however_long_the_names() -> None:
    # A token held the last item's whole cursor, \u-escaped: 255-character non-ASCII names
    # (or 520-character package group patterns) made nextTokens over CodeArtifact's 2,000
    # characters, and a long IAM policy path Markers over IAM's 320.
    astral = [[f"generic{i % 2}", "\U0001f600" * 250 + str(i), "\u00e9" * 254 + str(i)]
              for i in range(6)]
    patterns = [["/generic/" + "\u00e9" * 500 + f"{i}~"] for i in range(6)]
    policies = [[f"arn:aws:iam::000000000000:policy/{'p' * 500}/{i}" + "x" * 127]
                for i in range(6)]
    for items, limit, shape in ((astral, 2000, r"\S+"), (patterns, 2000, r"\S+"),
                                (policies, 320, r"[\u0020-\u00FF]+")):
        seen: list[list[str | int]] = []
        params: dict[str, Any] = {"maxResults": 1}
        while True:
            chunk, token = page(items, params, "ListThings", lambda c: list(c), token_max=limit)
            seen += chunk
            if token is None:
                break
            assert 1 <= len(token) <= limit and re.fullmatch(shape, token)
            params = {"maxResults": 1, "nextToken": token}
        assert sorted(map(tuple, seen)) == sorted(map(tuple, items))


def test_cut_cursors_keep_a_page_exact_when_its_last_item_is_deleted() -> None:
    names = [["p" * 400 + f"{i}"] for i in range(5)]
    chunk, token = page(names, {"maxResults": 2}, "ListThings", lambda c: list(c), token_max=320)
    rest = [n for n in names if n not in chunk]
    following, _ = page(rest, {"maxResults": 5, "nextToken": token}, "ListThings",
                        lambda c: list(c), token_max=320)
    assert sorted(map(tuple, chunk + following)) == sorted(map(tuple, names))
