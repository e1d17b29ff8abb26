"""The page tokens of the lists an operation has whole in memory: CodeArtifact's ``nextToken``
and IAM's ``Marker``.

A token says where the last page ended by the last item's place in the list's order (its
cursor), not by a count: a caller that deletes what a page showed before asking for the next
(a clean-up script walking ListPackageVersions) would otherwise skip as many items as it
deleted, and one added meanwhile would come twice. The token also names the operation that made
it, so another operation's token is refused rather than read as a place in a different list.

A token always fits its model: at most 2,000 characters for CodeArtifact's ``PaginationToken``
and 320 for IAM's ``markerType`` (URL-safe base64 meets both patterns). A cursor whose strings
would not fit (IAM policy ARNs run to some 680 characters; package-group patterns and names may
be non-ASCII) has its longest strings cut to a prefix and a digest of the whole, and the list is
ordered by those cut cursors, so a page still starts exactly after the token's item; items
whose long strings share a prefix of some hundred characters come in the digests' order.
"""

from __future__ import annotations

import base64
import hashlib
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from packyard.errors import Invalid

T = TypeVar("T")
# What a token holds of the last item: JSON strings and integers only.
Cursor = list[str | int]

NEXT_TOKEN_MAX = 2000
"""The longest nextToken CodeArtifact's model allows (``PaginationToken``)."""
IAM_MARKER_MAX = 320
"""The longest Marker IAM's model allows (``markerType``)."""

# What ends a cut string: a NUL (no name holds one), then a digest of the whole string.
_CUT = "\x00"
_DIGEST_CHARS = 16


def _order_by_itself(cursor: Cursor) -> Any:
    return tuple(cursor)


def page(items: Sequence[T], params: dict[str, Any], operation: str,
         cursor: Callable[[T], Cursor] | None = None,
         order: Callable[[Cursor], Any] = _order_by_itself,
         default_max: int = 100, *, token_key: str = "nextToken",
         size_key: str = "maxResults", token_max: int = NEXT_TOKEN_MAX
         ) -> tuple[Sequence[T], str | None]:
    """The page of ``items`` that ``params`` (``size_key``, ``token_key``: CodeArtifact's
    ``maxResults`` and ``nextToken`` by default, IAM's ``MaxItems`` and ``Marker``) ask for,
    and the token of the next one (None on the last page).

    ``cursor`` gives an item's place as JSON values and ``order`` turns a cursor into what
    sorts the list (by default the cursor itself): the items are put in that order, and a page
    starts after the token's cursor, wherever that item went since. Without ``cursor`` the
    token is an offset, for lists that never change (a version's dependencies). No token is
    longer than ``token_max`` characters."""
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
    cursors = [fitted(operation, cursor(item), token_max) for item in items]
    keys = [order(c) for c in cursors]
    ranked = sorted(range(len(items)), key=keys.__getitem__)
    start = 0
    if made is not None:
        try:
            after = order(made)
            start = bisect_right([keys[i] for i in ranked], after)
        except (TypeError, ValueError, IndexError):
            raise Invalid("nextToken is not valid") from None
    picked = ranked[start:start + size]
    more = start + size < len(items)
    chosen = [items[i] for i in picked]
    return chosen, token_after(operation, cursors[picked[-1]]) if more and picked else None


def token_after(operation: str, cursor: Cursor) -> str:
    """The nextToken of a page of ``operation`` that ends at ``cursor`` (``fitted`` to its
    model's limit, when its strings may be long)."""
    return base64.urlsafe_b64encode(_encoded([operation, *cursor])).decode()


def fitted(operation: str, cursor: Cursor, token_max: int) -> Cursor:
    """``cursor`` with its longest strings cut (a prefix, NUL, a digest of the whole) just
    enough that ``operation``'s token for it is at most ``token_max`` characters; as it is
    when it fits. Depends on ``cursor`` alone, so every item of a list is cut the same way."""
    room = token_max // 4 * 3 - len(_encoded([operation, *(v if isinstance(v, int) else ""
                                                           for v in cursor)]))
    sizes = sorted((len(_encoded(v)) - 2, i) for i, v in enumerate(cursor) if isinstance(v, str))
    # Each string gets what the shorter ones left, shared out evenly.
    shares: dict[int, int] = {}
    for rank, (length, i) in enumerate(sizes):
        share = room // (len(sizes) - rank)
        shares[i] = share
        room -= min(length, share)
    out: Cursor = []
    for i, value in enumerate(cursor):
        if isinstance(value, str) and len(_encoded(value)) - 2 > shares[i]:
            value = _cut(value, shares[i])
        out.append(value)
    return out


def _cut(value: str, share: int) -> str:
    """The longest prefix of ``value`` that, with the cut mark and digest, encodes in ``share``
    bytes (quotes aside)."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    tail = _CUT + digest
    low, high = 0, len(value)
    while low < high:  # the longest prefix that fits
        middle = (low + high + 1) // 2
        if len(_encoded(value[:middle] + tail)) - 2 <= share:
            low = middle
        else:
            high = middle - 1
    return value[:low] + tail


def _encoded(value: object) -> bytes:
    # UTF-8 rather than \u escapes: a non-ASCII name costs 2-4 bytes a character, not 6-12.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def cursor_of(token: str | None, operation: str) -> Cursor | None:
    """The cursor ``token_after`` put in ``token`` for ``operation``; None for the first page;
    a token made for another operation, or not by Packyard, is refused."""
    if not token:
        return None
    try:
        made = json.loads(base64.urlsafe_b64decode(token.encode()).decode("utf-8",
                                                                         "surrogatepass"))
    except (ValueError, RecursionError):  # RecursionError: arrays nested too deep
        made = None
    if (not isinstance(made, list) or len(made) < 2 or made[0] != operation
            or not all(type(v) in (str, int) for v in made[1:])):
        raise Invalid("nextToken is not valid")
    return list(made[1:])
