"""PyPI's JSON API under the repository endpoint (``pypi/NAME/json``,
``pypi/NAME/VERSION/json``): the documents, the Simple API's authorization, redirects to the
normalized name, 404s, ``X-PyPI-Last-Serial``, and lifecycle changes showing at once."""

from __future__ import annotations

import pytest

from tests.inprocess.harness import InProcessPackyard, InProcessRepo
from tests.integration.helpers import DistFactory, DistSpec, upload_ok

V10 = DistSpec(name="Demo.Pkg", version="1.0", summary="Demo one",
               requires_dist=("requests>=2.0",), license="Apache-2.0")
V20 = DistSpec(name="Demo.Pkg", version="2.0", summary="Demo two")
V30RC = DistSpec(name="Demo.Pkg", version="3.0rc1", summary="Demo three")


@pytest.fixture
def shelf(repo: InProcessRepo, dists: DistFactory) -> InProcessRepo:
    upload_ok(repo, dists.wheel(V10), dists.sdist(V10), dists.wheel(V20), dists.wheel(V30RC))
    return repo


def test_project_document_describes_the_latest_stable_release(shelf: InProcessRepo,
                                                              dists: DistFactory) -> None:
    response = shelf.get("pypi/demo-pkg/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["info"]["name"] == "Demo.Pkg"
    assert document["info"]["version"] == "2.0"
    assert document["info"]["summary"] == "Demo two"
    assert sorted(document["releases"]) == ["1.0", "2.0", "3.0rc1"]
    assert [f["filename"] for f in document["releases"]["1.0"]] == sorted(
        [dists.wheel(V10).filename, dists.sdist(V10).filename])
    [url] = document["urls"]
    wheel = dists.wheel(V20)
    assert url["filename"] == wheel.filename
    assert url["digests"]["sha256"] == wheel.sha256
    assert url["url"] == f"{shelf.endpoint}simple/demo-pkg/{wheel.filename}"
    assert int(response.headers["X-PyPI-Last-Serial"]) == document["last_serial"] > 0
    with shelf.client() as http:
        assert http.get(url["url"]).content == wheel.path.read_bytes()


def test_release_document(shelf: InProcessRepo) -> None:
    document = shelf.get("pypi/demo-pkg/1.0/json").json()
    assert document["info"]["version"] == "1.0"
    assert document["info"]["summary"] == "Demo one"
    assert document["info"]["requires_dist"] == ["requests>=2.0"]
    assert "releases" not in document
    assert len(document["urls"]) == 2


def test_names_that_are_not_normalized_redirect(shelf: InProcessRepo) -> None:
    response = shelf.get("pypi/Demo.Pkg/json")
    assert response.status_code == 301
    assert response.headers["location"].endswith("/pypi/demo-pkg/json")
    release = shelf.get("pypi/Demo_Pkg/1.0/json")
    assert release.status_code == 301
    assert release.headers["location"].endswith("/pypi/demo-pkg/1.0/json")


def test_unknown_project_and_release_are_not_found(shelf: InProcessRepo) -> None:
    missing = shelf.get("pypi/nothing/json")
    assert (missing.status_code, missing.text) == (
        404, "No project nothing in this repository\n")
    release = shelf.get("pypi/demo-pkg/9.9/json")
    assert (release.status_code, release.text) == (
        404, "No release 9.9 of demo-pkg in this repository\n")


def test_the_json_api_needs_the_read_token(packyard: InProcessPackyard,
                                           shelf: InProcessRepo) -> None:
    with shelf.client(auth=None) as http:
        response = http.get(shelf.endpoint + "pypi/demo-pkg/json")
    assert response.status_code == 401
    with shelf.client(auth=None) as http:
        redirect = http.get(shelf.endpoint + "pypi/Demo.Pkg/json")
    assert redirect.status_code == 401  # no redirect (and no name) before authorization


def test_lifecycle_changes_show_at_once(packyard: InProcessPackyard,
                                        shelf: InProcessRepo) -> None:
    before = shelf.get("pypi/demo-pkg/json")
    api = packyard.codeartifact()
    args = {"domain": "acme", "repository": "shelf", "format": "pypi", "package": "demo-pkg"}
    api.update_package_versions_status(**args, versions=["2.0"], targetStatus="Unlisted")
    unlisted = shelf.get("pypi/demo-pkg/json")
    document = unlisted.json()
    # The latest not yanked release is described; the Unlisted one shows as yanked.
    assert document["info"]["version"] == "1.0"
    assert document["releases"]["2.0"][0]["yanked_reason"] == "Unlisted"
    assert int(unlisted.headers["X-PyPI-Last-Serial"]) > int(
        before.headers["X-PyPI-Last-Serial"])
    api.delete_package_versions(**args, versions=["1.0"])
    assert "1.0" not in shelf.get("pypi/demo-pkg/json").json()["releases"]
    assert shelf.get("pypi/demo-pkg/1.0/json").status_code == 404
    api.dispose_package_versions(**args, versions=["2.0", "3.0rc1"])
    assert shelf.get("pypi/demo-pkg/json").status_code == 404


def test_regression_a_downstream_answers_for_a_project_only_its_upstream_repository_holds(
        packyard: InProcessPackyard, dists: DistFactory) -> None:
    """A repository whose upstream repository holds a project listed it on its Simple page but
    answered 404 in the JSON API: it answers with the upstream's releases, its core metadata,
    and URLs through the downstream (where pip's links point)."""
    lib = packyard.pypi_repo(repository="lib")
    upload_ok(lib, dists.wheel(V10), dists.sdist(V10), dists.wheel(V20))
    packyard.codeartifact().create_repository(domain="acme", repository="team",
                                              upstreams=[{"repositoryName": "lib"}])
    team = packyard.pypi_repo(repository="team", create=False)
    response = team.get("pypi/demo-pkg/json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert (document["info"]["name"], document["info"]["version"]) == ("Demo.Pkg", "2.0")
    assert document["info"]["summary"] == "Demo two"
    assert sorted(document["releases"]) == ["1.0", "2.0"]
    page = team.get("simple/demo-pkg/",
                    Accept="application/vnd.pypi.simple.v1+json").json()["files"]
    assert {f["url"]: f["digests"]["sha256"] for files in document["releases"].values()
            for f in files} == {f"{team.endpoint}simple/demo-pkg/{f['url']}": f["hashes"]["sha256"]
                                for f in page}
    release = team.get("pypi/demo-pkg/1.0/json").json()
    assert release["info"]["requires_dist"] == ["requests>=2.0"]


def test_regression_requires_dist_keeps_its_environment_markers_and_extras(
        repo: InProcessRepo, dists: DistFactory) -> None:
    """The JSON API's requires_dist was made from the dependency records, which have no place
    for a marker: ``colorama; sys_platform == "win32"`` read as an unconditional
    ``colorama`` to a tool resolving from it."""
    upload_ok(repo, dists.wheel(DistSpec(name="marked", version="1.0", requires_dist=(
        'colorama ; sys_platform=="win32"', "requests[socks]>=2.0; extra == 'net'",
        "idna>=3"))))
    for path in ("pypi/marked/json", "pypi/marked/1.0/json"):
        assert repo.get(path).json()["info"]["requires_dist"] == [
            'colorama; sys_platform == "win32"', 'requests[socks]>=2.0; extra == "net"',
            "idna>=3"], path


def test_regression_release_url_leads_to_the_release_page(shelf: InProcessRepo) -> None:
    # It pointed under the Simple page (simple/demo-pkg/1.0/), where a version is no file:
    # 404. PyPI's release_url is the release's page; here the console's, as for hatch.
    for path in ("pypi/demo-pkg/json", "pypi/demo-pkg/1.0/json"):
        release_url = shelf.get(path).json()["info"]["release_url"]
        with shelf.client() as http:
            answer = http.get(release_url)
        assert answer.status_code == 303, (release_url, answer.status_code)
        assert answer.headers["location"].startswith(
            "/console/domains/acme/repositories/shelf/packages/pypi/-/demo-pkg/versions/")


OLD_STYLE_DESCRIPTION = DistSpec(
    name="old-style", version="0.6.2", metadata_format="1.1", requires_python=None,
    more_metadata=("Description: ``old-style`` parses arguments\n"
                   "        ==========================\n"
                   "        \n"
                   "        Usage::\n"
                   "        \n"
                   "            old-style --help\n"
                   "        ",))
PIPED_DESCRIPTION = DistSpec(
    name="piped", version="1.0", metadata_format="2.1", requires_python=None,
    more_metadata=("Description: Piped\n"
                   "       |=====\n"
                   "       |\n"
                   "       |    indented::",))

NEXT_LINE_DESCRIPTION = DistSpec(  # as ruamel.yaml 0.15.0's PKG-INFO starts it
    name="next-line", version="1.0", metadata_format="1.1", requires_python=None,
    more_metadata=("Description: \n"
                   "        Next line\n"
                   "        =========\n"
                   "        \n"
                   "        text",))


@pytest.mark.parametrize(("spec", "text"), [
    (OLD_STYLE_DESCRIPTION,
     "``old-style`` parses arguments\n==========================\n\nUsage::\n\n"
     "    old-style --help"),
    (PIPED_DESCRIPTION, "Piped\n=====\n\n    indented::"),
    (NEXT_LINE_DESCRIPTION, "Next line\n=========\n\ntext"),
])
def test_regression_a_description_written_as_a_header_keeps_no_indentation(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory,
        spec: DistSpec, text: str) -> None:
    """An sdist whose PKG-INFO has its description in a ``Description:`` header (setuptools
    before Metadata-Version 2.1 bodies; docopt 0.6.2 on PyPI) showed every line but the first
    indented by the 8 spaces that continue the header field (or by the spec's 7 and ``|``), in
    the JSON API's ``description`` and in ``get-package-version-readme``: a block quote, not
    the author's text, where PyPI shows the text itself."""
    upload_ok(repo, dists.sdist(spec))
    name = spec.name
    assert repo.get(f"pypi/{name}/{spec.version}/json").json()["info"]["description"] == text
    readme = packyard.codeartifact().get_package_version_readme(
        domain="acme", repository="shelf", format="pypi", package=name,
        packageVersion=spec.version)["readme"]
    assert readme == text


def test_regression_keywords_and_dynamic_fields_read_as_on_pypi(
        repo: InProcessRepo, dists: DistFactory) -> None:
    """``Keywords: interface,components,plugins`` showed as written, and ``Dynamic:
    license-file`` lowercased, where PyPI's JSON API shows ``interface, components, plugins``
    and ``License-File`` (Warehouse joins the keywords with ", " and title-cases Dynamic), as
    zope.interface 8.7 and requests 2.34.2 pulled from PyPI did."""
    upload_ok(repo, dists.wheel(DistSpec(
        name="worded", version="1.0", metadata_format="2.4", dynamic=("license-file",),
        more_metadata=("Keywords: interface,components,plugins",))))
    upload_ok(repo, dists.wheel(DistSpec(
        name="spaced", version="1.0", more_metadata=("Keywords: one two three",))))
    info = repo.get("pypi/worded/1.0/json").json()["info"]
    assert (info["keywords"], info["dynamic"]) == ("interface, components, plugins",
                                                   ["License-File"])
    assert repo.get("pypi/spaced/json").json()["info"]["keywords"] == "one two three"
