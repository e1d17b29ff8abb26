"""PyPI pages rendered when a project changes (``formats/pypi/stored_pages.py``): the first read
of a page, in this process or another on the same database, finds it rendered (no listing, no
render), with the bytes the merging path renders; every kind of change leaves it right when
read through the other process; a page no write rendered is rendered on its read and kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from packyard.formats.pypi.simple import render_project_json
from packyard.formats.pypi.upstream import PypiUpstream, project_page
from packyard.metadata.change_feed import watch_changes
from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard, InProcessRepo
from tests.integration.helpers import DistFactory, DistSpec, upload_ok

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}


class _Counted:
    """Counts the catalog's renders on read (``page_source``) of one app."""

    def __init__(self, app: InProcessPackyard, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        catalog = app.container.catalog
        original = catalog.page_source

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(catalog, "page_source", counted)


@pytest.fixture
def two(packyard_factory: PackyardFactory) -> Iterator[tuple[InProcessPackyard,
                                                             InProcessPackyard]]:
    apps = (packyard_factory(), packyard_factory())
    for n, app in enumerate(apps):
        invalidation = app.container.invalidation
        assert invalidation is not None
        invalidation.watcher = watch_changes(app.container.settings.effective_database_url,
                                             own=f"replica-{n}")
        invalidation.start()
    time.sleep(0.15)  # the watchers' first look at the counters
    yield apps
    for app in apps:
        app.container.stop_background()


def _on(app: InProcessPackyard, repo: InProcessRepo) -> InProcessRepo:
    return InProcessRepo(repo.server_url, repo.domain, repo.repository, repo.endpoint,
                         repo.token, transport=app.transport)


def _files(repo: InProcessRepo) -> dict[str, Any]:
    """The page as the other process serves it now (polled: its caches hear of the change
    within the change feed's delay)."""
    response = repo.get("simple/demo-pkg/", **JSON_V1)
    assert response.status_code == 200
    return {f["filename"]: f["yanked"] for f in response.json()["files"]}


def _soon(writer: InProcessPackyard, repo: InProcessRepo, expected: dict[str, Any]) -> None:
    """The page as ``repo`` (on another app) serves it becomes ``expected`` once the writer
    has rendered the page."""
    assert writer.container.catalog.flush_rendered_pages(30)
    started = time.monotonic()
    while _files(repo) != expected:
        assert time.monotonic() - started < 2, f"{_files(repo)} != {expected}"
        time.sleep(0.01)


def test_every_change_is_read_from_a_page_rendered_by_the_write(
        two: tuple[InProcessPackyard, InProcessPackyard], dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = two
    renders = _Counted(second, monkeypatch)
    repo = first.pypi_repo()
    api = first.codeartifact()
    api.create_repository(domain="acme", repository="copies")
    one, two_ = (dists.wheel(DistSpec(name="Demo.Pkg", version=v)) for v in ("1.0", "2.0"))
    upload_ok(repo, one, two_)
    elsewhere = _on(second, repo)
    _soon(first, elsewhere, {one.filename: False, two_.filename: False})
    response = elsewhere.get("simple/demo-pkg/", **JSON_V1)
    assert response.headers["last-modified"].endswith(" GMT")
    args = {"domain": "acme", "repository": "shelf", "format": "pypi", "package": "demo-pkg"}
    api.update_package_versions_status(**args, versions=["1.0"], targetStatus="Unlisted")
    _soon(first, elsewhere, {one.filename: "Unlisted", two_.filename: False})
    api.update_package_versions_status(**args, versions=["1.0"], targetStatus="Archived")
    _soon(first, elsewhere, {two_.filename: False})
    api.copy_package_versions(domain="acme", sourceRepository="shelf",
                              destinationRepository="copies", format="pypi",
                              package="demo-pkg", versions=["2.0"])
    copies = InProcessRepo(repo.server_url, "acme", "copies",
                           repo.endpoint.replace("/shelf/", "/copies/"), repo.token,
                           transport=second.transport)
    _soon(first, copies, {two_.filename: False})
    api.delete_package_versions(**args, versions=["2.0"])
    _soon(first, elsewhere, {})
    assert renders.calls == 0  # every page the other process served was rendered by a write
    api.delete_package(**args)
    started = time.monotonic()
    while elsewhere.get("simple/demo-pkg/", **JSON_V1).status_code != 404:
        assert time.monotonic() - started < 2
        time.sleep(0.01)


def test_the_kept_page_is_what_the_merging_path_renders(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory) -> None:
    upload_ok(repo, *(dists.wheel(DistSpec(name="Demo.Pkg", version=v)) for v in ("1.0", "2.0")),
              dists.sdist(DistSpec(name="Demo.Pkg", version="2.0")))
    container = packyard.container
    domain = container.catalog.get_domain(container.settings.account_id, "acme",
                                          with_stats=False)
    repository = container.catalog.get_repository(domain, "shelf")
    resolver = container.core.upstreams.resolver_for(PypiUpstream())
    merged = asyncio.run(resolver.listing(domain, repository, "demo-pkg"))
    served = repo.get("simple/demo-pkg/", **JSON_V1)
    assert served.content == render_project_json(project_page("demo-pkg", merged))
    kept = container.catalog.rendered_page(repository.id, "pypi", "demo-pkg", "json")
    assert kept is not None and kept[0].body == served.content


def test_a_page_no_write_rendered_is_rendered_on_its_read_and_kept(
        packyard: InProcessPackyard, repo: InProcessRepo, dists: DistFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    upload_ok(repo, dists.wheel(DistSpec(name="Demo.Pkg", version="1.0")))
    container = packyard.container
    assert container.catalog.flush_rendered_pages(30)
    with container.catalog.engines[1].begin() as conn:  # as before revision 0011
        conn.exec_driver_sql("DELETE FROM rendered_pages")
    renders = _Counted(packyard, monkeypatch)
    assert len(repo.get("simple/demo-pkg/", **JSON_V1).json()["files"]) == 1
    assert renders.calls == 1
    domain = container.catalog.get_domain(container.settings.account_id, "acme",
                                          with_stats=False)
    repository = container.catalog.get_repository(domain, "shelf")
    started = time.monotonic()
    while container.catalog.rendered_page(repository.id, "pypi", "demo-pkg", "json") is None:
        assert time.monotonic() - started < 5, "not kept"
        time.sleep(0.01)
