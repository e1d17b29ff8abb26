"""Small-object GETs per second from a local SeaweedFS: obstore (what storage/s3.py reads with)
against boto3, one request at a time and with concurrency.

    .venv-test/bin/python -m bench.s3_gets [--seconds 5] [--concurrency 16]

Starts ``weed mini`` on loopback (tests/services.py), stores 200 objects of 2 KiB, then runs
each client for a fixed time (after a warm-up) and prints GETs/s. Everything stays on 127.0.0.1
and stops by itself. A measurement for issue 15's choice of client, not part of bench/run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
import obstore
from obstore.store import S3Store

from tests.services import SeaweedServer, start_seaweedfs

OBJECTS = 200
SIZE = 2048


def _timed(seconds: float, one: Callable[[int], object]) -> float:
    """Calls of ``one`` per second, one at a time, for ``seconds`` (after 0.5 s warm-up)."""
    warm = time.monotonic() + 0.5
    n = 0
    while time.monotonic() < warm:
        one(n)
        n += 1
    done, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        one(done)
        done += 1
    return done / elapsed


def _threaded(seconds: float, workers: int, one: Callable[[int], object]) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * workers

    def loop(worker: int) -> None:
        while time.monotonic() < stop:
            one(counts[worker] + worker)
            counts[worker] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(loop, range(workers)))
    return sum(counts) / (time.monotonic() - start)


async def _async_obstore(store: S3Store, seconds: float, concurrency: int) -> float:
    stop = time.monotonic() + seconds
    done = 0

    async def loop(worker: int) -> None:
        nonlocal done
        n = worker
        while time.monotonic() < stop:
            result = await obstore.get_async(store, f"o{n % OBJECTS}")
            await result.bytes_async()
            n += concurrency
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(loop(worker) for worker in range(concurrency)))
    return done / (time.monotonic() - start)


def measure(server: SeaweedServer, seconds: float, concurrency: int) -> dict[str, float]:
    store = S3Store(server.bucket, prefix="gets", endpoint=server.endpoint_url,
                    region=server.region, access_key_id=server.access_key_id,
                    secret_access_key=server.secret_access_key,
                    client_options={"allow_http": True})
    s3 = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=server.region,
                      aws_access_key_id=server.access_key_id,
                      aws_secret_access_key=server.secret_access_key)
    body = os.urandom(SIZE)
    for n in range(OBJECTS):
        obstore.put(store, f"o{n}", body)

    def boto_get(n: int) -> bytes:
        answer = s3.get_object(Bucket=server.bucket, Key=f"gets/o{n % OBJECTS}")
        data: bytes = answer["Body"].read()
        return data

    def obstore_get(n: int) -> bytes:
        return bytes(obstore.get(store, f"o{n % OBJECTS}").bytes())

    return {
        "boto3, sequential": _timed(seconds, boto_get),
        "obstore, sequential": _timed(seconds, obstore_get),
        f"boto3, {concurrency} threads": _threaded(seconds, concurrency, boto_get),
        f"obstore, {concurrency} threads": _threaded(seconds, concurrency, obstore_get),
        f"obstore async, {concurrency} at once": asyncio.run(
            _async_obstore(store, seconds, concurrency)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    server = start_seaweedfs()
    try:
        figures = measure(server, args.seconds, args.concurrency)
    finally:
        server.stop()
    base = figures["boto3, sequential"]
    for name, rate in figures.items():
        print(f"{name:32} {rate:9,.0f} GETs/s  {rate / base:5.2f}x")


if __name__ == "__main__":
    main()
