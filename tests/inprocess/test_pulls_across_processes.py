"""One upstream download per file across processes: two apps on one data directory (as
``--workers`` run on SQLite; replicas on PostgreSQL are tests/integration/test_replica_pulls.py),
each with its own pull-through, asked at once for a tarball of public:npmjs (a small registry on
loopback that holds tarballs back until the test lets them go)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess.conftest import PackyardFactory
from tests.inprocess.harness import InProcessPackyard
from tests.inprocess.npm_support import NpmRepo, npm_repo
from tests.integration.npm_registry import StaticRegistry

TARBALL = "left-pad/-/left-pad-1.3.0.tgz"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[StaticRegistry]:
    found = StaticRegistry(tmp_path / "registry")
    found.hold = threading.Event()
    yield found
    found.hold.set()
    found.stop()


def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not reached within {seconds} s"
        time.sleep(0.005)


def _stats(app: InProcessPackyard) -> Any:
    return app.container.core.upstreams.http.stats


def _versions(api: Any, repository: str) -> list[tuple[str, str]]:
    found = api.list_package_versions(domain="acme", repository=repository, format="npm",
                                      package="left-pad")["versions"]
    return [(v["version"], v["origin"]["originType"]) for v in found]


def test_a_tarball_asked_of_two_processes_at_once_is_downloaded_once_and_kept_by_both(
        packyard_factory: PackyardFactory, registry: StaticRegistry) -> None:
    data = registry.add("left-pad", "1.3.0")
    # Claims are taken with workers (or replicas): one process alone needs none.
    first = packyard_factory(npm_upstream_url=registry.url, workers=2)
    second = packyard_factory(npm_upstream_url=registry.url, workers=2)
    npm_repo(first, repository="public")
    api = first.codeartifact()
    api.associate_external_connection(domain="acme", repository="public",
                                      externalConnection="public:npmjs")
    for team in ("team", "other"):
        api.create_repository(domain="acme", repository=team,
                              upstreams=[{"repositoryName": "public"}])
    through_first = npm_repo(first, repository="team", create=False)
    # The second process is asked through another repository, which must keep it too.
    through_second = dataclasses.replace(npm_repo(first, repository="other", create=False),
                                         app=second)

    def get(repo: NpmRepo) -> bytes:
        response = repo.get(TARBALL)
        assert response.status_code == 200, response.text
        return response.content

    assert registry.hold is not None
    with ThreadPoolExecutor(3) as pool:
        holder = pool.submit(get, through_first)
        _until(lambda: TARBALL in "".join(registry.requests))  # claimed and downloading
        waiters = [pool.submit(get, through_second) for _ in range(2)]
        _until(lambda: _stats(second).file_pull_waits == 1)
        registry.hold.set()
        bodies = [holder.result(), *(waiter.result() for waiter in waiters)]

    assert bodies == [data] * 3
    assert [r for r in registry.requests if r.endswith(".tgz")] == [f"/{TARBALL}"]
    assert (_stats(first).file_pulls, _stats(second).file_pulls) == (1, 0)
    for repository in ("public", "team", "other"):
        assert _versions(api, repository) == [("1.3.0", "EXTERNAL")]
