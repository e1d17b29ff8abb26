"""Version status on the index: Unlisted is PEP 592 "yanked"; Archived is gone from the index."""

from __future__ import annotations

from typing import Any

from tests.integration.helpers import DistFactory, DistSpec, PypiRepo, unique_name, upload_ok

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def _set_status(api: Any, repo: PypiRepo, package: str, version: str, status: str) -> None:
    result = api.update_package_versions_status(
        domain=repo.domain, repository=repo.repository, format="pypi", package=package,
        versions=[version], targetStatus=status)
    assert result["successfulVersions"][version]["status"] == status, result


def test_unlisted_is_yanked_and_archived_disappears(api: Any, pypi_repo: PypiRepo,
                                                     dists: DistFactory) -> None:
    name = unique_name("status")
    old, new = DistSpec(name, "1.0"), DistSpec(name, "2.0")
    wheel_old, wheel_new = dists.wheel(old), dists.wheel(new)
    upload_ok(pypi_repo, wheel_old, wheel_new)

    _set_status(api, pypi_repo, name, "2.0", "Unlisted")
    with pypi_repo.client() as client:
        page = client.get(pypi_repo.project_url(name), headers={"Accept": JSON_V1}).json()
        yanked = {f["filename"]: f["yanked"] for f in page["files"]}
        assert yanked == {wheel_old.filename: False, wheel_new.filename: "Unlisted"}
        html = client.get(pypi_repo.project_url(name), headers={"Accept": "text/html"}).text
        assert 'data-yanked="Unlisted"' in html
        # Yanked files stay downloadable (PEP 592: installable when pinned).
        assert client.get(pypi_repo.project_url(name) + wheel_new.filename).status_code == 200

    _set_status(api, pypi_repo, name, "2.0", "Archived")
    with pypi_repo.client() as client:
        page = client.get(pypi_repo.project_url(name), headers={"Accept": JSON_V1}).json()
        assert [f["filename"] for f in page["files"]] == [wheel_old.filename]
        assert page["versions"] == ["1.0"]
        assert client.get(pypi_repo.project_url(name) + wheel_new.filename).status_code == 404

    _set_status(api, pypi_repo, name, "2.0", "Published")
    with pypi_repo.client() as client:
        page = client.get(pypi_repo.project_url(name), headers={"Accept": JSON_V1}).json()
        assert {f["filename"] for f in page["files"]} == {wheel_old.filename, wheel_new.filename}
        assert all(f["yanked"] is False for f in page["files"])
