"""The PyPI simple index, read with raw httpx the way pip and uv read it.

PEP 503 (HTML), 691 (JSON and content negotiation), 629 (api-version), 700 (versions, size,
upload-time), 658/714 (core metadata files), 592 (yanked), 792 (project status), plus the HTTP
behaviour installers rely on: ETag/304, Range/206, gzip, redirects to normalized names, and the
401 + ``WWW-Authenticate: Basic`` that lets pip ask its keyring.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin

import httpx
import pytest

from tests.integration.helpers import (
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    normalize,
    upload_ok,
)

HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


class _Page(HTMLParser):
    """Anchors and meta tags of a simple index HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str] = {}
        self._open: dict[str, str | None] | None = None
        self._text = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), ""
        elif tag == "meta":
            d = dict(attrs)
            if d.get("name"):
                self.meta[str(d["name"])] = str(d.get("content"))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, self._text.strip()))
            self._open = None

    def anchor(self, text: str) -> dict[str, str | None]:
        found = [attrs for attrs, t in self.anchors if t == text]
        assert len(found) == 1, f"expected one anchor {text!r}, got {self.anchors}"
        return found[0]


@dataclass
class IndexData:
    repo: PypiRepo
    name: str  # as published, not normalized
    wheel_10: Dist
    sdist_10: Dist
    wheel_11: Dist

    @property
    def project(self) -> str:
        return normalize(self.name)

    @property
    def page_url(self) -> str:
        return self.repo.project_url(self.project)

    @property
    def files(self) -> list[Dist]:
        return [self.wheel_10, self.sdist_10, self.wheel_11]


@pytest.fixture(scope="module")
def index(api: Any, server: ServerProcess, dists: DistFactory) -> IndexData:
    repo = create_pypi_repo(api, server.url, "idx")
    name = f"Idx_Demo.{secrets.token_hex(3)}"
    v10 = DistSpec(name=name, version="1.0", requires_python=">=3.8")
    v11 = DistSpec(name=name, version="1.1", requires_python=">=3.9,<4")
    data = IndexData(repo, name, dists.wheel(v10), dists.sdist(v10), dists.wheel(v11))
    upload_ok(repo, *data.files)
    return data


@pytest.fixture(scope="module")
def http(index: IndexData) -> Any:
    with index.repo.client() as client:
        yield client


def _get(http: httpx.Client, url: str, accept: str | None = None, **headers: str) -> httpx.Response:
    if accept is not None:
        headers["Accept"] = accept
    return http.get(url, headers=headers)


def _media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip()


def _file_url(index: IndexData, dist: Dist) -> str:
    return f"{index.page_url}{dist.filename}"


# ------------------------------------------------------------------ project list

def test_root_lists_projects_as_html(index: IndexData, http: httpx.Client) -> None:
    response = _get(http, index.repo.simple_url, "text/html")
    assert response.status_code == 200, response.text
    page = _Page(response.text)
    href = page.anchor(index.name if any(t == index.name for _, t in page.anchors)
                       else index.project)["href"]
    assert urljoin(index.repo.simple_url, str(href)) == index.page_url


def test_root_lists_projects_as_json(index: IndexData, http: httpx.Client) -> None:
    response = _get(http, index.repo.simple_url, JSON_V1)
    assert response.status_code == 200, response.text
    assert _media_type(response) == JSON_V1
    body = response.json()
    assert body["meta"]["api-version"].startswith("1.")
    assert index.project in {normalize(p["name"]) for p in body["projects"]}


# ------------------------------------------------------------------ project page, HTML

def test_project_page_html(index: IndexData, http: httpx.Client) -> None:
    response = _get(http, index.page_url, HTML_V1)
    assert response.status_code == 200, response.text
    assert _media_type(response) == HTML_V1
    page = _Page(response.text)
    # PEP 629: the api-version as a meta tag; 1.x is the current major version.
    assert page.meta.get("pypi:repository-version", "").startswith("1."), page.meta
    assert sorted(t for _, t in page.anchors) == sorted(d.filename for d in index.files)
    for dist in index.files:
        attrs = page.anchor(dist.filename)
        url, fragment = urldefrag(urljoin(index.page_url, str(attrs["href"])))
        assert url == _file_url(index, dist)
        assert fragment == f"sha256={dist.sha256}"
        assert attrs.get("data-requires-python") == dist.spec.requires_python
        assert "data-yanked" not in attrs


def test_requires_python_is_html_escaped(index: IndexData, http: httpx.Client) -> None:
    text = _get(http, index.page_url, HTML_V1).text
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in text


