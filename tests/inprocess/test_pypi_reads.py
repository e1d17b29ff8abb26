"""The PyPI package endpoint's read routes through the app: the simple index, project pages in
HTML and JSON, files with Range and ETags, PEP 658 metadata; the first read of each goes through
the Starlette handlers, its repeats through the hot path, with the same bytes."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.inprocess.harness import InProcessPackyard, InProcessRepo
from tests.integration.helpers import Dist, DistFactory, DistSpec, upload_ok

HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class Index:
    packyard: InProcessPackyard
    repo: InProcessRepo
    wheel: Dist  # small: answered from memory
    sdist: Dist
    big: Dist  # over 64 KiB: streamed from disk

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.repo.get(path, **headers)

    def raw(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and the body exactly as sent (no transparent gunzip); the request's
        own id (``x-amzn-requestid``, present on every answer) left out."""
        with self.repo.client() as http, http.stream("GET", self.repo.endpoint + path,
                                                     headers=headers) as response:
            sent = dict(response.headers)
            assert sent.pop("x-amzn-requestid", None), "every answer carries its request id"
            return response.status_code, sent, b"".join(response.iter_raw())


@pytest.fixture
def index(packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory) -> Index:
    spec = DistSpec(name="Demo.Pkg", version="1.0", requires_python=">=3.9,<4")
    done = Index(packyard, repo, dists.wheel(spec), dists.sdist(spec),
                 dists.wheel(DistSpec(name="Demo.Pkg", version="2.0", padding=100_000)))
    upload_ok(repo, done.wheel, done.sdist, done.big)
    return done


def _media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


# -- the index and project pages ---------------------------------------------------------------

def test_root_lists_projects_as_html_and_json(index: Index) -> None:
    html = index.get("simple/", Accept="text/html")
    assert (html.status_code, _media_type(html)) == (200, "text/html")
    assert '<a href="demo-pkg/">demo-pkg</a>' in html.text
    body = index.get("simple/", Accept=JSON_V1).json()
    assert body["projects"] == [{"name": "demo-pkg"}]


def test_project_page_html_links_every_file_with_its_hash(index: Index) -> None:
    response = index.get("simple/demo-pkg/", Accept=HTML_V1)
    assert (response.status_code, _media_type(response)) == (200, HTML_V1)
    for dist in (index.wheel, index.sdist, index.big):
        assert f'href="{dist.filename}#sha256={dist.sha256}"' in response.text
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in response.text


def test_project_page_json_describes_every_file(index: Index) -> None:
    response = index.get("simple/demo-pkg/", Accept=JSON_V1)
    assert (response.status_code, _media_type(response)) == (200, JSON_V1)
    body = response.json()
    assert (body["name"], body["versions"]) == ("demo-pkg", ["1.0", "2.0"])
    files = {f["filename"]: f for f in body["files"]}
    assert files[index.wheel.filename]["hashes"] == {"sha256": index.wheel.sha256}
    assert files[index.wheel.filename]["size"] == len(index.wheel.data)
    metadata = index.wheel.spec.core_metadata().encode()
    assert files[index.wheel.filename]["core-metadata"] == {
        "sha256": hashlib.sha256(metadata).hexdigest()}


@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(JSON_V1, JSON_V1, id="json"),
    pytest.param(HTML_V1, HTML_V1, id="html-v1"),
    pytest.param("text/html", "text/html", id="text-html"),
    pytest.param(f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01", JSON_V1, id="pip"),
    pytest.param("*/*", "text/html", id="anything"),
])
def test_accept_chooses_the_page_format(index: Index, accept: str, expected: str) -> None:
    response = index.get("simple/demo-pkg/", Accept=accept)
    assert (response.status_code, _media_type(response)) == (200, expected)
    assert "Accept" in response.headers["vary"]


def test_format_query_parameter_chooses_the_format(index: Index) -> None:
    response = index.get(f"simple/demo-pkg/?format={quote(JSON_V1)}", Accept="text/html")
    assert _media_type(response) == JSON_V1


@pytest.mark.parametrize("accept", ["application/json", "image/png",
                                    "application/vnd.pypi.simple.v2+json"])
