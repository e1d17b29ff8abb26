"""One byte range of a file, as a client asks for it and an upstream answers it
(``upstream/byte_ranges.py``): what a range read of a file not kept yet forwards and checks."""

from __future__ import annotations

import pytest

from packyard.upstream.byte_ranges import (
    ByteRange,
    FileRequest,
    parse_content_range,
    unsatisfied_size,
)


@pytest.mark.parametrize(("header", "parsed"), [
    ("bytes=0-99", ByteRange(0, 99)),
    ("bytes=100-", ByteRange(100, None)),
    ("bytes=-65536", ByteRange(None, 65536)),
    ("Bytes= 5 - 5", ByteRange(5, 5)),
    (None, None),
    ("bytes=0-9,20-29", None),  # several ranges: never forwarded
    ("bytes=9-0", None),
    ("bytes=-", None),
    ("items=0-9", None),
    ("bytes=a-b", None),
])
def test_a_range_header_is_one_range_or_none(header: str | None,
                                            parsed: ByteRange | None) -> None:
    assert ByteRange.parse(header) == parsed


@pytest.mark.parametrize(("wanted", "size", "span"), [
    (ByteRange(0, 99), 1000, (0, 100)),
    (ByteRange(900, 5000), 1000, (900, 1000)),
    (ByteRange(999, None), 1000, (999, 1000)),
    (ByteRange(None, 100), 1000, (900, 1000)),
    (ByteRange(None, 5000), 1000, (0, 1000)),
    (ByteRange(1000, None), 1000, None),
    (ByteRange(None, 0), 1000, None),
    (ByteRange(None, 10), 0, None),
])
def test_a_range_within_a_size(wanted: ByteRange, size: int,
                               span: tuple[int, int] | None) -> None:
    assert wanted.within(size) == span


@pytest.mark.parametrize(("wanted", "answer", "good"), [
    (ByteRange(None, 100), (900, 1000, 1000), True),
    (ByteRange(None, 100), (0, 1000, 1000), False),  # the whole file for a suffix
    (ByteRange(None, 100), (900, 1000, None), False),  # a suffix cannot be placed without a size
    (ByteRange(10, 19), (10, 20, None), True),
    (ByteRange(10, 19), (10, 30, None), False),
    (ByteRange(10, None), (10, 500, None), True),
    (ByteRange(10, None), (11, 500, 500), False),
])
def test_an_upstreams_content_range_must_answer_the_range_asked(
        wanted: ByteRange, answer: tuple[int, int, int | None], good: bool) -> None:
    assert wanted.answered_by(*answer) is good


def test_content_range_headers() -> None:
    assert parse_content_range("bytes 0-99/1000") == (0, 100, 1000)
    assert parse_content_range("bytes 0-99/*") == (0, 100, None)
    assert parse_content_range("bytes 99-0/1000") is None
    assert parse_content_range("bytes */1000") is None
    assert parse_content_range(None) is None
    assert unsatisfied_size("bytes */1000") == 1000
    assert unsatisfied_size("bytes 0-1/2") is None


def test_if_range_keeps_the_range_only_for_the_files_sha256() -> None:
    asked = FileRequest(byte_range=ByteRange(0, 9), if_range='"abc"')
    assert asked.range_of("abc") == ByteRange(0, 9)
    assert asked.range_of("def") is None
    assert asked.range_of(None) is None
    assert FileRequest(byte_range=ByteRange(0, 9)).range_of(None) == ByteRange(0, 9)
