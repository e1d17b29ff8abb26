"""Ranges read from a Range header the way Starlette's FileResponse reads them, so that a blob
store without files (``BlobResponse``) answers exactly as one with files does."""

from __future__ import annotations

import pytest
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable

from packyard.services.blob_response import _BadRange, _Unsatisfiable, parse_ranges

SIZE = 1000


def _starlette(header: str) -> object:
    try:
        return FileResponse._parse_range_header(header, SIZE)
    except MalformedRangeHeader as exc:
        return ("bad", exc.content)
    except RangeNotSatisfiable:
        return "unsatisfiable"


def _ours(header: str) -> object:
    try:
        return parse_ranges(header, SIZE)
    except _BadRange as exc:
        return ("bad", exc.message)
    except _Unsatisfiable:
        return "unsatisfiable"


@pytest.mark.parametrize("header", [
    "bytes=0-0", "bytes=0-99", "bytes=100-", "bytes=-10", "bytes=-2000", "bytes=990-5000",
    "bytes=0-1,10-11", "bytes=10-11,0-1", "bytes=0-10,5-20", "bytes=0-1, 3-4 ,",
    "bytes=1000-", "bytes=5-1", "bytes=x-y", "bytes=", "bytes=-", "items=0-1", "bytes 0-1",
    "BYTES=0-1", "bytes=" + ",".join(f"{i}-{i}" for i in range(101)),
])
def test_ranges_are_read_as_file_response_reads_them(header: str) -> None:
    assert _ours(header) == _starlette(header)
