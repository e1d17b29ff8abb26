"""Pull-through across replicas: three ``packyard serve`` processes on one PostgreSQL and one
SeaweedFS bucket (encrypted on transit, as docs/deployment.md sets them up), with public:pypi a
counting index on loopback that holds file bodies back until the test lets them go. However many
replicas are asked at once for a file they lack, the upstream sends it once; and when the replica
downloading it is killed with SIGKILL, another one takes the download over once the dead one's
claim runs out (``PACKYARD_UPSTREAM_CLAIM_SECONDS``)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ServerFactory
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    Dist,
    DistFactory,
    DistSpec,
    ServerProcess,
    codeartifact_client,
    unique_name,
)
from tests.integration.test_replicas import replica_env
from tests.integration.test_upstreams import StaticIndex
from tests.openbao import OpenBao
from tests.services import PostgresServer, SeaweedServer

CLAIM_SECONDS = 2


@dataclass
class Replicas:
    servers: list[ServerProcess]
    index: StaticIndex
    domain: str
    token: str

    def file_url(self, server: ServerProcess, project: str, filename: str) -> str:
        return (f"{server.url}/{self.domain}-{DEFAULT_ACCOUNT}/pypi/team/simple/{project}/"
                f"{filename}")

    def get(self, server: ServerProcess, dist: Dist) -> bytes:
        with httpx.Client(auth=("aws", self.token), timeout=120, trust_env=False) as http:
            response = http.get(self.file_url(server, dist.spec.name, dist.filename))
        assert response.status_code == 200, response.text
        return response.content


@pytest.fixture
def replicas(postgres_server: PostgresServer, seaweedfs_server: SeaweedServer,
             server_factory: ServerFactory, tmp_path: Path,
             openbao: OpenBao) -> Iterator[Replicas]:
    database = postgres_server.new_name("pulls")
    postgres_server.create_database(database)
    index = StaticIndex(hold=threading.Event()).start()
    env = {**replica_env(postgres_server, database, seaweedfs_server,
                         seaweedfs_server.new_prefix("pulls"), openbao),
           "PACKYARD_PYPI_UPSTREAM_URL": index.url,
           "PACKYARD_UPSTREAM_CLAIM_SECONDS": str(CLAIM_SECONDS)}
    servers: list[ServerProcess] = []
    try:
        servers.extend(server_factory(env=env, data_dir=tmp_path / f"replica-{n}" / "data")
                       for n in range(3))
        api = codeartifact_client(servers[0].url)
        domain = unique_name("pulls")
        api.create_domain(domain=domain)
        api.create_repository(domain=domain, repository="pypi-store")
        api.associate_external_connection(domain=domain, repository="pypi-store",
                                          externalConnection="public:pypi")
        api.create_repository(domain=domain, repository="team",
                              upstreams=[{"repositoryName": "pypi-store"}])
        token = api.get_authorization_token(domain=domain)["authorizationToken"]
        yield Replicas(servers, index, domain, token)
    finally:
        assert index.hold is not None
        index.hold.set()
        index.stop()
        for server in servers:  # before their database goes
            server.stop()
        postgres_server.drop_database(database)


def _waits(server: ServerProcess) -> int:
    text = httpx.get(f"{server.url}/metrics", trust_env=False).text
    found = re.search(r"^packyard_upstream_file_pull_waits_total (\S+)$", text, re.MULTILINE)
    assert found, "no packyard_upstream_file_pull_waits_total in /metrics"
    return int(float(found[1]))


def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not reached within {seconds} s"
        time.sleep(0.02)


def _kept(replicas: Replicas, server: ServerProcess, project: str) -> dict[str, Any]:
    api = codeartifact_client(server.url)
    return {repository: [(v["version"], v["origin"]["originType"]) for v in
                         api.list_package_versions(domain=replicas.domain, repository=repository,
                                                   format="pypi", package=project)["versions"]]
            for repository in ("pypi-store", "team")}


def _wheel(dists: DistFactory, replicas: Replicas) -> Dist:
    # Above the 1 MiB verified before sending: the claiming replica streams it as it arrives.
    wheel = dists.wheel(DistSpec(name=unique_name("pulled").replace("-", "_"), version="1.0",
                                 padding=2 * 1024 * 1024))
    replicas.index.add(wheel)
    return wheel


def test_three_replicas_asked_at_once_download_a_file_once_and_all_send_it(
        replicas: Replicas, dists: DistFactory) -> None:
    wheel = _wheel(dists, replicas)
    first, *others = replicas.servers
    with ThreadPoolExecutor(6) as pool:
        holder = pool.submit(replicas.get, first, wheel)
        _until(lambda: replicas.index.file_requests(wheel.filename) == 1)
        waiters = [pool.submit(replicas.get, server, wheel) for server in others for _ in (1, 2)]
        _until(lambda: all(_waits(server) == 1 for server in others))
        assert replicas.index.hold is not None
        replicas.index.hold.set()
        bodies = [holder.result(), *(waiter.result() for waiter in waiters)]
    assert bodies == [wheel.data] * 5
    assert replicas.index.file_requests(wheel.filename) == 1
    for server in replicas.servers:
        assert replicas.get(server, wheel) == wheel.data
        assert _kept(replicas, server, wheel.spec.name) == {
            "pypi-store": [("1.0", "EXTERNAL")], "team": [("1.0", "EXTERNAL")]}
    assert replicas.index.file_requests(wheel.filename) == 1


def test_when_the_downloading_replica_is_killed_another_finishes_the_download(
        replicas: Replicas, dists: DistFactory) -> None:
    wheel = _wheel(dists, replicas)
    victim, *survivors = replicas.servers
    with ThreadPoolExecutor(3) as pool:
        doomed: Future[bytes] = pool.submit(replicas.get, victim, wheel)
        _until(lambda: replicas.index.file_requests(wheel.filename) == 1)
        waiters = [pool.submit(replicas.get, server, wheel) for server in survivors]
        _until(lambda: all(_waits(server) == 1 for server in survivors))
        victim.kill()
        assert replicas.index.hold is not None
        replicas.index.hold.set()  # the upstream answers again: for the replica taking over
        with pytest.raises(httpx.TransportError):
            doomed.result()
        bodies = [waiter.result() for waiter in waiters]
    assert bodies == [wheel.data] * 2
    # The killed replica's download and exactly one more.
    assert replicas.index.file_requests(wheel.filename) == 2
    for server in survivors:
        assert _kept(replicas, server, wheel.spec.name) == {
            "pypi-store": [("1.0", "EXTERNAL")], "team": [("1.0", "EXTERNAL")]}
