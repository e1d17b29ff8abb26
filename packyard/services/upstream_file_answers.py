"""Answers about a file only an upstream has, given without pulling it: a HEAD from what the
upstream's document says of it, a range of it read from the upstream (206), a range past its
end (416). Their headers are the ones the kept file's answers have (``Accept-Ranges``, the
sha256 as ``ETag``), so a client sees the same file before and after it is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import PlainTextResponse, Response

from packyard.upstream.resolver import RangeNotSatisfiable, UpstreamFileHead, UpstreamRange


def _etag(sha256: str | None) -> dict[str, str]:
    return {} if sha256 is None else {"ETag": f'"{sha256}"'}


def head_answer(head: UpstreamFileHead, media_type: str,
                headers: Mapping[str, str]) -> Response:
    """A HEAD's answer: ranges are served (``upstream_range``, or from the kept file), the
    length is the one the upstream's document declares (none when it declares none)."""
    response = Response(None, media_type=media_type,
                        headers={**headers, **_etag(head.sha256), "Accept-Ranges": "bytes"})
    if head.size is not None:
        response.headers["content-length"] = str(head.size)
    else:
        del response.headers["content-length"]  # not 0: the length is unknown
    return response


def not_satisfiable(located: RangeNotSatisfiable) -> Response:
    """416, with the file's size when known, as for a kept file (``blob_response.py``)."""
    return PlainTextResponse(status_code=416, headers={} if located.size is None else {
        "Content-Range": f"bytes */{located.size}"})


def range_answer(located: UpstreamRange, media_type: str,
                 headers: Mapping[str, str]) -> Response:
    """206 with the bytes of the range the upstream sent (all read already)."""
    total = "*" if located.size is None else str(located.size)
    return Response(located.data, status_code=206, media_type=media_type, headers={
        **headers, **_etag(located.sha256), "Accept-Ranges": "bytes",
        "Content-Range": f"bytes {located.start}-{located.end - 1}/{total}"})
