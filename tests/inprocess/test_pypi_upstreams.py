"""Upstream repositories through the app: pages merged across a repository's upstreams, files kept
on first read, origin controls; and what an unreachable external connection answers. (Pulling
through from a real index, with its caching and verification, is the integration suite's
test_upstreams.py: the upstream HTTP client has no seam bootstrap lets a test replace.)"""

from __future__ import annotations

from typing import Any

import pytest

from packyard.formats.pypi.stored_pages import StoredPages
from packyard.metadata.point_reads import MISSING
from tests.inprocess.harness import InProcessPackyard, InProcessRepo, assert_refused
from tests.integration.helpers import DistFactory, DistSpec, upload_ok

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def chain(packyard: InProcessPackyard, dists: DistFactory) -> tuple[InProcessRepo, Any]:
    """``team`` with upstream ``lib``, which holds lib-pkg 1.0; the client reads ``team``."""
    lib = packyard.pypi_repo(repository="lib")
    upload_ok(lib, dists.wheel(DistSpec(name="lib-pkg", version="1.0")))
    api = packyard.codeartifact()
    api.create_repository(domain="acme", repository="team",
                          upstreams=[{"repositoryName": "lib"}])
    return packyard.pypi_repo(repository="team", create=False), api


def test_upstream_files_appear_on_the_downstream_page(chain: tuple[InProcessRepo, Any]) -> None:
    team, _ = chain
    body = team.get("simple/lib-pkg/", **JSON_V1).json()
    assert (body["versions"], [f["filename"] for f in body["files"]]) == (
        ["1.0"], ["lib_pkg-1.0-py3-none-any.whl"])
    assert team.get("simple/", **JSON_V1).json()["projects"] == []  # the index is its own


def test_a_file_read_through_the_downstream_is_kept_there(chain: tuple[InProcessRepo, Any],
                                                          dists: DistFactory) -> None:
    team, api = chain
    wheel = dists.wheel(DistSpec(name="lib-pkg", version="1.0"))
    assert team.get(f"simple/lib-pkg/{wheel.filename}").content == wheel.data
    versions = api.list_package_versions(domain="acme", repository="team", format="pypi",
                                         package="lib-pkg")["versions"]
    assert [(v["version"], v["origin"]) for v in versions] == [
        ("1.0", {"domainEntryPoint": {"repositoryName": "lib"}, "originType": "INTERNAL"})]
    # Pulled in, so the package takes no direct publishing in team, as in CodeArtifact.
    described = api.describe_package(domain="acme", repository="team", format="pypi",
                                     package="lib-pkg")["package"]
    assert described["originConfiguration"]["restrictions"] == {"publish": "BLOCK",
                                                                "upstream": "ALLOW"}


def test_a_merged_pages_first_read_takes_no_worker_thread_to_learn_it_is_merged(
        chain: tuple[InProcessRepo, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The domain's graph at hand says ``team`` has upstreams: its page goes straight to the
    merge, without the stored-page lookup's worker thread (``merges_upstreams_now``)."""
    team, _ = chain
    looked_up: list[str] = []
    find = StoredPages._find

    def counted(self: StoredPages, access: Any, project: str, media_type: str) -> Any:
        looked_up.append(project)
        return find(self, access, project, media_type)

    monkeypatch.setattr(StoredPages, "_find", counted)
    body = team.get("simple/lib-pkg/", **JSON_V1).json()
    assert (body["versions"], looked_up) == (["1.0"], [])


def test_own_package_hides_an_upstream_one_of_the_same_name(
        packyard: InProcessPackyard, chain: tuple[InProcessRepo, Any],
        dists: DistFactory) -> None:
    team, _ = chain
    upload_ok(team, dists.wheel(DistSpec(name="lib-pkg", version="0.1")))
    # Published directly: upstream BLOCK, so lib's 1.0 cannot shadow it (dependency confusion).
    body = team.get("simple/lib-pkg/", **JSON_V1).json()
    assert body["versions"] == ["0.1"]
    missing = team.get("simple/lib-pkg/lib_pkg-1.0-py3-none-any.whl")
    assert missing.status_code == 404


def test_deleting_the_upstream_keeps_what_was_read(chain: tuple[InProcessRepo, Any],
                                                   dists: DistFactory) -> None:
    team, api = chain
    wheel = dists.wheel(DistSpec(name="lib-pkg", version="1.0"))
    team.get(f"simple/lib-pkg/{wheel.filename}")
    api.update_repository(domain="acme", repository="team", upstreams=[])
    api.delete_repository(domain="acme", repository="lib")
    assert team.get(f"simple/lib-pkg/{wheel.filename}").content == wheel.data


def test_unreachable_external_connection_is_a_502_that_says_so(
        packyard: InProcessPackyard) -> None:
    repo = packyard.pypi_repo(repository="public")
    packyard.codeartifact().associate_external_connection(
        domain="acme", repository="public", externalConnection="public:pypi")
    assert_refused(repo.get("simple/requests/", **JSON_V1), 502,
                   "Upstream http://127.0.0.1:9/simple/requests/ unreachable: ConnectError All "
                   "connection attempts failed; Packyard has never fetched project requests "
                   "from there, so it has no copy to serve")


def test_a_file_only_an_upstream_has_is_looked_up_in_the_repository_once(
        packyard: InProcessPackyard, chain: tuple[InProcessRepo, Any], dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first read of a file the repository does not hold finds it missing, then its route
    pulls it through without asking again (the miss is good while the catalog is unchanged).
    On SQLite the miss is found on the event loop's thread (``find_listed_file_now``), and no
    worker thread asks again."""
    team, _ = chain
    catalog = packyard.container.catalog
    asked: list[tuple[str, str]] = []
    find, find_now = catalog.find_listed_asset, catalog.find_listed_file_now

    def counted(repository_id: int, fmt: str, name: str, filename: str) -> Any:
        asked.append(("worker", filename))
        return find(repository_id, fmt, name, filename)

    def counted_now(repository_id: int, fmt: str, name: str, filename: str, *args: Any) -> Any:
        found = find_now(repository_id, fmt, name, filename, *args)
        asked.append(("now" if found is MISSING else "not now", filename))
        return found

    monkeypatch.setattr(catalog, "find_listed_asset", counted)
    monkeypatch.setattr(catalog, "find_listed_file_now", counted_now)
    wheel = dists.wheel(DistSpec(name="lib-pkg", version="1.0"))
    assert team.get(f"simple/lib-pkg/{wheel.filename}").content == wheel.data
    misses = [where for where, _ in asked if where != "not now"]
    assert misses == (["now"] if catalog.url.startswith("sqlite") else ["worker"])
    # Kept in team now (a write): found there by the next read, without the upstream.
    assert team.get(f"simple/lib-pkg/{wheel.filename}").content == wheel.data
