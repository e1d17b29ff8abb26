"""PyPI's JSON API through a real ``packyard serve``: what a dependency bot reads, with the token
pip uses, and a version deleted through the AWS CLI gone from the next answer."""

from __future__ import annotations

from typing import Any

from tests.integration.helpers import (
    DESCRIBED_METADATA,
    AwsCli,
    DistFactory,
    DistSpec,
    ServerProcess,
    create_pypi_repo,
    described_info,
    unique_name,
    upload_ok,
)


def test_json_api_follows_publishing_and_deletion(aws: AwsCli, api: Any, server: ServerProcess,
                                                  dists: DistFactory) -> None:
    repo = create_pypi_repo(api, server.url, "jsonapi")
    name = unique_name("json-pkg")
    old, new = dists.wheel(DistSpec(name, "1.0")), dists.wheel(DistSpec(name, "1.1"))
    upload_ok(repo, old, new)
    with repo.client() as http:
        first = http.get(f"{repo.endpoint}pypi/{name}/json")
        assert first.status_code == 200, first.text
        assert first.json()["info"]["version"] == "1.1"
        assert sorted(first.json()["releases"]) == ["1.0", "1.1"]
        url = first.json()["urls"][0]["url"]
        assert http.get(url).content == new.data
        assert http.get(f"{repo.endpoint}pypi/{name}/1.0/json").json()["info"]["version"] == \
            "1.0"
    aws.json("codeartifact", "delete-package-versions", "--domain", repo.domain,
             "--repository", repo.repository, "--format", "pypi", "--package", name,
             "--versions", "1.1")
    with repo.client() as http:
        after = http.get(f"{repo.endpoint}pypi/{name}/json")
        assert after.json()["info"]["version"] == "1.0"
        assert sorted(after.json()["releases"]) == ["1.0"]
        assert int(after.headers["X-PyPI-Last-Serial"]) > int(
            first.headers["X-PyPI-Last-Serial"])
        assert http.get(f"{repo.endpoint}pypi/{name}/1.1/json").status_code == 404


def test_regression_info_shows_authors_keywords_classifiers_and_project_urls(
        api: Any, server: ServerProcess, dists: DistFactory) -> None:
    # info's author, author_email, maintainer, keywords, classifiers, license and
    # project_urls were null or empty whatever the uploaded metadata said: only the summary,
    # description, home page, licenses and source URL were kept at upload.
    repo = create_pypi_repo(api, server.url, "jsoninfo")
    name = unique_name("json-info")
    described = dists.wheel(DistSpec(name, "1.0", more_metadata=DESCRIBED_METADATA))
    bare = dists.wheel(DistSpec(name, "0.9", license=None, home_page=None, project_urls=()))
    upload_ok(repo, described, bare)
    with repo.client() as http:
        project = http.get(f"{repo.endpoint}pypi/{name}/json").json()["info"]
        release = http.get(f"{repo.endpoint}pypi/{name}/1.0/json").json()["info"]
        missing = http.get(f"{repo.endpoint}pypi/{name}/0.9/json").json()["info"]
    expected = described_info()
    assert {key: project[key] for key in expected} == expected
    assert {key: release[key] for key in expected} == expected
    # What the metadata leaves out is shown as PyPI shows it: null, or an empty list.
    assert {key: missing[key] for key in expected} == {
        key: [] if key == "classifiers" else None for key in expected}
