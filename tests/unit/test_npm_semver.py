"""npm versions: strict SemVer 2.0.0 and its precedence, checked against node-semver's order."""

from __future__ import annotations

import random

import pytest

from packyard.errors import Invalid
from packyard.formats.npm.semver import (
    SemVer,
    highest,
    is_valid_version,
    parse_version,
    version_key,
    version_sort_key,
)

# node-semver 7's semver.sort() of these (npm's own order), computed with the npm 11 bundle.
NODE_SEMVER_ORDER = [
    "0.0.0", "0.0.1-0", "0.0.1", "1.0.0-0", "1.0.0-1", "1.0.0-9", "1.0.0-10", "1.0.0--",
    "1.0.0-00a", "1.0.0-A", "1.0.0-Z.1", "1.0.0-a", "1.0.0-a-b", "1.0.0-alpha", "1.0.0-alpha.1",
    "1.0.0-alpha.1.1", "1.0.0-alpha.1.a", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
    "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0-rc.1.2", "1.0.0-rc.10", "1.0.0", "2.0.0", "2.1.0",
    "2.1.1", "9.99.999", "10.0.0", "999999999999.0.0",
]


@pytest.mark.parametrize(("text", "expected"), [
    ("1.2.3", SemVer(1, 2, 3, (), ())),
    ("0.0.0", SemVer(0, 0, 0, (), ())),
    ("1.0.0-alpha.1", SemVer(1, 0, 0, ("alpha", 1), ())),
    ("1.0.0-0.3.7", SemVer(1, 0, 0, (0, 3, 7), ())),
    ("1.0.0-x.7.z.92", SemVer(1, 0, 0, ("x", 7, "z", 92), ())),
    ("1.0.0-00a", SemVer(1, 0, 0, ("00a",), ())),  # alphanumeric: leading zeros allowed
    ("1.0.0+20130313144700", SemVer(1, 0, 0, (), ("20130313144700",))),
    ("1.0.0-beta+exp.sha.5114f85", SemVer(1, 0, 0, ("beta",), ("exp", "sha", "5114f85"))),
    ("1.0.0+build.01", SemVer(1, 0, 0, (), ("build", "01"))),  # build: leading zeros allowed
    ("9007199254740991.0.0", SemVer(2**53 - 1, 0, 0, (), ())),
])
def test_valid_versions(text: str, expected: SemVer) -> None:
    parsed = parse_version(text)
    assert parsed == expected
    assert str(parsed) == text


NOT_SEMVER = "it is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. 1.0.0)"


@pytest.mark.parametrize(("text", "reason"), [
    ("1.0", NOT_SEMVER),
    ("1.0.0.0", NOT_SEMVER),
    ("latest", NOT_SEMVER),
    ("v1.0.0", 'write it without the leading "v" (1.0.0)'),
    ("=1.0.0", 'write it without the leading "=" (1.0.0)'),
    ("01.0.0", "numbers cannot have leading zeros"),
    ("1.0.0-01", "numbers cannot have leading zeros"),
    ("1.0.0-", NOT_SEMVER),
    ("1.0.0+", NOT_SEMVER),
    ("1.0.0-a..b", NOT_SEMVER),
    ("1.0.0-é", NOT_SEMVER),
    ("１.0.0", NOT_SEMVER),
    (" 1.0.0", "a version cannot contain spaces"),
    ("1.0.0 ", "a version cannot contain spaces"),
    ("", "a version is required"),
    ("9007199254740992.0.0", "numbers cannot be larger than 9007199254740991"),
])
def test_invalid_versions(text: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_version(text)
    assert caught.value.message == f'Invalid version "{text}": {reason}.'
    assert not is_valid_version(text)


def test_a_version_longer_than_codeartifact_allows() -> None:
    text = "1.0.0-" + "a" * 250
    with pytest.raises(Invalid) as caught:
        parse_version(text)
    assert caught.value.message == f'Invalid version "{text[:40]}…": longer than 255 characters.'


def test_precedence_matches_node_semver() -> None:
    shuffled = NODE_SEMVER_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=lambda v: parse_version(v).precedence) == NODE_SEMVER_ORDER
    assert sorted(shuffled, key=version_sort_key) == NODE_SEMVER_ORDER


def test_build_metadata_does_not_count_for_precedence_or_identity() -> None:
    assert parse_version("1.0.0+a").precedence == parse_version("1.0.0+b").precedence
    assert version_key("1.0.0+build.7") == "1.0.0"
    assert version_key("1.0.0-rc.1+b") == "1.0.0-rc.1"
    # ... but a sort is still deterministic.
    assert sorted(["1.0.0+b", "1.0.0+a"], key=version_sort_key) == ["1.0.0+a", "1.0.0+b"]


def test_non_semver_versions_sort_first() -> None:
    # Very old upstream packages have versions that are not semver; they must not break a sort.
    assert sorted(["1.0.0", "banana", "0.1.0", "1.0"], key=version_sort_key) == [
        "1.0", "banana", "0.1.0", "1.0.0"]


@pytest.mark.parametrize(("text", "expected"), [
    ("1.0.0", False), ("1.0.0-rc.1", True), ("1.0.0+build", False), ("0.0.1-0", True)])
def test_is_prerelease(text: str, expected: bool) -> None:
    assert parse_version(text).is_prerelease is expected


@pytest.mark.parametrize(("versions", "with_prereleases", "expected"), [
    (["1.0.0", "2.0.0", "1.5.0"], False, "2.0.0"),
    (["1.0.0", "2.0.0-rc.1"], False, "1.0.0"),
    (["1.0.0", "2.0.0-rc.1"], True, "2.0.0-rc.1"),
    (["2.0.0-rc.1", "2.0.0-beta.3"], False, None),
    (["2.0.0-rc.1", "2.0.0-beta.3"], True, "2.0.0-rc.1"),
    (["not-semver", "0.1.0"], False, "0.1.0"),
    ([], True, None),
])
def test_highest(versions: list[str], with_prereleases: bool, expected: str | None) -> None:
    assert highest(versions, include_prereleases=with_prereleases) == expected
