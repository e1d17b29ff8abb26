"""``/-/v1/search`` over a repository's packages, in the shape npm search reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from packyard.errors import Invalid
from packyard.formats.npm.names import PackageName
from packyard.formats.npm.search import (
    Person,
    SearchablePackage,
    SearchQuery,
    parse_search_query,
    person,
    search,
    searchable,
)
from tests.unit.npm_samples import DEMO_LIB_MANIFEST

NOW = datetime(2024, 6, 5, 10, 0, tzinfo=UTC)
T = datetime(2024, 5, 1, tzinfo=UTC)

PACKAGES = [
    searchable(PackageName(None, "demo-lib"), "1.0.0",
               {**DEMO_LIB_MANIFEST, "_npmUser": {"name": "alice"}}, T),
    searchable(PackageName("acme", "util"), "2.0.0",
               {"description": "Scoped utilities", "keywords": "util, helpers",
                "author": "Bob Builder <bob@example.com> (https://example.com/bob)",
                "_npmUser": {"name": "bob"}}, T,
               publishers=[Person("bob"), Person("carol")]),
    searchable(PackageName(None, "demo"), "0.1.0", {"description": "The demo"}, T,
               deprecated=True),
    searchable(PackageName(None, "left-pad"), "1.3.0",
               {"description": "String padding", "keywords": ["pad", "string"],
                "author": {"name": "Azer", "email": "azer@example.com"},
                "maintainers": [{"name": "azer", "email": "azer@example.com"}],
                "_npmUser": {"name": "azer", "email": "azer@example.com"}}, T),
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
    ("scope:acme", ["@acme/util"]),
    ("scope:@acme util", ["@acme/util"]),
    ("http://example.com", []),  # not a qualifier: a word
])
def test_matching(text: str, expected: list[str]) -> None:
    response = search(PACKAGES, SearchQuery(text), NOW)
    assert names(response) == expected
    assert response["total"] == len(expected)


@pytest.mark.parametrize(("text", "expected"), [
    # The public registry's qualifiers (REGISTRY-API.md, GET /-/v1/search).
    ("author:bob", ["@acme/util"]),  # a word of the string form's name...
    ("author:BOB@example.com", ["@acme/util"]),  # ...or its e-mail, in any case
    ("author:azer pad", ["left-pad"]),  # the object form, with a word
    ("author:builder", ["@acme/util"]),
    ("author:alice", []),  # alice published demo-lib; she is not its author
    ("author:example.com", []),
    ("maintainer:alice", ["demo-lib"]),  # the publisher maintains it
    ("maintainer:carol", ["@acme/util"]),  # who published an older version too
    ("maintainer:azer@example.com", ["left-pad"]),  # the manifest's maintainers
    ("maintainer:nobody", []),
    ("keywords:pad,string", ["left-pad"]),  # "," is OR
    ("keywords:pad,other", ["left-pad"]),
    ("keywords:pad+other", []),  # "+" is AND
    ("keywords:pad+string", ["left-pad"]),
    ("keywords:demo,pad+string", ["demo-lib", "left-pad"]),  # demo OR (pad AND string)
    ("keywords:demo,pad,-string", ["demo-lib"]),  # ",-" is NOT
    ("keywords:-string", ["@acme/util", "demo", "demo-lib"]),
    ("is:unstable", ["demo"]),  # below 1.0.0
    ("not:unstable demo", ["demo-lib"]),
    ("is:deprecated", ["demo"]),
    ("not:deprecated demo", ["demo-lib"]),
    ("not:insecure", ["@acme/util", "demo", "demo-lib", "left-pad"]),  # nothing known
    ("is:insecure", ["@acme/util", "demo", "demo-lib", "left-pad"]),
    ("scope:acme author:bob keywords:helpers", ["@acme/util"]),  # every qualifier holds
    ("scope:acme author:azer", []),
])
def test_regression_the_registrys_search_qualifiers(text: str, expected: list[str]) -> None:
    response = search(PACKAGES, SearchQuery(text), NOW)
    assert sorted(names(response)) == expected
    assert response["total"] == len(expected)


def test_regression_boost_exact_false_ranks_the_exact_name_as_any_other() -> None:
    assert names(search(PACKAGES, SearchQuery("demo"), NOW)) == ["demo", "demo-lib"]
    flat = search(PACKAGES, SearchQuery("demo boost-exact:false"), NOW)
    assert [o["searchScore"] for o in flat["objects"]] == [0.8, 0.8]


def test_regression_results_name_the_publisher_maintainers_and_author() -> None:
    [util] = search(PACKAGES, SearchQuery("scope:acme"), NOW)["objects"]
    assert util["package"]["publisher"] == {"username": "bob"}
    assert util["package"]["maintainers"] == [{"username": "bob"}, {"username": "carol"}]
    assert util["package"]["author"] == {"name": "Bob Builder", "email": "bob@example.com",
                                         "url": "https://example.com/bob"}
    [pad] = search(PACKAGES, SearchQuery("left-pad"), NOW)["objects"]
    assert pad["package"]["publisher"] == {"username": "azer", "email": "azer@example.com"}
    assert pad["package"]["maintainers"] == [{"username": "azer",
                                              "email": "azer@example.com"}]
    [demo] = search(PACKAGES, SearchQuery("demo boost-exact:true"), NOW)["objects"][:1]
    assert "publisher" not in demo["package"] and demo["package"]["maintainers"] == []


@pytest.mark.parametrize(("value", "expected"), [
    ("Ann Lee <ann@example.com> (https://ann.example)",
     Person("Ann Lee", "ann@example.com", "https://ann.example")),
    ("ann", Person("ann")),
    ("ann <ann@example.com>", Person("ann", "ann@example.com")),
    ({"name": "ann", "email": "ann@example.com"}, Person("ann", "ann@example.com")),
    ({"name": 5}, None),
    ("", None),
    (["ann"], None),
])
def test_person(value: Any, expected: Person | None) -> None:
    assert person(value) == expected


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
    assert not searchable(PackageName(None, "old"), "1.0", {}, T).is_unstable  # not semver
