"""Replicas: ``packyard serve`` processes on one PostgreSQL and one SeaweedFS bucket behind
Debian's nginx (round-robin), as docs/deployment.md sets them up, driven by the real clients
(the AWS CLI, twine, pip, uv) through the balancer; and what one replica does, the others see.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ServerFactory
from tests.integration.helpers import (
    DEFAULT_ACCOUNT,
    AwsCli,
    ClientHome,
    Dist,
    DistFactory,
    DistSpec,
    PypiRepo,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    make_venv,
    normalize,
    run,
    tool,
    upload,
    upload_ok,
)
from tests.openbao import OpenBao
from tests.services import (
    NginxBalancer,
    PostgresServer,
    SeaweedServer,
    ServiceUnavailable,
    start_nginx,
    start_postgres,
    start_seaweedfs,
)

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}


@dataclass
class Cluster:
    replicas: list[ServerProcess]
    balancer: NginxBalancer
    start_replica: Callable[[], ServerProcess]

    @property
    def url(self) -> str:
        return self.balancer.url


def transit_env(bao: OpenBao) -> dict[str, str]:
    """Encryption at rest with blob keys from OpenBao's transit, which every replica shares (the
    local keyring is refused on PostgreSQL): a derived key of the session's ``bao server -dev``."""
    return {"PACKYARD_KEY_PROVIDER": "transit", "PACKYARD_TRANSIT_URL": bao.url,
            "PACKYARD_TRANSIT_TOKEN": bao.root_token,
            "PACKYARD_DEFAULT_ENCRYPTION_KEY": bao.new_key()}


def replica_env(postgres: PostgresServer, database: str, seaweedfs: SeaweedServer,
                prefix: str, bao: OpenBao) -> dict[str, str]:
    """What every replica is started with (docs/deployment.md shows the same variables)."""
    return {**transit_env(bao), "PACKYARD_DATABASE_URL": postgres.url(database),
            "PACKYARD_BLOB_STORE": f"s3://{seaweedfs.bucket}/{prefix}",
            "PACKYARD_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
            "AWS_ACCESS_KEY_ID": seaweedfs.access_key_id,
            "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_access_key,
            "AWS_REGION": seaweedfs.region}


@contextmanager
def running_cluster(env: dict[str, str], server_factory: ServerFactory, tmp_path: Path,
                    replicas: int = 2) -> Iterator[Cluster]:
    """``replicas`` replicas started with ``env``, behind nginx."""
    count = iter(range(100))

    def start_replica() -> ServerProcess:
        return server_factory(env=env, data_dir=tmp_path / f"replica-{next(count)}" / "data")

    started = [start_replica() for _ in range(replicas)]
    try:
        balancer = start_nginx([f"127.0.0.1:{replica.port}" for replica in started])
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield Cluster(started, balancer, start_replica)
    finally:
        balancer.stop()
        for replica in started:
            replica.stop()


@pytest.fixture(scope="module")
def cluster(postgres_server: PostgresServer, seaweedfs_server: SeaweedServer,
            module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory,
            openbao: OpenBao) -> Iterator[Cluster]:
    """Two replicas behind nginx, shared by the module's tests (each works in a domain of its
    own; the one that kills a replica starts its own victim)."""
    database = postgres_server.new_name("replicas")
    postgres_server.create_database(database)
    env = replica_env(postgres_server, database, seaweedfs_server,
                      seaweedfs_server.new_prefix("replicas"), openbao)
    try:
        with running_cluster(env, module_server_factory,
                             tmp_path_factory.mktemp("cluster")) as started:
            yield started
    finally:
        postgres_server.drop_database(database)


def _on(repo: PypiRepo, server_url: str) -> PypiRepo:
    """The same repository and token, asked through another address."""
    endpoint = repo.endpoint.replace(repo.server_url, server_url, 1)
    return PypiRepo(server_url, repo.domain, repo.repository, endpoint, repo.token)


def _within(seconds: float, check: Callable[[], bool]) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not seen within {seconds} s"
        time.sleep(0.005)
    return time.monotonic() - started


