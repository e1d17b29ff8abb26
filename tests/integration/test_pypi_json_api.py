"""PyPI's JSON API through a real ``packyard serve``: what a dependency bot reads, with the token
pip uses, and a version deleted through the AWS CLI gone from the next answer."""

from __future__ import annotations

from typing import Any

from tests.integration.helpers import (
    AwsCli,
    DistFactory,
    DistSpec,
    ServerProcess,
    create_pypi_repo,
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
