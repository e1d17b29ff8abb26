"""The page tokens of the lists an operation has whole in memory: CodeArtifact's ``nextToken``
and IAM's ``Marker``.

A token says where the last page ended by the last item's place in the list's order (its
cursor), not by a count: a caller that deletes what a page showed before asking for the next
(a clean-up script walking ListPackageVersions) would otherwise skip as many items as it
deleted, and one added meanwhile would come twice. The token also names the operation that made
it, so another operation's token is refused rather than read as a place in a different list.
"""

from __future__ import annotations

import base64
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from packyard.errors import Invalid

T = TypeVar("T")
# What a token holds of the last item: JSON strings and integers only.
Cursor = list[str | int]


def _order_by_itself(cursor: Cursor) -> Any:
    return tuple(cursor)


def page(items: Sequence[T], params: dict[str, Any], operation: str,
         cursor: Callable[[T], Cursor] | None = None,
         order: Callable[[Cursor], Any] = _order_by_itself,
         default_max: int = 100, *, token_key: str = "nextToken",
         size_key: str = "maxResults") -> tuple[Sequence[T], str | None]:
    """The page of ``items`` that ``params`` (``size_key``, ``token_key``: CodeArtifact's
    ``maxResults`` and ``nextToken`` by default, IAM's ``MaxItems`` and ``Marker``) ask for,
    and the token of the next one (None on the last page).

    ``cursor`` gives an item's place as JSON values and ``order`` turns a cursor into what
    sorts the list (by default the cursor itself): the items are put in that order, and a page
    starts after the token's cursor, wherever that item went since. Without ``cursor`` the
    token is an offset, for lists that never change (a version's dependencies)."""
    size = params.get(size_key) or default_max
    made = cursor_of(params.get(token_key), operation)
    if cursor is None:
        start = 0
        if made is not None:
            if len(made) != 1 or type(made[0]) is not int or made[0] < 0:
                raise Invalid("nextToken is not valid")
            start = made[0]
        chunk = items[start:start + size]
        more = start + size < len(items)
        return chunk, token_after(operation, [start + size]) if more else None
    keys = [order(cursor(item)) for item in items]
    ranked = sorted(range(len(items)), key=keys.__getitem__)
    start = 0
    if made is not None:
        try:
            after = order(made)
            start = bisect_right([keys[i] for i in ranked], after)
        except (TypeError, ValueError, IndexError):
            raise Invalid("nextToken is not valid") from None
    chosen = [items[i] for i in ranked[start:start + size]]
    more = start + size < len(items)
    return chosen, token_after(operation, cursor(chosen[-1])) if more and chosen else None


def token_after(operation: str, cursor: Cursor) -> str:
    """The nextToken of a page of ``operation`` that ends at ``cursor``."""
    return base64.urlsafe_b64encode(json.dumps([operation, *cursor]).encode()).decode()


def cursor_of(token: str | None, operation: str) -> Cursor | None:
    """The cursor ``token_after`` put in ``token`` for ``operation``; None for the first page;
    a token made for another operation, or not by Packyard, is refused."""
    if not token:
        return None
    try:
        made = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, RecursionError):  # RecursionError: arrays nested too deep
        made = None
    if (not isinstance(made, list) or len(made) < 2 or made[0] != operation
            or not all(type(v) in (str, int) for v in made[1:])):
        raise Invalid("nextToken is not valid")
    return list(made[1:])
