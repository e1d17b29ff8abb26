"""Project names and versions (PEP 503, PEP 508, PEP 440)."""

from __future__ import annotations

import pytest

from packyard.errors import Invalid, NotFound
from packyard.formats.pypi.names import (
    is_valid_project_name,
    normalize_name,
    normalize_version,
    parse_version,
    require_project_name,
)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("requests", "requests"),
        ("Django", "django"),
        ("Foo_Bar", "foo-bar"),
        ("foo.bar", "foo-bar"),
        ("Foo__-.Bar", "foo-bar"),
        ("zope.interface", "zope-interface"),
        ("A", "a"),
    ],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("requests", True),
        ("Foo.Bar_baz-1", True),
        ("a", True),
        ("9", True),
        ("-foo", False),
        ("foo-", False),
        ("foo bar", False),
        ("fóo", False),
        ("", False),
        ("foo\n", False),
        ("foo/bar", False),
    ],
)
def test_is_valid_project_name(name: str, valid: bool) -> None:
    assert is_valid_project_name(name) is valid


@pytest.mark.parametrize(
    ("version", "canonical"),
    [
        ("1.0", "1"),
        ("1.0.0", "1"),
        ("v1.0", "1"),
        ("1.2.0", "1.2"),
        ("1.0rc1", "1rc1"),
        ("1.0-post1", "1.post1"),
        ("2.13.0+cpu", "2.13+cpu"),
        ("1!2.0", "1!2"),
    ],
)
def test_normalize_version(version: str, canonical: str) -> None:
    assert normalize_version(version) == canonical


def test_normalize_version_makes_equal_versions_equal() -> None:
    assert normalize_version("1.0") == normalize_version("1.0.0") == normalize_version("1")


def test_invalid_version_is_refused_with_pep_440_hint() -> None:
    with pytest.raises(Invalid) as caught:
        normalize_version("not a version")
    assert caught.value.message == (
        "'not a version' is not a valid version: see PEP 440 "
        "(https://peps.python.org/pep-0440/) for the version format."
    )


def test_version_with_surrounding_whitespace_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        parse_version(" 1.0")
    assert caught.value.message == "Version ' 1.0' must not have leading or trailing whitespace."


def test_parse_version_keeps_the_value() -> None:
    assert str(parse_version("1.0.post2")) == "1.0.post2"


@pytest.mark.parametrize("homoglyph", [
    pytest.param("\u212a", id="kelvin-sign"),
    pytest.param("\u017f", id="long-s"),
    pytest.param("\u0131", id="dotless-i"),
])
def test_project_name_homoglyphs_of_ascii_letters_are_not_valid(homoglyph: str) -> None:
    # Each case-folds to an ASCII letter, so IGNORECASE alone let [A-Z] match it.
    assert is_valid_project_name(f"pac{homoglyph}age") is False
    assert is_valid_project_name(homoglyph) is False


@pytest.mark.parametrize("name", ["%2e%2e%2fadmin", "a?x=1#", "..", "a b", "", "\u212a"])
def test_a_path_name_no_project_can_have_is_not_found(name: str) -> None:
    with pytest.raises(NotFound) as caught:
        require_project_name(name)
    assert caught.value.message.startswith(f"No project {name!r}: not a valid project name")


def test_a_valid_path_name_passes() -> None:
    require_project_name("foo-bar")
