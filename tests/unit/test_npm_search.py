"""``/-/v1/search`` over a repository's packages, in the shape npm search reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from packyard.errors import Invalid
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.search import (
    SearchablePackage,
    SearchQuery,
    parse_search_query,
    search,
    searchable,
)
from tests.unit.npm_samples import DEMO_LIB_MANIFEST

NOW = datetime(2024, 6, 5, 10, 0, tzinfo=UTC)
T = datetime(2024, 5, 1, tzinfo=UTC)

PACKAGES = [
    searchable(PackageName(None, "demo-lib"), "1.0.0", DEMO_LIB_MANIFEST, T, publisher="alice"),
    searchable(PackageName("acme", "util"), "2.0.0",
               {"description": "Scoped utilities", "keywords": "util, helpers"}, T),
    searchable(PackageName(None, "demo"), "0.1.0", {"description": "The demo"}, T),
    searchable(PackageName(None, "left-pad"), "1.3.0",
               {"description": "String padding", "keywords": ["pad", "string"]}, T),
]


def names(response: dict[str, Any]) -> list[str]:
    return [found["package"]["name"] for found in response["objects"]]


def test_response_shape() -> None:
    response = search(PACKAGES, SearchQuery("demo-lib"), NOW)
    assert set(response) == {"objects", "total", "time"}
    assert response["time"] == "Wed Jun 05 2024 10:00:00 GMT+0000 (Coordinated Universal Time)"
    [found] = [o for o in response["objects"] if o["package"]["name"] == "demo-lib"]
    assert found == {
        "package": {
            "name": "demo-lib", "scope": "unscoped", "version": "1.0.0",
            "description": "A tiny library for Packyard's tests",
            "keywords": ["demo", "packyard-test"], "date": "2024-05-01T00:00:00.000Z",
            "links": {"homepage": "https://example.com/demo-lib",
                      "repository": "git+https://example.com/demo-lib.git"},
            # npm's formatter maps maintainers without checking it is there
            "maintainers": [{"username": "alice"}], "publisher": {"username": "alice"},
        },
        "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 0.0,
                                           "maintenance": 0.0}},
        "searchScore": 1.0,
    }


@pytest.mark.parametrize(("text", "expected"), [
    ("demo", ["demo", "demo-lib"]),  # the exact name first
    ("DEMO", ["demo", "demo-lib"]),
    ("util", ["@acme/util"]),
    ("helpers", ["@acme/util"]),  # keywords written as one string
    ("padding", ["left-pad"]),  # description
    ("demo tiny", ["demo-lib"]),  # every word must match
    ("nothing-like-it", []),
    ("", ["@acme/util", "demo", "demo-lib", "left-pad"]),
    ("keywords:pad", ["left-pad"]),
    ("keywords:pad,string", ["left-pad"]),
    ("keywords:pad,other", []),
    ("scope:acme", ["@acme/util"]),
    ("scope:@acme util", ["@acme/util"]),
    ("author:alice demo", ["demo", "demo-lib"]),  # other qualifiers are ignored
])
def test_matching(text: str, expected: list[str]) -> None:
    response = search(PACKAGES, SearchQuery(text), NOW)
    assert names(response) == expected
    assert response["total"] == len(expected)


def test_paging() -> None:
    everything = names(search(PACKAGES, SearchQuery(""), NOW))
    page = search(PACKAGES, SearchQuery("", size=2, offset=1), NOW)
    assert names(page) == everything[1:3]
    assert page["total"] == 4


def test_query_parameters() -> None:
    # What npm 11 sends: text, size, from and three weights.
    params = {"text": "demo", "size": "20", "from": "0", "quality": "0.65",
              "popularity": "0.98", "maintenance": "0.5"}
    assert parse_search_query(params) == SearchQuery("demo", 20, 0)
    assert parse_search_query({}) == SearchQuery("", 20, 0)
    assert parse_search_query({"size": "1000"}).size == 250
    assert parse_search_query({"size": "0"}).size == 1


@pytest.mark.parametrize(("params", "message"), [
    ({"size": "ten"}, "Search parameter size must be a whole number, not 'ten'."),
    ({"from": "-1"}, "Search parameter from cannot be negative."),
])
def test_bad_query_parameters(params: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_search_query(params)
    assert caught.value.message == message


def test_searchable_tolerates_old_manifests() -> None:
    found = searchable(PackageName(None, "old"), "0.0.1",
                       {"description": 5, "keywords": [1, "ok"], "repository": {"url": 3}}, T)
    assert found == SearchablePackage(PackageName(None, "old"), "0.0.1", None, ("ok",), T, {})
