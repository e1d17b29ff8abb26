"""The nextToken of CodeArtifact's in-memory lists (``api/pagination.py``)."""

from __future__ import annotations

import base64
import json
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
