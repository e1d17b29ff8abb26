"""PEP 691 content negotiation: which media type a simple-index request gets."""

from __future__ import annotations

import pytest

from packyard.formats.pypi.negotiation import (
    SIMPLE_V1_HTML,
    SIMPLE_V1_JSON,
    TEXT_HTML,
    choose_media_type,
    media_type_for_format,
    negotiate,
)
from packyard.http.negotiation import accepts_gzip

JSON = SIMPLE_V1_JSON
HTML = SIMPLE_V1_HTML

# pip 26 (pip/_internal/index/collector.py, _get_simple_response).
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
# uv 0.13 (the constant in its registry client; read from the uv binary in /work/venv-dev).
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
# pip before 22.2, and every PEP 503-era client.
OLD_PIP_ACCEPT = "text/html"
CHROME_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(PIP_ACCEPT, JSON, id="pip"),
        pytest.param(UV_ACCEPT, JSON, id="uv"),
        pytest.param(OLD_PIP_ACCEPT, TEXT_HTML, id="old-pip"),
        pytest.param(CHROME_ACCEPT, TEXT_HTML, id="chrome"),
        pytest.param(FIREFOX_ACCEPT, TEXT_HTML, id="firefox"),
        pytest.param("*/*", TEXT_HTML, id="curl-and-requests-get-legacy-html"),
        pytest.param(None, TEXT_HTML, id="no-header-means-anything"),
        pytest.param("", TEXT_HTML, id="empty-header-means-anything"),
        pytest.param("   ", TEXT_HTML, id="blank-header-means-anything"),
        pytest.param(JSON, JSON, id="json-only"),
        pytest.param(HTML, HTML, id="vendor-html-only"),
        pytest.param("application/*", JSON, id="application-wildcard-prefers-json"),
        pytest.param("text/*", TEXT_HTML, id="text-wildcard"),
        pytest.param("application/vnd.pypi.simple.latest+json", JSON, id="latest-json-answers-v1"),
        pytest.param("application/vnd.pypi.simple.latest+html", HTML, id="latest-html-answers-v1"),
    ],
)
def test_choose_media_type_for_real_clients(accept: str | None, expected: str) -> None:
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(
            "text/html;q=0.5, application/vnd.pypi.simple.v1+html;q=0.9",
            HTML,
            id="higher-q-wins-over-order",
        ),
        pytest.param(
            "application/vnd.pypi.simple.v1+json;q=0.001, text/html;q=0.002",
            TEXT_HTML,
            id="three-decimal-q",
        ),
        pytest.param(f"text/html, {JSON}", TEXT_HTML, id="equal-q-client-order-text-html-first"),
        pytest.param(f"{JSON}, text/html", JSON, id="equal-q-client-order-json-first"),
        pytest.param(f"{HTML}, {JSON}", HTML, id="equal-q-client-order-vendor-html-first"),
        pytest.param("*/*, text/html", TEXT_HTML, id="specific-beats-full-wildcard"),
        pytest.param(
            f"application/*, {HTML}", HTML, id="specific-beats-subtype-wildcard-at-equal-q"
        ),
        pytest.param(f"application/*;q=0.9, {HTML};q=0.5", JSON, id="wildcard-with-higher-q-wins"),
    ],
)
def test_choose_media_type_ranks_quality_then_specificity_then_order(
    accept: str, expected: str
) -> None:
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(f"{JSON};q=0, {HTML}", HTML, id="json-refused"),
        pytest.param(f"{JSON};q=0, application/*", HTML, id="specific-q0-beats-wildcard"),
        pytest.param("text/html;q=0, */*", JSON, id="text-html-refused-wildcard-rest"),
        pytest.param(f"{HTML};q=0, text/html;q=0, */*", JSON, id="only-json-left"),
        pytest.param("text/html;q=0.000", TEXT_HTML, id="q-zero-with-decimals"),
        pytest.param("*/*;q=0", TEXT_HTML, id="everything-refused"),
        pytest.param(f"{JSON};q=0, {HTML};q=0, text/html;q=0", TEXT_HTML, id="all-three-refused"),
        pytest.param(
            f"application/vnd.pypi.simple.latest+json;q=0, {JSON}",
            JSON,
            id="equally-specific-names-take-the-favourable-q",
        ),
    ],
)
def test_choose_media_type_honours_q_zero(accept: str, expected: str) -> None:
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("application/json", id="plain-json"),
        pytest.param("application/vnd.pypi.simple.v2+json", id="future-major-version"),
        pytest.param("text/plain", id="text-plain"),
        pytest.param("image/*", id="other-wildcard"),
        pytest.param("application/xml;q=0.9, image/webp", id="several-unknown"),
    ],
)
def test_regression_nothing_acceptable_falls_back_to_text_html_as_pypi_does(accept: str) -> None:
    # These were answered 406; PyPI (Warehouse's _select_content_type) answers text/html.
    assert choose_media_type(accept) == TEXT_HTML


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param("Application/VND.PyPI.Simple.V1+JSON", JSON, id="media-type-case"),
        pytest.param("text/html;Q=0, */*", JSON, id="parameter-name-case"),
        pytest.param(f"  {JSON} ;  q=0.5 ,text/html;q=0.4", JSON, id="whitespace"),
        pytest.param("text/html;", TEXT_HTML, id="empty-parameter-is-allowed"),
        pytest.param(
            f"{HTML};charset=utf-8;q=0.9, text/html;q=0.5", HTML, id="other-parameters-ignored"
        ),
        pytest.param(f'text/html;foo="a,b";q=0, {HTML}', HTML, id="comma-inside-quoted-string"),
        pytest.param(
            f'text/html;foo="a\\"b,";q=0, {HTML}', HTML, id="escaped-quote-in-quoted-string"
        ),
    ],
)
def test_choose_media_type_parses_header_syntax(accept: str, expected: str) -> None:
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(f"garbage, {JSON}", JSON, id="no-slash"),
        pytest.param(f"text/html;q=abc, {HTML};q=0.5", HTML, id="q-not-a-number"),
        pytest.param(f"text/html;q=1.5, {HTML};q=0.5", HTML, id="q-above-one"),
        pytest.param(f"text/html;q=-1, {HTML};q=0.5", HTML, id="q-negative"),
        pytest.param(f"text/html;q=0.0001, {HTML};q=0.5", HTML, id="q-four-decimals"),
        pytest.param(f'text/html;q="0.5", {HTML};q=0.4', HTML, id="q-quoted"),
        pytest.param(f"text/html;level, {HTML};q=0.5", HTML, id="parameter-without-value"),
        pytest.param(f"*/html, {HTML};q=0.5", HTML, id="wildcard-type-concrete-subtype"),
        pytest.param(f"text/, {HTML};q=0.5", HTML, id="empty-subtype"),
        pytest.param(f"/html, {HTML};q=0.5", HTML, id="empty-type"),
        pytest.param(f"text/html/extra, {HTML};q=0.5", HTML, id="two-slashes"),
        pytest.param(f"te xt/html, {HTML};q=0.5", HTML, id="space-in-type"),
        pytest.param(f"text/h\u00e9ml, {HTML};q=0.5", HTML, id="non-ascii"),
        pytest.param(f",,, {JSON},,", JSON, id="empty-elements"),
    ],
)
def test_choose_media_type_skips_malformed_entries(accept: str, expected: str) -> None:
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("garbage", id="one-bare-word"),
        pytest.param(";;;, /, */json", id="only-punctuation"),
        pytest.param("text/html;q=2", id="only-entry-has-bad-q"),
    ],
)
def test_choose_media_type_treats_all_garbage_as_no_header(accept: str) -> None:
    assert choose_media_type(accept) == TEXT_HTML


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(JSON, JSON, id="json"),
        pytest.param(HTML, HTML, id="vendor-html"),
        pytest.param("text/html", TEXT_HTML, id="text-html"),
        pytest.param("application/vnd.pypi.simple.latest+json", JSON, id="latest-json"),
        pytest.param("application/vnd.pypi.simple.latest+html", HTML, id="latest-html"),
        pytest.param("  Application/Vnd.Pypi.Simple.V1+Json ", JSON, id="case-and-space"),
        pytest.param("application/vnd.pypi.simple.v1 json", JSON, id="plus-decoded-as-space"),
        pytest.param("json", None, id="shorthand-is-not-a-media-type"),
        pytest.param("*/*", None, id="wildcards-not-allowed"),
        pytest.param(f"{JSON};q=1", None, id="quality-not-allowed"),
        pytest.param(f"{JSON},{HTML}", None, id="several-not-allowed"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_media_type_for_format(value: str | None, expected: str | None) -> None:
    assert media_type_for_format(value) == expected


@pytest.mark.parametrize(
    ("accept", "format_param", "expected"),
    [
        pytest.param(PIP_ACCEPT, "text/html", TEXT_HTML, id="format-beats-accept"),
        pytest.param("text/plain", JSON, JSON, id="format-rescues-unacceptable-accept"),
        pytest.param(PIP_ACCEPT, "yaml", JSON, id="unknown-format-falls-back-to-accept"),
        pytest.param("text/plain", "yaml", TEXT_HTML, id="unknown-format-and-bad-accept"),
        pytest.param(PIP_ACCEPT, None, JSON, id="no-format"),
    ],
)
def test_negotiate(accept: str, format_param: str | None, expected: str) -> None:
    assert negotiate(accept, format_param) == expected


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        pytest.param(None, False, id="no-header"),
        pytest.param("", False, id="empty"),
        pytest.param("gzip", True, id="gzip"),
        pytest.param("gzip, deflate, br, zstd", True, id="browser"),
        pytest.param("gzip, deflate", True, id="python-requests"),
        pytest.param("GZIP", True, id="case-insensitive"),
        pytest.param("x-gzip", True, id="x-gzip-alias"),
        pytest.param("br, deflate", False, id="not-listed"),
        pytest.param("identity", False, id="identity-only"),
        pytest.param("gzip;q=0", False, id="gzip-refused"),
        pytest.param("gzip;q=0.000", False, id="gzip-refused-with-decimals"),
        pytest.param("gzip;q=0.5", True, id="gzip-low-q"),
        pytest.param("*", True, id="wildcard"),
        pytest.param("*;q=0", False, id="wildcard-refused"),
        pytest.param("gzip;q=0, *", False, id="explicit-refusal-beats-wildcard"),
        pytest.param("*;q=0, gzip", True, id="explicit-gzip-beats-wildcard-refusal"),
        pytest.param("gzip;q=bad, *;q=0.5", True, id="malformed-gzip-skipped"),
        pytest.param("gzip;q=bad", False, id="only-entry-malformed"),
        pytest.param("gzip;q=0, x-gzip;q=1", True, id="alias-with-better-q"),
    ],
)
def test_accepts_gzip(accept_encoding: str | None, expected: bool) -> None:
    assert accepts_gzip(accept_encoding) is expected
