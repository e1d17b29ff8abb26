"""Which files one release may hold: one sdist, one wheel per build tag and tag set (PyPI)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from packyard.formats.pypi.release_files import release_conflict

HASH = "b2" * 32


@dataclass(frozen=True)
class Held:
    name: str
    blake2_256: str = HASH


@pytest.mark.parametrize(("held", "new"), [
    pytest.param("pkg-1.0-py3-none-any.whl", "pkg-1.0.0-py3-none-any.whl", id="version-spelling"),
    pytest.param("pkg-1.0-py3-none-any.whl", "pkg-1-py3-none-any.whl", id="shorter-version"),
    pytest.param("pkg-1.0-py3-none-any.whl", "Pkg-1.0-py3-none-any.whl", id="name-case"),
    pytest.param("pkg-1.0-py3-none-any.whl", "pkg-1.0-PY3-none-any.whl", id="tag-case"),
    pytest.param("pkg-1.0-py2.py3-none-any.whl", "pkg-1.0-py3.py2-none-any.whl",
                 id="tag-set-order"),
    pytest.param("pkg-1.0-1-py3-none-any.whl", "pkg-1.0.0-1-py3-none-any.whl",
                 id="same-build-tag"),
])
def test_release_file_cannot_be_shadowed_by_another_spelling_of_its_version(
        held: str, new: str) -> None:
    conflict = release_conflict(new, [Held(held)])
    assert conflict is not None
    assert conflict.message == (
        f"File already exists ('{held}', with blake2_256 hash {HASH}): {new} is the same "
        "release, build tag and tags under another name; files are never replaced")
    assert conflict.resource_id == new


def test_a_held_file_whose_blake2b_is_not_filled_in_yet_is_named_without_it() -> None:
    # A pulled file's BLAKE2b is filled in after it is kept (decision 0019).
    conflict = release_conflict("pkg-1.0.0-py3-none-any.whl",
                                [Held("pkg-1.0-py3-none-any.whl", blake2_256="")])
    assert conflict is not None
    assert conflict.message == (
        "File already exists ('pkg-1.0-py3-none-any.whl'): pkg-1.0.0-py3-none-any.whl is the "
        "same release, build tag and tags under another name; files are never replaced")


@pytest.mark.parametrize(("held", "new"), [
    pytest.param("pkg-1.0.tar.gz", "pkg-1.0.zip", id="zip-after-tar-gz"),
    pytest.param("pkg-1.0.tar.gz", "pkg-1.0.0.tar.gz", id="version-spelling"),
    pytest.param("Pkg-1.0.zip", "pkg-1.0.tar.gz", id="tar-gz-after-zip"),
])
def test_release_takes_only_one_sdist(held: str, new: str) -> None:
    conflict = release_conflict(new, [Held(held)])
    assert conflict is not None
    assert conflict.message == (f"Only one sdist may be uploaded per release: this release has "
                                f"{held} already; files are never replaced")


@pytest.mark.parametrize("new", [
    pytest.param("pkg-1.0-py2-none-any.whl", id="other-tags"),
    pytest.param("pkg-1.0-py2.py3-none-any.whl", id="a-superset-of-tags"),
    pytest.param("pkg-1.0-1-py3-none-any.whl", id="a-build-tag"),
    pytest.param("pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", id="a-platform-wheel"),
    pytest.param("pkg-1.0.tar.gz", id="the-sdist"),
    pytest.param("pkg-1.0-py3-none-any.whl", id="the-same-name"),
])
def test_files_that_take_their_own_place_are_accepted(new: str) -> None:
    assert release_conflict(new, [Held("pkg-1.0-py3-none-any.whl")]) is None


def test_a_stored_name_that_no_longer_parses_takes_no_place() -> None:
    held = [Held('pkg-1.0-py3-none-any"><b>.whl'), Held("pkg-1.0-py3-none-any.whl")]
    assert release_conflict("pkg-1.0-py2-none-any.whl", held) is None