def _files(repo: PypiRepo, project: str) -> dict[str, str]:
    with repo.client() as http:
        response = http.get(repo.project_url(normalize(project)), headers=JSON_V1)
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    return {f["filename"]: f["hashes"]["sha256"] for f in response.json()["files"]}


def test_every_replica_is_ready_and_the_balancer_spreads_requests(cluster: Cluster) -> None:
    for replica in cluster.replicas:
        response = httpx.get(f"{replica.url}/ready", trust_env=False)
        assert response.status_code == 200, response.text
    api = codeartifact_client(cluster.url)
    domain = f"spread-{secrets.token_hex(3)}"
    api.create_domain(domain=domain)
    # Round-robin: consecutive reads land on both replicas, and each knows the new domain.
    for _ in range(len(cluster.replicas) * 2):
        assert api.describe_domain(domain=domain)["domain"]["name"] == domain


def test_twine_uploads_and_pip_and_uv_install_through_the_balancer(
        cluster: Cluster, dists: DistFactory, tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    aws = AwsCli(cluster.url, home)
    domain, repository = f"scaled-{secrets.token_hex(3)}", "shelf"
    aws.run("codeartifact", "create-domain", "--domain", domain)
    aws.run("codeartifact", "create-repository", "--domain", domain, "--repository", repository)
    suffix = secrets.token_hex(3)
    dep = DistSpec(name=f"scaled_dep.{suffix}", version="0.1")
    main = DistSpec(name=f"scaled_pkg.{suffix}", version="1.0", requires_dist=(dep.name,))
    built = [*dists.both(main), dists.wheel(dep)]
    dist_dir = tmp_path / "dist"
    dist_dir.mkdir()
    for dist in built:
        (dist_dir / dist.filename).write_bytes(dist.data)
    aws.run("codeartifact", "login", "--tool", "twine", "--domain", domain, "--domain-owner",
            DEFAULT_ACCOUNT, "--repository", repository)
    run([tool("twine"), "upload", "--non-interactive", "-r", "codeartifact",
         *sorted(str(p) for p in dist_dir.iterdir())], home.env())

    aws.run("codeartifact", "login", "--tool", "pip", "--domain", domain, "--repository",
            repository)
    python = make_venv(tmp_path / "pip-venv", home)
    run([tool("pip"), "--python", python, "install", "--no-cache-dir", main.name], home.env())
    shown = run([python, "-c", f"import {main.module} as m; print(m.VALUE)"], home.env())
    assert shown.stdout.strip() == f"{main.name} 1.0"

    token = aws.json("codeartifact", "get-authorization-token", "--domain",
                     domain)["authorizationToken"]
    endpoint = aws.json("codeartifact", "get-repository-endpoint", "--domain", domain,
                        "--repository", repository, "--format", "pypi")["repositoryEndpoint"]
    assert endpoint.startswith(cluster.url)  # the balancer's address, not a replica's
    scheme, rest = endpoint.split("://", 1)
    python = make_venv(tmp_path / "uv-venv", home)
    run([tool("uv"), "pip", "install", "--python", python, "--index-url",
         f"{scheme}://aws:{token}@{rest}simple/", main.name], home.env())
    # Byte for byte, through each replica.
    repo = PypiRepo(cluster.url, domain, repository, endpoint, token)
    for replica in cluster.replicas:
        direct = _on(repo, replica.url)
        assert _files(direct, main.name) == {d.filename: d.sha256 for d in built[:2]}
        with direct.client() as http:
            page_url = direct.project_url(normalize(main.name))
            page = http.get(page_url, headers=JSON_V1).json()
            for listed in page["files"]:
                got = http.get(httpx.URL(page_url).join(listed["url"]))
                assert got.status_code == 200
                assert hashlib.sha256(got.content).hexdigest() == listed["hashes"]["sha256"]


def test_a_publish_on_one_replica_is_listed_by_the_other_at_once(
        cluster: Cluster, dists: DistFactory) -> None:
    first, second = cluster.replicas
    repo = create_pypi_repo(codeartifact_client(cluster.url), cluster.url, "seen")
    on_first, on_second = _on(repo, first.url), _on(repo, second.url)
    project = f"seen_{secrets.token_hex(3)}"
    latencies = []
    for n in range(10):
        dist = dists.wheel(DistSpec(name=project, version=f"1.{n}"))
        assert dist.filename not in _files(on_second, project)  # the page is now cached there
        upload_ok(on_first, dist)
        latencies.append(_within(2.0, lambda d=dist: d.filename in _files(on_second, project)))
    # The announcement itself takes about a millisecond (PostgreSQL NOTIFY to the other
    # replica's listener); what a test can see is one page request, which on a loaded
    # machine takes a few hundred ms. Without the announcement it would take up to the
    # page cache's 2 s TTL.
    assert max(latencies) < 1.0, latencies


def test_a_revoked_token_is_refused_by_every_replica_within_a_second(
        cluster: Cluster, postgres_server: PostgresServer) -> None:
    repo = create_pypi_repo(codeartifact_client(cluster.url), cluster.url, "revoke")
    direct = [_on(repo, replica.url) for replica in cluster.replicas]
    for on_replica in direct:  # each has checked (and cached) the token
        with on_replica.client() as http:
            assert http.get(on_replica.simple_url).status_code == 200
    database_url = cluster.replicas[0].env["PACKYARD_DATABASE_URL"]
    revoked = subprocess.run([str(tool("packyard")), "token", "revoke", "--stdin",
                              "--database-url", database_url], input=repo.token, text=True,
                             capture_output=True, env=cluster.replicas[0].env, check=False)
    assert revoked.returncode == 0, revoked.stderr
    for on_replica in direct:
        def refused(on: PypiRepo = on_replica) -> bool:
            with on.client() as http:
                return http.get(on.simple_url).status_code == 401
        _within(1.0, refused)


def test_a_replica_killed_mid_upload_loses_nothing_acknowledged_and_shows_nothing_half_made(
        cluster: Cluster, dists: DistFactory) -> None:
    victim = cluster.start_replica()
    survivor = cluster.replicas[0]
    repo = create_pypi_repo(codeartifact_client(cluster.url), cluster.url, "killed")
    on_victim, on_survivor = _on(repo, victim.url), _on(repo, survivor.url)
    project = f"killed_{secrets.token_hex(3)}"
    acknowledged: list[Dist] = []
    stop = threading.Event()

    def keep_uploading(worker: int) -> None:
        with on_victim.client(timeout=10) as http:
            for n in range(1000):
                if stop.is_set():
                    return
                dist = dists.wheel(DistSpec(name=project, version=f"{worker}.{n}",
                                            padding=256 * 1024))
                try:
                    response = upload(on_victim, dist, client=http)
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    acknowledged.append(dist)

    workers = [threading.Thread(target=keep_uploading, args=(w,)) for w in range(3)]
    for worker in workers:
        worker.start()
    _within(30.0, lambda: len(acknowledged) >= 6)
    victim.kill()
    stop.set()
    for worker in workers:
        worker.join(30)
    listed = _files(on_survivor, project)
    for dist in acknowledged:
        assert listed.get(dist.filename) == dist.sha256, f"{dist.filename} was acknowledged"
    with on_survivor.client() as http:
        page_url = on_survivor.project_url(normalize(project))
        page = http.get(page_url, headers=JSON_V1).json()
        for entry in page["files"]:  # whatever is listed downloads whole
            got = http.get(httpx.URL(page_url).join(entry["url"]))
            assert got.status_code == 200, entry["filename"]
            assert hashlib.sha256(got.content).hexdigest() == entry["hashes"]["sha256"]


REAL = Path(os.environ.get("PACKYARD_REAL_DISTS", ".test-cache/real-dists"))


def test_an_install_moved_by_migrate_storage_serves_real_files_byte_for_byte_through_nginx(
        postgres_server: PostgresServer, seaweedfs_server: SeaweedServer,
        server_factory: ServerFactory, tmp_path: Path, openbao: OpenBao) -> None:
    if not (REAL / ".complete").exists():
        pytest.skip(f"no real-package corpus at {REAL} (scripts/test downloads it)")
    files = sorted(p for p in REAL.iterdir() if p.suffix in (".whl", ".gz"))
    # The embedded default: files encrypted under the data directory's local keyring, whose
    # data keys migrate-storage moves onto the replicas' transit key.
    embedded = server_factory()
    repo = create_pypi_repo(codeartifact_client(embedded.url), embedded.url, "moved")
    home = ClientHome(tmp_path / "home")
    run([tool("twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", repo.endpoint, "-u", "aws", "-p", repo.token, *map(str, files)],
        home.env(), timeout=300)
    embedded.stop()

    database = postgres_server.new_name("moved")
    postgres_server.create_database(database)
    env = replica_env(postgres_server, database, seaweedfs_server,
                      seaweedfs_server.new_prefix("moved"), openbao)
    try:
        moved = run([tool("packyard"), "migrate-storage", "--data-dir", str(embedded.data_dir),
                     "--to-database-url", env["PACKYARD_DATABASE_URL"], "--to-blob-store",
                     env["PACKYARD_BLOB_STORE"], "--to-key-provider", "transit"],
                    {**embedded.env, **env, "PACKYARD_KEY_PROVIDER": "local"}, timeout=300)
        # Each wheel's PEP 658 metadata file is a blob of its own, copied too.
        copied = re.match(r"copied (\d+) file\(s\) \(0 already there\) and \d+ rows; moved "
                          r"(\d+) data key\(s\) onto PACKYARD_KEY_PROVIDER=transit;",
                          moved.stdout)
        assert copied, moved.stdout
        assert int(copied[1]) >= len(files) and int(copied[2]) == int(copied[1])
        with running_cluster(env, server_factory, tmp_path) as scaled:
            through = _on(repo, scaled.url)  # the token minted before the move
            with through.client() as http:
                for path in files:
                    page_url = through.project_url(normalize(path.name.split("-")[0]))
                    page = http.get(page_url, headers=JSON_V1)
                    assert page.status_code == 200, page.text
                    url = next(f["url"] for f in page.json()["files"]
                               if f["filename"] == path.name)
                    got = http.get(httpx.URL(page_url).join(url))
                    assert got.content == path.read_bytes(), path.name
            python = make_venv(tmp_path / "venv", home)
            run([tool("pip"), "--python", python, "install", "--no-cache-dir", "--index-url",
                 through.index_url_with_token, "six==1.16.0", "idna==3.7"], home.env())
    finally:
        postgres_server.drop_database(database)


@pytest.fixture
def own_services() -> Iterator[tuple[PostgresServer, SeaweedServer]]:
    """A PostgreSQL and a SeaweedFS of this test's own, to restart and stop."""
    try:
        postgres = start_postgres()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    try:
        seaweedfs = start_seaweedfs()
    except ServiceUnavailable as exc:
        postgres.stop()
        pytest.skip(str(exc))
    try:
        yield postgres, seaweedfs
    finally:
        seaweedfs.stop()
        postgres.stop()


def _own_cluster(services: tuple[PostgresServer, SeaweedServer], server_factory: ServerFactory,
                 tmp_path: Path, bao: OpenBao) -> Any:
    postgres, seaweedfs = services
    postgres.create_database("packyard")
    return running_cluster(replica_env(postgres, "packyard", seaweedfs, "blobs", bao),
                           server_factory, tmp_path)


def test_postgresql_restarted_under_load_fails_requests_cleanly_and_they_recover(
        own_services: tuple[PostgresServer, SeaweedServer], server_factory: ServerFactory,
        dists: DistFactory, tmp_path: Path, openbao: OpenBao) -> None:
    with _own_cluster(own_services, server_factory, tmp_path, openbao) as scaled:
        repo = create_pypi_repo(codeartifact_client(scaled.url), scaled.url, "restart")
        statuses: list[int] = []
        odd: list[str] = []
        stop = threading.Event()

        def note(what: str, response: httpx.Response) -> None:
            statuses.append(response.status_code)
            if response.status_code not in (200, 503):
                odd.append(f"{what}: {response.status_code} {response.text[:300]}")

        def load() -> None:
            # Each upload on a connection of its own: one refused at its head (the database
            # down) ends its connection. Packyard says so (`connection: close`), but nginx,
            # streaming the body through, has said keep-alive to the client and closes after
            # the answer: a request sent on that connection meanwhile is lost in transit.
            with repo.client(timeout=30) as http:
                for n in range(10_000):
                    if stop.is_set():
                        return
                    dist = dists.wheel(DistSpec(name="under-load", version=f"1.{n}"))
                    try:
                        note("upload", upload(repo, dist))
                        note("page", http.get(repo.project_url("under-load")))
                    except httpx.HTTPError as error:  # said, not a silently ended thread
                        odd.append(f"request {n}: {error!r}")
                        return

        worker = threading.Thread(target=load)
        worker.start()
        try:
            _within(60.0, lambda: len(statuses) >= 4 or not worker.is_alive())
            own_services[0].restart()
            _within(60.0, lambda: len(statuses) >= 20 or not worker.is_alive())
        finally:
            stop.set()
            worker.join(60)
        assert len(statuses) >= 20 and set(statuses) <= {200, 503}, odd
        # Recovered without restarting a replica: writes work and each replica hears the
        # other's again (their LISTEN connections reconnected).
        first, second = (_on(repo, replica.url) for replica in scaled.replicas)
        project = f"after_{secrets.token_hex(3)}"
        for n, (writer, reader) in enumerate([(first, second), (second, first)]):
            assert dist_listed_after_upload(writer, reader, dists, project, n)


def dist_listed_after_upload(writer: PypiRepo, reader: PypiRepo, dists: DistFactory,
                             project: str, n: int) -> bool:
    _files(reader, project)  # cached on the reader
    dist = dists.wheel(DistSpec(name=project, version=f"1.{n}"))
    upload_ok(writer, dist)
    _within(2.0, lambda: dist.filename in _files(reader, project))
    return True


def test_with_the_object_store_stopped_cached_files_are_served_and_uploads_are_503(
        own_services: tuple[PostgresServer, SeaweedServer], server_factory: ServerFactory,
        dists: DistFactory, tmp_path: Path, openbao: OpenBao) -> None:
    with _own_cluster(own_services, server_factory, tmp_path, openbao) as scaled:
        repo = create_pypi_repo(codeartifact_client(scaled.url), scaled.url, "storedown")
        dist = dists.wheel(DistSpec(name="kept", version="1.0", padding=512 * 1024))
        upload_ok(repo, dist)
        direct = [_on(repo, replica.url) for replica in scaled.replicas]
        urls = []
        for on_replica in direct:  # each replica downloads it once: now in its read cache
            with on_replica.client() as http:
                page_url = on_replica.project_url("kept")
                page = http.get(page_url, headers=JSON_V1).json()
                url = httpx.URL(page_url).join(page["files"][0]["url"])
                assert http.get(url).content == dist.data
                urls.append(url)
        own_services[1].stop()
        for on_replica, url in zip(direct, urls, strict=True):
            with on_replica.client() as http:
                got = http.get(url)
                assert got.status_code == 200 and got.content == dist.data
        refused = upload(repo, dists.wheel(DistSpec(name="kept", version="2.0")))
        assert refused.status_code == 503, refused.text
        assert "The blob store is unavailable right now; try again shortly" in (
            refused.headers.get("x-packyard-reason", "") + refused.text
            + refused.reason_phrase), (refused.headers, refused.text)
        assert refused.headers["retry-after"] == "5"
        for replica in scaled.replicas:
            ready = httpx.get(f"{replica.url}/ready", trust_env=False, timeout=60)
            assert ready.status_code == 503
            assert ready.json()["checks"]["blobStore"] == "the blob store is unavailable"