def test_project_page_html_has_core_metadata_attributes(index: IndexData,
                                                        http: httpx.Client) -> None:
    page = _Page(_get(http, index.page_url, HTML_V1).text)
    for wheel in (index.wheel_10, index.wheel_11):
        expected = "sha256=" + hashlib.sha256(wheel.spec.core_metadata().encode()).hexdigest()
        attrs = page.anchor(wheel.filename)
        # PEP 714 renamed the attribute; both are served so older pip keeps working.
        assert attrs.get("data-core-metadata") == expected, attrs
        assert attrs.get("data-dist-info-metadata") == expected, attrs


def test_project_status_is_active(index: IndexData, http: httpx.Client) -> None:
    page = _Page(_get(http, index.page_url, HTML_V1).text)
    body = _get(http, index.page_url, JSON_V1).json()
    # PEP 792: no marker means active; a marker, if sent, must say active here, and needs
    # api-version 1.4.
    html_status = page.meta.get("pypi:project-status", "active")
    json_status = body.get("project-status", {"status": "active"})["status"]
    assert (html_status, json_status) == ("active", "active")
    if "project-status" in body:
        major, minor = body["meta"]["api-version"].split(".")
        assert (int(major), int(minor)) >= (1, 4)


# ------------------------------------------------------------------ project page, JSON

def test_project_page_json(index: IndexData, http: httpx.Client) -> None:
    response = _get(http, index.page_url, JSON_V1)
    assert response.status_code == 200, response.text
    assert _media_type(response) == JSON_V1
    body = response.json()
    major, minor = body["meta"]["api-version"].split(".")
    assert (int(major), int(minor)) >= (1, 1), "PEP 700 fields need api-version 1.1"
    assert body["name"] == index.project
    assert sorted(body["versions"]) == ["1.0", "1.1"]
    files = {f["filename"]: f for f in body["files"]}
    assert set(files) == {d.filename for d in index.files}
    for dist in index.files:
        entry = files[dist.filename]
        assert urljoin(index.page_url, entry["url"]).split("#")[0] == _file_url(index, dist)
        assert entry["hashes"]["sha256"] == dist.sha256
        assert entry["requires-python"] == dist.spec.requires_python
        assert entry["size"] == len(dist.data)
        assert UPLOAD_TIME.match(entry["upload-time"]), entry["upload-time"]
        assert entry.get("yanked", False) is False
        if dist.is_wheel:
            digest = hashlib.sha256(dist.spec.core_metadata().encode()).hexdigest()
            assert entry["core-metadata"] == {"sha256": digest}
            if "dist-info-metadata" in entry:
                assert entry["dist-info-metadata"] == {"sha256": digest}


def test_core_metadata_file_matches_its_hash(index: IndexData, http: httpx.Client) -> None:
    files = {f["filename"]: f for f in _get(http, index.page_url, JSON_V1).json()["files"]}
    wheel = index.wheel_11
    response = http.get(_file_url(index, wheel) + ".metadata")
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == files[wheel.filename][
        "core-metadata"]["sha256"]
    assert response.content == wheel.spec.core_metadata().encode()


def test_metadata_of_missing_file_is_404(index: IndexData, http: httpx.Client) -> None:
    response = http.get(f"{index.page_url}nothing-9.9-py3-none-any.whl.metadata")
    assert response.status_code == 404


def test_file_download_matches_sha256(index: IndexData, http: httpx.Client) -> None:
    for dist in index.files:
        response = http.get(_file_url(index, dist))
        assert response.status_code == 200
        assert response.content == dist.data
        assert response.headers.get("accept-ranges") == "bytes"
        assert int(response.headers["content-length"]) == len(dist.data)


# ------------------------------------------------------------------ content negotiation

@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(JSON_V1, JSON_V1, id="json"),
    pytest.param(HTML_V1, HTML_V1, id="html-v1"),
    pytest.param("text/html", "text/html", id="text-html"),
    pytest.param("application/vnd.pypi.simple.latest+json", JSON_V1, id="latest-json"),
    pytest.param("application/vnd.pypi.simple.latest+html", HTML_V1, id="latest-html"),
    pytest.param(f"{JSON_V1};q=0.2, {HTML_V1};q=0.9", HTML_V1, id="q-prefers-html"),
    pytest.param(f"{HTML_V1};q=0.2, {JSON_V1};q=0.9", JSON_V1, id="q-prefers-json"),
    pytest.param(f"{JSON_V1};q=0, text/html", "text/html", id="q-zero-excludes"),
    # What pip sends.
    pytest.param(f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01", JSON_V1, id="pip"),
])
def test_accept_header_chooses_the_format(index: IndexData, http: httpx.Client, accept: str,
                                          expected: str) -> None:
    response = _get(http, index.page_url, accept)
    assert response.status_code == 200, response.text
    assert _media_type(response) == expected
    assert "accept" in response.headers.get("vary", "").lower()


