"""Read grants while the catalog is written to: clients reading pages on keep-alive connections
while a writer publishes at a steady pace, on two Packyards side by side.

A read grant (token, repository, policy decision) is reused on the connection it was made on;
what a write drops decides how often each client pays a policy evaluation again. Each round,
per server, alternating the order:

- writes alone: the writer publishes `--rate` tiny wheels a second for `--seconds` (root's
  token, the upload endpoint): the server's CPU for the writes;
- reads under writes: the same writes while `--readers` threads, each on one keep-alive
  connection with an IAM user's token (the AWS managed read-only policy), read the PEP 691
  pages of `--projects` projects round robin, as fast as they can.

Per server: read-grant misses per publish (`/metrics`: the `read_grants` cache's misses once
every reader holds its grant; a request whose grant was dropped misses it several times on its
way, hot path, first-read path, routes, before the grant is made again), reads a second, read
latency p50/p90, and the server's CPU per read (the second phase's CPU less the first's, over
the reads; its whole process group, from /proc).

Run: `bench/run grants [--baseline-bin PATH] [--rounds 3]`; `--baseline-bin` is the `packyard`
command of the code to compare with (an install of `main`), `--packyard-bin` this one's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import boto3
import httpx
from corpus import scale_wheel
from installs import group_cpu_seconds
from procs import ProcessGroup, terminate_as_interrupt
from seed import seed_projects, upload_form
from servers import Context, Packyard

BENCH = Path(__file__).resolve().parent
JSON_V1 = "application/vnd.pypi.simple.v1+json"
READ_PREFIX = "grant-read"
_GRANT_MISSES = re.compile(r'^packyard_cache_misses_total\{cache="read_grants"\} (\S+)$', re.M)


@dataclasses.dataclass
class Figures:
    grant_misses_per_publish: list[float] = dataclasses.field(default_factory=list)
    reads_per_second: list[float] = dataclasses.field(default_factory=list)
    cpu_ms_per_read: list[float] = dataclasses.field(default_factory=list)
    latencies: list[float] = dataclasses.field(default_factory=list)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)


def _reader_token(server: Packyard) -> str:
    """A token of an IAM user whose reads are decided by an attached managed policy."""
    session = boto3.session.Session(aws_access_key_id=server.access_key,
                                    aws_secret_access_key=server.secret_key,
                                    region_name="us-east-1")
    iam = session.client("iam", endpoint_url=server.base)
    iam.create_user(UserName="reader")
    iam.attach_user_policy(UserName="reader", PolicyArn="arn:aws:iam::aws:policy/"
                                                        "AWSCodeArtifactReadOnlyAccess")
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    codeartifact = boto3.client("codeartifact", endpoint_url=server.base,
                                region_name="us-east-1",
                                aws_access_key_id=key["AccessKeyId"],
                                aws_secret_access_key=key["SecretAccessKey"])
    token: str = codeartifact.get_authorization_token(domain=server.DOMAIN)["authorizationToken"]
    return token


def _grant_misses(server: Packyard) -> float:
    text = httpx.get(server.base + "/metrics", trust_env=False, timeout=30).text
    found = _GRANT_MISSES.search(text)
    return float(found.group(1)) if found else 0.0


def _publish(server: Packyard, prefix: str, rate: float, seconds: float) -> int:
    """Publish ``rate`` new projects a second for ``seconds``, paced; how many."""
    target = server.upload_target()
    count = int(rate * seconds)
    started = time.monotonic()
    with httpx.Client(auth=(target.username, target.password), trust_env=False,
                      timeout=60) as http:
        for index in range(count):
            wait = started + index / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            filename, content = scale_wheel(prefix, index)
            response = http.post(target.url, data=upload_form(filename, content),
                                 files={"content": (filename, content,
                                                    "application/octet-stream")})
            response.raise_for_status()
    return count


def _read(server: Packyard, token: str, names: list[str], offset: int, ready: threading.Barrier,
          stop: threading.Event, figures: Figures, lock: threading.Lock) -> int:
    """Read pages round robin on one connection until ``stop`` (the first read, which makes
    the connection's grant, before ``ready``); how many."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    with httpx.Client(auth=("aws", token), trust_env=False, timeout=30,
                      headers={"Accept": JSON_V1}) as http:
        http.get(f"{server.simple_url()}{names[offset % len(names)]}/").raise_for_status()
        ready.wait()
        index = offset
        while not stop.is_set():
            started = time.perf_counter()
            response = http.get(f"{server.simple_url()}{names[index % len(names)]}/")
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            index += 1
    with lock:
        figures.latencies.extend(latencies)
        for status, count in statuses.items():
            figures.statuses[status] = figures.statuses.get(status, 0) + count
    return len(latencies)


