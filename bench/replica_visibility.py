"""Cross-replica visibility: how soon a file published through one replica is listed by another.

Two ``packyard serve`` replicas on one PostgreSQL and one SeaweedFS (started as the tests start
them, ``tests/services.py``). For each sample: the page is read (and cached) on replica B,
a wheel is uploaded to replica A, and from A's acknowledgement B's page is read until it lists
the file; also the notification alone (NOTIFY in a write's transaction to another process's
LISTEN), which is what the caches wait for.

    PYTHONPATH=. .venv-test/bin/python bench/replica_visibility.py [--samples 50]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

from packyard.metadata.catalog import SqlCatalog
from packyard.metadata.change_feed import CATALOG, announce, watch_changes
from tests.integration.helpers import (
    DistFactory,
    DistSpec,
    ServerProcess,
    codeartifact_client,
    create_pypi_repo,
    normalize,
    server_env,
    upload,
)
from tests.services import start_postgres, start_seaweedfs

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms ({len(ordered)} samples)")


def notification_latency(url: str, samples: int) -> list[float]:
    catalog = SqlCatalog(url)
    heard = threading.Event()
    watcher = watch_changes(url, own="bench-listener")
    watcher.start(lambda _topics: heard.set(), lambda: None)
    time.sleep(0.5)  # the listener's LISTEN
    latencies = []
    try:
        for _ in range(samples):
            heard.clear()
            started = time.monotonic()
            with catalog.engines[1].begin() as conn:
                announce(conn, CATALOG)
            heard.wait(5)
            latencies.append(time.monotonic() - started)
    finally:
        watcher.stop()
        catalog.dispose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    postgres, seaweedfs = start_postgres(), start_seaweedfs()
    scratch = Path(tempfile.mkdtemp(prefix="packyard-visibility-"))
    replicas: list[ServerProcess] = []
    try:
        postgres.create_database("packyard")
        url = postgres.url("packyard")
        env = server_env({"PACKYARD_DATABASE_URL": url,
                          "PACKYARD_BLOB_STORE": f"s3://{seaweedfs.bucket}/bench",
                          "PACKYARD_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
                          "AWS_ACCESS_KEY_ID": seaweedfs.access_key_id,
                          "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_access_key,
                          # Visibility, not encryption, is measured (the figures predate it);
                          # the local keyring is refused on PostgreSQL anyway.
                          "PACKYARD_ENCRYPTION": "off"})
        for n in range(2):
            data_dir = scratch / f"replica-{n}" / "data"
            replicas.append(ServerProcess(data_dir, scratch / f"replica-{n}.log", env).start(60))
        first, second = replicas
        repo = create_pypi_repo(codeartifact_client(first.url), first.url, "vis")
        on_second = repo.endpoint.replace(first.url, second.url, 1)
        dists = DistFactory(scratch / "dists")
        project = f"vis_{secrets.token_hex(3)}"
        page = f"{on_second}simple/{normalize(project)}/"
        seen, reads = [], []
        with repo.client() as writer, repo.client() as reader:
            for n in range(args.samples):
                dist = dists.wheel(DistSpec(name=project, version=f"1.{n}"))
                reader.get(page, headers=JSON_V1)  # cached on B
                assert upload(repo, dist, client=writer).status_code == 200
                acknowledged = time.monotonic()
                count = 0
                while True:
                    count += 1
                    listed = reader.get(page, headers=JSON_V1).json()["files"]
                    if any(f["filename"] == dist.filename for f in listed):
                        break
                seen.append(time.monotonic() - acknowledged)
                reads.append(count)
        print(f"publish on A -> listed on B: {_percentiles(seen)}; "
              f"seen on the first read after the acknowledgement in "
              f"{sum(1 for r in reads if r == 1)}/{len(reads)}")
        print(f"NOTIFY -> the other process's listener: "
              f"{_percentiles(notification_latency(url, args.samples))}")
    finally:
        for replica in replicas:
            replica.stop()
        seaweedfs.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