def test_regression_an_accept_naming_no_served_type_gets_html(index: Index, accept: str) -> None:
    # These were answered 406; PyPI answers them with its HTML page.
    for path in ("simple/demo-pkg/", "simple/"):
        response = index.get(path, Accept=accept)
        assert (response.status_code, _media_type(response)) == (200, "text/html")
        assert "Accept" in response.headers["vary"]
    assert f'href="{index.sdist.filename}#sha256=' in index.get("simple/demo-pkg/",
                                                                   Accept=accept).text


@pytest.mark.parametrize(("path", "location"), [
    pytest.param("simple/Demo_Pkg/", "simple/demo-pkg/", id="not-normalized"),
    pytest.param("simple/demo-pkg", "simple/demo-pkg/", id="no-trailing-slash"),
    pytest.param("simple/DEMO.pkg?format=text/html", "simple/demo-pkg/?format=text/html",
                 id="query-kept"),
])
def test_project_url_redirects_to_the_normalized_name(index: Index, path: str,
                                                      location: str) -> None:
    response = index.get(path, Accept=HTML_V1)
    assert response.status_code == 301
    assert response.headers["location"] == (
        index.repo.endpoint.removeprefix("http://packyard.test") + location)


def test_unknown_project_is_404(index: Index) -> None:
    response = index.get("simple/no-such-project/", Accept=HTML_V1)
    assert response.status_code == 404
    assert response.text == "No project no-such-project in repository shelf\n"


def test_archived_and_unlisted_versions_leave_the_page(index: Index) -> None:
    api = index.packyard.codeartifact()
    api.update_package_versions_status(domain="acme", repository="shelf", format="pypi",
                                       package="demo-pkg", versions=["2.0"],
                                       targetStatus="Archived")
    body = index.get("simple/demo-pkg/", Accept=JSON_V1).json()
    assert {f["filename"] for f in body["files"]} == {index.wheel.filename,
                                                      index.sdist.filename}


# -- files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["wheel", "sdist", "big"])
def test_file_download_is_the_uploaded_bytes(index: Index, which: str) -> None:
    dist: Dist = getattr(index, which)
    response = index.get(f"simple/demo-pkg/{dist.filename}")
    assert response.status_code == 200
    assert response.content == dist.data
    assert response.headers["etag"] == f'"{dist.sha256}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert response.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("which", ["wheel", "big"])
@pytest.mark.parametrize(("range_header", "first", "last"), [
    pytest.param("bytes=0-99", 0, 99, id="first-100"),
    pytest.param("bytes=100-", 100, None, id="open-ended"),
    pytest.param("bytes=-50", -50, None, id="suffix"),
])
def test_range_request_gives_206(index: Index, which: str, range_header: str, first: int,
                                 last: int | None) -> None:
    data = getattr(index, which).data
    start = first if first >= 0 else len(data) + first
    end = last if last is not None else len(data) - 1
    response = index.get(f"simple/demo-pkg/{getattr(index, which).filename}",
                         Range=range_header)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert response.content == data[start:end + 1]


def test_unsatisfiable_range_is_416(index: Index) -> None:
    size = len(index.big.data)
    response = index.get(f"simple/demo-pkg/{index.big.filename}", Range=f"bytes={size}-")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_small_file_etag_revalidation_is_304(index: Index) -> None:
    response = index.get(f"simple/demo-pkg/{index.wheel.filename}",
                         **{"If-None-Match": f'"{index.wheel.sha256}"'})
    assert (response.status_code, response.content) == (304, b"")


def test_large_file_etag_revalidation_is_304(index: Index) -> None:
    response = index.get(f"simple/demo-pkg/{index.big.filename}",
                         **{"If-None-Match": f'"{index.big.sha256}"'})
    assert (response.status_code, response.content) == (304, b"")
    assert response.headers["etag"] == f'"{index.big.sha256}"'


def test_large_file_revalidation_wins_over_a_range(index: Index) -> None:
    response = index.get(f"simple/demo-pkg/{index.big.filename}", Range="bytes=0-9",
                         **{"If-None-Match": f'W/"x", "{index.big.sha256}"'})
    assert (response.status_code, response.content) == (304, b"")