@pytest.mark.parametrize("accept", ["application/json", "image/png",
                                    "application/vnd.pypi.simple.v2+json"])
def test_regression_an_accept_naming_no_served_type_gets_html_as_on_pypi(
        index: IndexData, http: httpx.Client, accept: str) -> None:
    # These were answered 406; pypi.org answers them with its HTML page (Warehouse's
    # _select_content_type), so a script asking for application/json works there.
    for url in (index.page_url, index.repo.simple_url):
        response = _get(http, url, accept)
        assert response.status_code == 200, response.text
        assert _media_type(response) == "text/html"
        assert "accept" in response.headers.get("vary", "").lower()


def test_no_accept_header_gets_a_page(index: IndexData, http: httpx.Client) -> None:
    response = http.get(index.page_url, headers={"Accept": "*/*"})
    assert response.status_code == 200
    assert _media_type(response) in {JSON_V1, HTML_V1, "text/html"}


# ------------------------------------------------------------------ URLs and names

@pytest.mark.parametrize("variant", ["upper-and-underscore", "no-trailing-slash"])
def test_non_normalized_project_url_redirects(index: IndexData, http: httpx.Client,
                                              variant: str) -> None:
    if variant == "upper-and-underscore":
        url = index.repo.project_url(index.name.replace(".", "_").upper())
    else:
        url = index.page_url.rstrip("/")
    response = http.get(url, headers={"Accept": HTML_V1})
    assert response.status_code in (301, 308), (response.status_code, response.text)
    assert urljoin(url, response.headers["location"]) == index.page_url


def test_unknown_project_is_404(index: IndexData, http: httpx.Client) -> None:
    response = http.get(index.repo.project_url("no-such-project"), headers={"Accept": HTML_V1})
    assert response.status_code == 404


# ------------------------------------------------------------------ caching, ranges, gzip

