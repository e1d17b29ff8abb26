"""Which cache entry a repeat npm read names (``formats/npm/hot_reads.py``), and the memo that
spares a repeat read the path's parse."""

from __future__ import annotations

from typing import Any

import pytest

from packyard.formats.npm import hot_reads
from packyard.formats.npm.hot_reads import npm_hot_route

SCOPE: Any = {"scheme": "http", "headers": []}
HEADERS = {b"host": "registry.test:8080", b"accept": "application/json"}


def _parts(package_path: str) -> list[str]:
    return ["", "demo-000000000000", "npm", "repo", *package_path.split("/")]


@pytest.fixture(autouse=True)
def _fresh_memo() -> None:
    hot_reads._parsed.cache_clear()


@pytest.mark.parametrize(("path", "expected"), [
    ("demo-lib/-/demo-lib-1.0.0.tgz", ("file", ("demo-lib", "demo-lib-1.0.0.tgz"))),
    ("@acme%2futil/-/util-1.0.0.tgz", ("file", ("@acme/util", "util-1.0.0.tgz"))),
    ("@acme/util/-/util-1.0.0.tgz", ("file", ("@acme/util", "util-1.0.0.tgz"))),
    ("@acme%2Futil", ("page", ("@acme/util", "full",
                               "http://registry.test:8080/demo-000000000000/npm/repo/"))),
    ("demo-lib/-rev/1-ab", None),  # unpublish: the handlers'
    ("demo-lib/latest", None),  # one version's manifest: the handlers'
    ("demo-lib/../x", None),  # refused by the handlers with their message
    ("demo-lib/-/other-1.0.0.tgz", None),
])
def test_the_entry_a_path_names(path: str, expected: object) -> None:
    assert npm_hot_route(_parts(path), HEADERS, SCOPE) == expected
    assert npm_hot_route(_parts(path), HEADERS, SCOPE) == expected  # again, from the memo


def test_a_repeat_read_is_not_parsed_again() -> None:
    parts = _parts("demo-lib/-/demo-lib-1.0.0.tgz")
    npm_hot_route(parts, HEADERS, SCOPE)
    npm_hot_route(parts, HEADERS, SCOPE)
    info = hot_reads._parsed.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_the_memo_is_bounded_in_count_and_in_path_length() -> None:
    """The route runs before the caller is authorized: what anyone can make it keep is
    bounded (4,096 paths of at most 512 characters)."""
    assert hot_reads._parsed.cache_info().maxsize == 4096
    name = "a" * 600
    long_path = f"{name}/-/{name}-1.0.0.tgz"
    assert npm_hot_route(_parts(long_path), HEADERS, SCOPE) is None  # too long a name anyway
    assert hot_reads._parsed.cache_info().currsize == 0
    for i in range(5000):
        npm_hot_route(_parts(f"p{i}/-/p{i}-1.0.0.tgz"), HEADERS, SCOPE)
    assert hot_reads._parsed.cache_info().currsize == 4096


@pytest.mark.parametrize(("label", "repo"), [
    ("demo%2D000000000000", "repo"),
    ("demo-000000000000", "re%70o"),
])
def test_a_percent_escape_in_the_label_or_repository_is_the_handlers(label: str,
                                                                     repo: str) -> None:
    # The path is read raw; the handlers read the label and repository decoded, so the raw
    # ones would be granted or refused as other names (the first-read path grants by them).
    parts = ["", label, "npm", repo, "demo-lib", "-", "demo-lib-1.0.0.tgz"]
    assert npm_hot_route(parts, HEADERS, SCOPE) is None