def test_large_file_with_another_etag_is_sent_whole(index: Index) -> None:
    response = index.get(f"simple/demo-pkg/{index.big.filename}",
                         **{"If-None-Match": '"0000"'})
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == index.big.sha256


def test_core_metadata_file_is_served_beside_the_wheel(index: Index) -> None:
    response = index.get(f"simple/demo-pkg/{index.wheel.filename}.metadata")
    assert response.status_code == 200
    assert response.content == index.wheel.spec.core_metadata().encode()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("filename", ["nothing-9.9-py3-none-any.whl",
                                      "nothing-9.9-py3-none-any.whl.metadata"])
def test_missing_file_is_404(index: Index, filename: str) -> None:
    response = index.get(f"simple/demo-pkg/{filename}")
    assert response.status_code == 404
    assert response.text == f"No file {filename} in project demo-pkg\n"


# -- caching: ETags, gzip, and the hot path --------------------------------------------------------

@pytest.mark.parametrize("accept", [HTML_V1, JSON_V1])
def test_page_etag_revalidation_is_304(index: Index, accept: str) -> None:
    etag = index.get("simple/demo-pkg/", Accept=accept).headers["etag"]
    again = index.get("simple/demo-pkg/", Accept=accept, **{"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    other = index.get("simple/demo-pkg/", Accept=accept, **{"If-None-Match": '"else"'})
    assert other.status_code == 200


def test_page_etag_changes_when_a_version_is_added(index: Index, dists: DistFactory) -> None:
    etag = index.get("simple/demo-pkg/", Accept=JSON_V1).headers["etag"]
    upload_ok(index.repo, dists.wheel(DistSpec(name="Demo.Pkg", version="3.0")))
    response = index.get("simple/demo-pkg/", Accept=JSON_V1, **{"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["versions"] == ["1.0", "2.0", "3.0"]


def test_large_pages_are_gzipped_for_clients_that_take_it(index: Index,
                                                           dists: DistFactory) -> None:
    for version in ("3.0", "4.0", "5.0", "6.0"):
        upload_ok(index.repo, dists.wheel(DistSpec(name="Demo.Pkg", version=version)))
    status, plain_headers, plain = index.raw("simple/demo-pkg/", Accept=JSON_V1,
                                             **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain_headers
    status, headers, zipped = index.raw("simple/demo-pkg/", Accept=JSON_V1,
                                        **{"Accept-Encoding": "gzip"})
    assert (status, headers["content-encoding"]) == (200, "gzip")
    assert gzip.decompress(zipped) == plain
    assert headers["etag"] != plain_headers["etag"]


@pytest.mark.parametrize(("path", "headers"), [
    pytest.param("simple/demo-pkg/", {"Accept": HTML_V1}, id="page-html"),
    pytest.param("simple/demo-pkg/", {"Accept": JSON_V1, "Accept-Encoding": "gzip"},
                 id="page-json"),
    pytest.param("simple/demo-pkg/demo_pkg-1.0-py3-none-any.whl", {}, id="small-file"),
    pytest.param("simple/demo-pkg/demo_pkg-1.0-py3-none-any.whl.metadata", {},
                 id="metadata"),
])
def test_repeats_come_from_the_hot_path_with_the_same_bytes(
        index: Index, path: str, headers: dict[str, str]) -> None:
    first = index.raw(path, **headers)
    reached_starlette = index.packyard.starlette_calls
    repeats = [index.raw(path, **headers) for _ in range(3)]
    assert index.packyard.starlette_calls == reached_starlette, "a repeat reached Starlette"
    assert first[0] == 200
    assert all(repeat == first for repeat in repeats)
    revalidated = index.raw(path, **headers, **{"If-None-Match": first[1]["etag"]})
    assert index.packyard.starlette_calls == reached_starlette
    assert (revalidated[0], revalidated[2]) == (304, b"")


@pytest.mark.parametrize(("path", "headers"), [
    pytest.param("simple/demo-pkg/", {"Accept": HTML_V1, "Range": "bytes=0-1"},
                 id="range"),
    pytest.param("simple/demo-pkg/?format=text/html", {}, id="query-string"),
    pytest.param("simple/Demo_Pkg/", {"Accept": HTML_V1}, id="not-normalized"),
    pytest.param("simple/demo-pkg/demo_pkg-2.0-py3-none-any.whl", {}, id="large-file"),
])
def test_what_the_hot_path_leaves_to_starlette(index: Index, path: str,
                                               headers: dict[str, str]) -> None:
    index.raw(path, **headers)
    before = index.packyard.starlette_calls
    index.raw(path, **headers)
    assert index.packyard.starlette_calls == before + 1


def test_hot_path_still_checks_the_token(index: Index) -> None:
    index.get("simple/demo-pkg/", Accept=HTML_V1)  # cached, and a grant for this token
    with httpx.Client(transport=index.repo.transport, auth=("aws", "not-a-token")) as http:
        response = http.get(index.repo.endpoint + "simple/demo-pkg/",
                            headers={"Accept": HTML_V1})
    assert response.status_code == 401


@pytest.mark.parametrize(("path", "headers"), [
    pytest.param("simple/demo-pkg/", {"Accept": HTML_V1}, id="page"),
    pytest.param("simple/demo-pkg/demo_pkg-1.0-py3-none-any.whl", {}, id="small-file"),
    pytest.param("simple/demo-pkg/demo_pkg-2.0-py3-none-any.whl", {}, id="large-file"),
])
def test_head_answers_as_get_would(index: Index, path: str, headers: dict[str, str]) -> None:
    # uv asks HEAD first. (uvicorn drops a HEAD answer's body on the wire; in process the
    # handlers' body is still there, so only the status and headers are compared.)
    got = index.get(path, **headers)
    with index.repo.client() as http:
        head = http.head(index.repo.endpoint + path, headers=headers)
    assert head.status_code == 200
    assert {k: head.headers[k] for k in ("content-length", "content-type", "etag")} == {
        k: got.headers[k] for k in ("content-length", "content-type", "etag")}


def test_unexpected_failure_is_a_plain_500(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(index.packyard.container.catalog, "list_project_names", broken)
    response = index.get("simple/", Accept=HTML_V1)
    assert (response.status_code, response.text) == (
        500, "Packyard hit an internal error; see the server log\n")


# -- PEP 658 metadata of uploaded sdists (PEP 643) ---------------------------------------------

@pytest.mark.parametrize(("spec", "served"), [
    # What setuptools < 68 wrote: 2.1 and no Requires-Dist, whatever install_requires said.
    pytest.param(DistSpec(name="legacy-deps", version="1.0"), False, id="2.1"),
    pytest.param(DistSpec(name="dynamic-deps", version="1.0", metadata_format="2.2",
                          dynamic=("Requires-Dist",)), False, id="2.2-dynamic-requires-dist"),
    pytest.param(DistSpec(name="static-deps", version="1.0", metadata_format="2.2",
                          requires_dist=("six",)), True, id="2.2-static"),
])
def test_regression_an_uploaded_sdists_metadata_is_offered_only_when_reliable(
        repo: InProcessRepo, dists: DistFactory, spec: DistSpec, served: bool) -> None:
    # pip resolved from a 2.1 sdist's .metadata and installed it without its dependencies.
    sdist = dists.sdist(spec)
    upload_ok(repo, sdist)
    project = spec.name
    metadata = spec.core_metadata().encode()
    declared = f"sha256={hashlib.sha256(metadata).hexdigest()}"
    html = repo.get(f"simple/{project}/", Accept="text/html").text
    assert (f'data-core-metadata="{declared}"' in html) is served
    assert (f'data-dist-info-metadata="{declared}"' in html) is served
    assert ("data-core-metadata" in html) is served
    page = repo.get(f"simple/{project}/", Accept=JSON_V1).json()
    expected = {"sha256": hashlib.sha256(metadata).hexdigest()} if served else False
    assert page["files"][0]["core-metadata"] == expected
    document = repo.get(f"pypi/{project}/json").json()
    assert document["urls"][0]["core-metadata"] == expected
    response = repo.get(f"simple/{project}/{sdist.filename}.metadata")
    if served:
        assert (response.status_code, response.content) == (200, metadata)
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("value", ["application/vnd.pypi.simple.v1+json",
                                   "application/vnd.pypi.simple.latest+json"])
def test_regression_format_parameter_with_an_unescaped_plus_chooses_json(index: Index,
                                                                          value: str) -> None:
    # The URL as PEP 691 and PyPI's docs write it: the "+" reaches the server as a space.
    for path in ("simple/demo-pkg/", "simple/"):
        response = index.get(f"{path}?format={value}", Accept="text/html")
        assert (response.status_code, _media_type(response)) == (200, JSON_V1)


@pytest.mark.parametrize(("path", "why"), [
    ("pypi/demo-pkg/", "PyPI's legacy pages (pypi/NAME/) are not served"),
    ("pypi/demo-pkg/1.0/", "PyPI's legacy pages (pypi/NAME/) are not served"),
    ("demo-pkg/latest/", "'latest' is not a version of 'demo-pkg'"),
    # The endpoint given as an index URL, without simple/: GET of the endpoint was a bare 405,
    # of a project's page below it a bare "Not Found".
    ("", "the repository's endpoint is where twine uploads; pip's and uv's index URL is the "
         "endpoint followed by simple/"),
    ("demo-pkg/", "the repository's endpoint is where twine uploads; pip's and uv's index URL "
                  "is the endpoint followed by simple/"),
])
def test_regression_pages_that_are_no_release_page_are_not_found(index: Index, path: str,
                                                                 why: str) -> None:
    # ``pypi/NAME/`` (PyPI's legacy project page) matched the release page hatch prints
    # (NAME/VERSION/), so it was sent on to the console's page of version NAME of a package
    # called "pypi". pypi.org answers 404; so does Packyard, saying where projects are.
    with index.repo.client() as http:
        response = http.get(index.repo.endpoint + path)
    endpoint = urlsplit(index.repo.endpoint).path.rstrip("/")
    assert response.status_code == 404, response.headers.get("location")
    assert response.text == (
        f"No page {endpoint}/{path}: {why}. This repository's projects are listed at "
        f"{endpoint}/simple/ and described by PyPI's JSON API at {endpoint}/pypi/NAME/json\n")
    with index.repo.client() as http:
        release = http.get(index.repo.endpoint + "demo-pkg/1.0/")
    assert (release.status_code, release.headers["location"]) == (
        303, "/console/domains/acme/repositories/shelf/packages/pypi/-/demo-pkg/versions/1.0")


def test_regression_the_package_url_flit_prints_after_a_publish_was_not_found(
        index: Index) -> None:
    """flit 4 prints "Package is at {repository}/{name}": with the .pypirc ``aws codeartifact
    login --tool twine`` writes (the endpoint, with its slash) ``<endpoint>/Demo.Pkg``, which
    was a bare "Not Found"; now it leads to the package's console page, as hatch's
    ``<endpoint>NAME/VERSION/`` leads to the version's."""
    endpoint = index.repo.endpoint
    package = "/console/domains/acme/repositories/shelf/packages/pypi/-/demo-pkg"
    with index.repo.client() as http:
        for url in (endpoint + "/Demo.Pkg", endpoint + "Demo.Pkg"):
            response = http.get(url, headers={"user-agent": "Mozilla/5.0"})
            assert (response.status_code, response.headers["location"]) == (303, package), url
        # The names the endpoint uses itself keep their answers.
        simple = http.get(endpoint + "simple")
        assert (simple.status_code, simple.headers["location"]) == (307, endpoint + "simple/")
        assert http.get(endpoint + "legacy").status_code == 307
        legacy = http.get(endpoint + "pypi")
        assert legacy.status_code == 404
        assert legacy.text.startswith(f"No page {urlsplit(endpoint).path}pypi: PyPI's legacy")
        # A name no project can have is refused saying so, not sent to the console.
        bad = http.get(endpoint + "+bad")
        assert (bad.status_code, bad.text.split(":")[0]) == (404, "No project '+bad'")
        assert "not a valid project name" in bad.text
