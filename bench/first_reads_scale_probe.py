"""First reads at two scales side by side: the same code on two data directories (e.g. the ones
`bench/run first-reads --projects 1000` and `--projects 100000` leave), in alternating rounds.

A probe (not part of `bench/run`): on a shared machine a page's first read is timed mostly by
the load, which moves between two runs of `bench/run first-reads` ten minutes apart (the import
of 100,000 projects); here both scales are read in the same minute. Each round, on each server,
a fresh connection is granted (one page, not counted), then reads `--sample` pages never read
before by that process (PEP 691 JSON); per scale: p50/p90 as the client sees them and the
server's CPU per read (/proc, all its threads).

    bench/.work/harness/bin/python bench/first_reads_scale_probe.py \
        BENCH_WORK/scale-1k/first-reads/run/packyard/data \
        BENCH_WORK/scale/first-reads/run/packyard/data --rounds 15 --sample 60
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx

JSON_V1 = "application/vnd.pypi.simple.v1+json"
KEY, SECRET = "AKIAFIRSTREADPROBE01", "first-read-probe-secret-0000000001"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _start(python: str, data: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """`packyard serve` on ``data`` (root keys of our own), its token and PyPI endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PACKYARD_ROOT_ACCESS_KEY_ID": KEY,
           "PACKYARD_ROOT_SECRET_ACCESS_KEY": SECRET}
    proc = subprocess.Popen([python, "-m", "packyard", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", data, "--log-level", "warning"],
                            env=env, cwd="/", stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):  # polled until it answers, as bench/servers.py waits
        try:
            httpx.get(base + "/health")
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    api = boto3.client("codeartifact", endpoint_url=base, region_name="us-east-1",
                       aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    token = api.get_authorization_token(domain="bench")["authorizationToken"]
    endpoint = api.get_repository_endpoint(domain="bench", repository="corpus",
                                           format="pypi")["repositoryEndpoint"]
    return proc, token, endpoint.rstrip("/") + "/"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("small", help="data directory of the smaller corpus")
    parser.add_argument("large", help="data directory of the larger corpus")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sample", type=int, default=60)
    parser.add_argument("--python", default=str(Path(__file__).resolve().parent.parent
                                                / ".venv-test" / "bin" / "python"))
    args = parser.parse_args(argv)
    servers = {"small": _start(args.python, args.small), "large": _start(args.python, args.large)}
    names: dict[str, list[str]] = {}
    for label, (_proc, token, endpoint) in servers.items():
        with httpx.Client(auth=("aws", token), trust_env=False) as http:
            index = http.get(endpoint + "simple/", headers={"Accept": JSON_V1}).json()
        names[label] = [project["name"] for project in index["projects"]]
        random.Random(7).shuffle(names[label])
    wall: dict[str, list[float]] = {label: [] for label in servers}
    cpu = dict.fromkeys(servers, 0.0)
    loads = []
    try:
        for number in range(args.rounds):
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for label in order:
                proc, token, endpoint = servers[label]
                batch = names[label][number * args.sample:(number + 1) * args.sample]
                with httpx.Client(auth=("aws", token), trust_env=False) as http:
                    http.get(endpoint + "simple/", headers={"Accept": JSON_V1})  # the grant
                    before = _cpu_seconds(proc.pid)
                    for name in batch:
                        started = time.perf_counter()
                        response = http.get(f"{endpoint}simple/{name}/",
                                            headers={"Accept": JSON_V1})
                        wall[label].append(time.perf_counter() - started)
                        assert response.status_code == 200, response.status_code
                    cpu[label] += _cpu_seconds(proc.pid) - before
            loads.append(os.getloadavg()[0])
    finally:
        for proc, _token, _endpoint in servers.values():
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    for label in servers:
        ordered = sorted(wall[label])
        print(f"{label} ({len(names[label]):,} projects): first read p50 "
              f"{ordered[len(ordered) // 2] * 1000:.3f} ms, p90 "
              f"{ordered[int(len(ordered) * 0.9)] * 1000:.3f} ms, server CPU "
              f"{cpu[label] / len(ordered) * 1000:.3f} ms/read ({len(ordered)} reads)")
    print(f"load average (1 min) during the rounds: {min(loads):.2f}-{max(loads):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