def _round(server: Packyard, token: str, names: list[str], number: int, args: argparse.Namespace,
           figures: Figures) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    cpu = group_cpu_seconds(pid)
    publishes = _publish(server, f"alone-{number}", args.rate, args.seconds)
    writes_cpu = group_cpu_seconds(pid) - cpu

    stop, lock, ready = threading.Event(), threading.Lock(), threading.Barrier(args.readers + 1)
    counts: list[int] = []
    threads = [threading.Thread(target=lambda n=n: counts.append(
        _read(server, token, names, n * 7, ready, stop, figures, lock)))
        for n in range(args.readers)]
    for thread in threads:
        thread.start()
    ready.wait()  # every reader holds its grant
    misses, cpu = _grant_misses(server), group_cpu_seconds(pid)
    started = time.monotonic()
    _publish(server, f"beside-{number}", args.rate, args.seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    reads_cpu = group_cpu_seconds(pid) - cpu - writes_cpu
    grants = _grant_misses(server) - misses
    reads = sum(counts)
    figures.grant_misses_per_publish.append(grants / publishes)
    figures.reads_per_second.append(reads / elapsed)
    figures.cpu_ms_per_read.append(reads_cpu / reads * 1000)
    print(f"  {server.name} round {number + 1}: {reads / elapsed:,.0f} reads/s, "
          f"{grants / publishes:.2f} grant misses per publish, "
          f"{reads_cpu / reads * 1000:.3f} ms CPU per read (writes alone: "
          f"{writes_cpu:.2f} s); load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


def _start(ctx: Context, name: str, projects: int) -> tuple[Packyard, str]:
    server = Packyard(ctx)
    server.name = name
    server.install()
    server.start()
    token = _reader_token(server)
    seeded = seed_projects(server.upload_target(), READ_PREFIX, 0, projects, concurrency=4)
    if not seeded.finished:
        raise RuntimeError(f"{name}: seeded {seeded.uploaded} of {projects} projects")
    return server, token


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=20, help="pages the readers read")
    parser.add_argument("--readers", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--rate", type=float, default=10.0, help="publishes a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="of writes per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("BENCH_WORK", BENCH / ".work")))
    parser.add_argument("--packyard-bin", default=os.environ.get("BENCH_PACKYARD_BIN"))
    parser.add_argument("--baseline-bin", default=None)
    parser.add_argument("--output", type=Path,
                        default=BENCH / "results" / "grants_under_writes.json")
    args = parser.parse_args(argv)
    work: Path = args.work.resolve() / "grants-under-writes"
    names = [f"{READ_PREFIX}-{index:06d}" for index in range(args.projects)]
    with terminate_as_interrupt(), ProcessGroup() as group:
        ctx = Context(work=work / "after", group=group, repo_root=BENCH.parent,
                      packyard_bin=args.packyard_bin)
        servers = [_start(ctx, "packyard", args.projects)]
        if args.baseline_bin:
            base = dataclasses.replace(ctx, work=work / "before", packyard_bin=args.baseline_bin)
            servers.append(_start(base, "packyard-base", args.projects))
        figures = {server.name: Figures() for server, _ in servers}
        for number in range(args.rounds):
            order = servers if number % 2 == 0 else list(reversed(servers))
            for server, token in order:
                _round(server, token, names, number, args, figures[server.name])
    report: dict[str, object] = {
        "readers": args.readers, "rate": args.rate, "seconds": args.seconds,
        "rounds": args.rounds, "projects": args.projects, "servers": {
            name: {"grant_misses_per_publish": statistics.median(got.grant_misses_per_publish),
                   "reads_per_second": round(statistics.median(got.reads_per_second)),
                   "cpu_ms_per_read": round(statistics.median(got.cpu_ms_per_read), 3),
                   "cpu_ms_per_read_rounds": [round(v, 3) for v in got.cpu_ms_per_read],
                   "read_p50_ms": _ms(got.latencies, 0.5), "read_p90_ms": _ms(got.latencies, 0.9),
                   "statuses": got.statuses}
            for name, got in figures.items()}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