@pytest.mark.parametrize("accept", [HTML_V1, JSON_V1])
def test_etag_revalidation_gives_304(index: IndexData, http: httpx.Client, accept: str) -> None:
    first = _get(http, index.page_url, accept)
    etag = first.headers.get("etag")
    assert etag, "index pages must carry an ETag (pip revalidates every page)"
    again = _get(http, index.page_url, accept, **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers.get("etag") == etag
    other = _get(http, index.page_url, accept, **{"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_html_and_json_have_different_etags(index: IndexData, http: httpx.Client) -> None:
    html_tag = _get(http, index.page_url, HTML_V1).headers["etag"]
    json_tag = _get(http, index.page_url, JSON_V1).headers["etag"]
    assert html_tag != json_tag
    # A JSON tag must not validate the HTML representation.
    assert _get(http, index.page_url, HTML_V1, **{"If-None-Match": json_tag}).status_code == 200


def test_etag_changes_when_a_version_is_added(index: IndexData, http: httpx.Client,
                                              dists: DistFactory) -> None:
    name = f"etag-probe-{secrets.token_hex(3)}"
    upload_ok(index.repo, dists.wheel(DistSpec(name=name, version="1.0")))
    url = index.repo.project_url(name)
    etag = _get(http, url, JSON_V1).headers["etag"]
    upload_ok(index.repo, dists.wheel(DistSpec(name=name, version="2.0")))
    response = _get(http, url, JSON_V1, **{"If-None-Match": etag})
    assert response.status_code == 200
    assert sorted(response.json()["versions"]) == ["1.0", "2.0"]
    assert response.headers["etag"] != etag


@pytest.mark.parametrize(("range_header", "start", "end"), [
    pytest.param("bytes=0-99", 0, 99, id="first-100"),
    pytest.param("bytes=100-", 100, None, id="open-ended"),
    pytest.param("bytes=-50", -50, None, id="suffix"),
])
def test_range_request_gives_206(index: IndexData, http: httpx.Client, range_header: str,
                                 start: int, end: int | None) -> None:
    data = index.wheel_10.data
    size = len(data)
    first = start if start >= 0 else size + start
    last = end if end is not None else size - 1
    response = http.get(_file_url(index, index.wheel_10), headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.content == data[first:last + 1]


def test_unsatisfiable_range_is_416(index: IndexData, http: httpx.Client) -> None:
    size = len(index.wheel_10.data)
    response = http.get(_file_url(index, index.wheel_10), headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers.get("content-range") == f"bytes */{size}"


@pytest.mark.parametrize("accept", [HTML_V1, JSON_V1])
def test_pages_are_offered_gzipped(index: IndexData, http: httpx.Client, accept: str) -> None:
    plain = http.get(index.page_url, headers={"Accept": accept, "Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    # Read the raw bytes, so httpx's transparent decoding cannot hide what was sent.
    with http.stream("GET", index.page_url,
                     headers={"Accept": accept, "Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join(zipped.iter_raw())
        assert zipped.headers.get("content-encoding") == "gzip"
        assert "accept-encoding" in zipped.headers.get("vary", "").lower()
    assert gzip.decompress(raw) == plain.content


# ------------------------------------------------------------------ authentication

def test_bearer_token_works(index: IndexData) -> None:
    with httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {index.repo.token}"},
                      timeout=30) as client:
        assert client.get(index.page_url, headers={"Accept": HTML_V1}).status_code == 200
        assert client.get(_file_url(index, index.wheel_10)).content == index.wheel_10.data


@pytest.mark.parametrize("what", ["page", "file", "metadata", "root"])
def test_no_credentials_is_401_with_basic_challenge(index: IndexData, what: str) -> None:
    url = {"page": index.page_url, "file": _file_url(index, index.wheel_10),
           "metadata": _file_url(index, index.wheel_10) + ".metadata",
           "root": index.repo.simple_url}[what]
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").startswith("Basic"), response.headers


def test_bad_token_is_401(index: IndexData) -> None:
    response = httpx.get(index.page_url, auth=("aws", "not-a-token"), trust_env=False)
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").startswith("Basic")
    bearer = httpx.get(index.page_url, headers={"Authorization": "Bearer not-a-token"},
                       trust_env=False)
    assert bearer.status_code == 401


def test_expired_token_is_401(server_factory: Any, dists: DistFactory) -> None:
    first = server_factory()
    api = codeartifact_client(first.url)
    repo = create_pypi_repo(api, first.url, "exp")
    short = api.get_authorization_token(domain=repo.domain, durationSeconds=900)
    upload_ok(repo, dists.wheel(DistSpec(name="expiry-probe", version="1.0")))
    path = repo.simple_url.removeprefix(first.url)
    assert httpx.get(repo.simple_url, auth=("aws", short["authorizationToken"]),
                     trust_env=False).status_code == 200
    first.stop()

    # The same data 1000 s later (PACKYARD_CLOCK_OFFSET_SECONDS moves the server's clock):
    # the 15-minute token has expired, the 12-hour one still works.
    later = server_factory(env={"PACKYARD_CLOCK_OFFSET_SECONDS": "1000"},
                           data_dir=first.data_dir)
    expired = httpx.get(later.url + path, auth=("aws", short["authorizationToken"]),
                        trust_env=False)
    assert expired.status_code == 401
    assert expired.headers.get("www-authenticate", "").startswith("Basic")
    still_valid = httpx.get(later.url + path, auth=repo.auth, trust_env=False)
    assert still_valid.status_code == 200


# ------------------------------------------------------------------ answers from memory

@pytest.mark.parametrize(("what", "method", "headers"), [
    pytest.param("page", "GET", {"Accept": HTML_V1}, id="page-html"),
    pytest.param("page", "GET", {"Accept": JSON_V1, "Accept-Encoding": "gzip"},
                 id="page-json-gzip"),
    pytest.param("page", "HEAD", {"Accept": "text/html"}, id="page-head"),
    pytest.param("file", "GET", {}, id="file"),
    pytest.param("file", "HEAD", {}, id="file-head"),
    pytest.param("metadata", "GET", {}, id="metadata"),
])
def test_a_repeated_read_gets_the_same_answer_as_the_first(
        index: IndexData, api: Any, what: str, method: str, headers: dict[str, str]) -> None:
    # A fresh token has no recent grant, so its first request goes through the handlers
    # (which check it and cache the answer); the repeats are answered from memory.
    token = api.get_authorization_token(domain=index.repo.domain)["authorizationToken"]
    url = {"page": index.page_url, "file": _file_url(index, index.wheel_10),
           "metadata": _file_url(index, index.wheel_10) + ".metadata"}[what]
    with httpx.Client(auth=("aws", token), trust_env=False, follow_redirects=False) as client:
        def read(extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
            with client.stream(method, url, headers={**headers, **(extra or {})}) as response:
                raw = b"".join(response.iter_raw())
                # Each answer has its own date and request id; everything else is the same.
                sent = {k: v for k, v in response.headers.items()
                        if k not in ("date", "x-amzn-requestid")}
                return response.status_code, sent, raw

        first = read()
        repeats = [read() for _ in range(3)]
        assert first[0] == 200
        assert all(repeat == first for repeat in repeats)
        revalidated = [read({"If-None-Match": first[1]["etag"]}) for _ in range(2)]
    assert revalidated[0] == revalidated[1]
    assert revalidated[0][0] == 304 and revalidated[0][2] == b""
    assert revalidated[0][1]["etag"] == first[1]["etag"]
