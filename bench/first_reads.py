"""First reads side by side: the request for a page never served before, and the revalidation
of a page read longer ago than any cache window, at a given number of projects.

An install is almost all first requests, and a warm install is almost all revalidations
(`If-None-Match` on every page, answered 304). This times both as a client on one keep-alive
connection sees them (loopback; so the client's own share, ~0.1–0.2 ms, is in every figure):

- `packyard import` puts `--projects` tiny projects into one Packyard; with `--baseline-bin`,
  a second Packyard (`packyard-base`, e.g. an install of `main`) runs on a copy of the same
  data, and the two are measured in alternating rounds;
- each round, on each server, a fresh connection reads `--sample` pages never read before
  (PEP 691 JSON, as pip and uv ask; the same names on both servers), then the file each page
  lists (a small wheel, as most of an install's files are; its `.metadata` file too when the
  page offers one), then revalidates the pages the previous round read (more than `--gap`
  seconds earlier) with their ETags;
- per server: the p50 and p90 of each kind over all rounds, and the server's CPU per request
  (its whole process group, from /proc), overall and per kind (read between the phases of
  each round; /proc counts 10 ms ticks, so use a large `--sample`).

With `--format npm` the same for npm: `--projects` scoped packages (`@bench/first-read-N`, one
small tarball each) published over npm's publish API, then each round reads abbreviated
packuments never read before (as npm install asks), the tarball each lists, and revalidates the
previous round's packuments.

Run: `bench/run first-reads [--projects 1000] [--rounds 5] [--baseline-bin PATH]
[--format npm]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path

import httpx
from installs import group_cpu_seconds
from procs import ProcessGroup, terminate_as_interrupt
from servers import Context, Packyard

BENCH = Path(__file__).resolve().parent
PREFIX = "first-read"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclasses.dataclass
class Samples:
    first: list[float] = dataclasses.field(default_factory=list)
    files: list[float] = dataclasses.field(default_factory=list)
    revalidated: list[float] = dataclasses.field(default_factory=list)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    cpu: float = 0.0
    requests: int = 0
    # The same, for each kind on its own (the server's CPU is read between the two phases).
    cpu_first: float = 0.0
    cpu_files: float = 0.0
    cpu_revalidated: float = 0.0

    def add_cpu(self, start: float, pages_done: float, files_done: float, end: float,
                requests: int) -> None:
        """A round's server CPU, read at its start, after each phase and at its end."""
        self.cpu += end - start
        self.cpu_first += pages_done - start
        self.cpu_files += files_done - pages_done
        self.cpu_revalidated += end - files_done
        self.requests += requests


def _read(http: httpx.Client, url: str, headers: dict[str, str], samples: Samples,
          into: list[float]) -> httpx.Response:
    started = time.perf_counter()
    response = http.get(url, headers=headers)
    into.append(time.perf_counter() - started)
    samples.statuses[response.status_code] = samples.statuses.get(response.status_code, 0) + 1
    return response


def _round(server: Packyard, names: list[str], previous: dict[str, str],
           samples: Samples) -> dict[str, str]:
    """One round on one server: first reads of ``names``, then revalidations of
    ``previous`` (name -> ETag); the ETags of this round's pages."""
    assert server.proc is not None
    cpu = group_cpu_seconds(server.proc.pid)
    etags: dict[str, str] = {}
    files: list[str] = []
    with httpx.Client(auth=("aws", server.token), trust_env=False, timeout=30) as http:
        for name in names:
            page_url = f"{server.simple_url()}{name}/"
            response = _read(http, page_url, {"Accept": JSON_V1}, samples, samples.first)
            etags[name] = response.headers.get("etag", "")
            for offered in response.json().get("files", [])[:1]:
                url = str(httpx.URL(page_url).join(offered["url"]).copy_with(fragment=None))
                files.append(url)
                if offered.get("core-metadata"):
                    files.append(url + ".metadata")
        pages_done = group_cpu_seconds(server.proc.pid)
        for url in files:
            _read(http, url, {}, samples, samples.files)
        between = group_cpu_seconds(server.proc.pid)
        for name, etag in previous.items():
            _read(http, f"{server.simple_url()}{name}/",
                  {"Accept": JSON_V1, "If-None-Match": etag}, samples, samples.revalidated)
    samples.add_cpu(cpu, pages_done, between, group_cpu_seconds(server.proc.pid),
                    len(names) + len(files) + len(previous))
    return etags


NPM_ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


def _npm_endpoint(server: Packyard) -> str:
    return server.endpoint.replace("/pypi/", "/npm/")


def _npm_round(server: Packyard, names: list[str], previous: dict[str, str],
               samples: Samples) -> dict[str, str]:
    """``_round`` for npm: packuments never read before, their tarballs, then revalidations."""
    assert server.proc is not None
    endpoint = _npm_endpoint(server)
    auth = {"Authorization": f"Bearer {server.token}"}
    cpu = group_cpu_seconds(server.proc.pid)
    etags: dict[str, str] = {}
    files: list[str] = []
    with httpx.Client(trust_env=False, timeout=30) as http:
        for name in names:
            response = _read(http, endpoint + name.replace("/", "%2f"),
                             {**auth, "Accept": NPM_ABBREVIATED}, samples, samples.first)
            etags[name] = response.headers.get("etag", "")
            document = response.json()
            latest = document["dist-tags"]["latest"]
            files.append(document["versions"][latest]["dist"]["tarball"])
        pages_done = group_cpu_seconds(server.proc.pid)
        for url in files:
            _read(http, url, auth, samples, samples.files)
        between = group_cpu_seconds(server.proc.pid)
        for name, etag in previous.items():
            _read(http, endpoint + name.replace("/", "%2f"),
                  {**auth, "Accept": NPM_ABBREVIATED, "If-None-Match": etag}, samples,
                  samples.revalidated)
    samples.add_cpu(cpu, pages_done, between, group_cpu_seconds(server.proc.pid),
                    len(names) + len(files) + len(previous))
    return etags


def _publish_npm(server: Packyard, names: list[str]) -> None:
    """Each package published as npm publishes it (four at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    from npm import _package_tarball, _put_package

    registry = _npm_endpoint(server)
    auth = {"Authorization": f"Bearer {server.token}"}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda name: _put_package(registry, auth, name,
                                                _package_tarball(name, {}), {}), names))


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=60)
    parser.add_argument("--gap", type=float, default=3.5,
                        help="at least this many seconds between two rounds on one server")
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("BENCH_WORK", BENCH / ".work")))
    parser.add_argument("--packyard-bin", default=os.environ.get("BENCH_PACKYARD_BIN"))
    parser.add_argument("--baseline-bin", default=None)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "first_reads.json")
    parser.add_argument("--format", choices=("pypi", "npm"), default="pypi")
    args = parser.parse_args(argv)
    if args.sample * args.rounds > args.projects:
        parser.error("--sample × --rounds must not exceed --projects (each read is a first)")
    work: Path = args.work.resolve() / "first-reads"
    npm = args.format == "npm"
    names = [f"{'@bench/' if npm else ''}{PREFIX}-{index:06d}" for index in range(args.projects)]
    random.Random(16).shuffle(names)
    with terminate_as_interrupt(), ProcessGroup() as group:
        ctx = Context(work=work, group=group, repo_root=BENCH.parent,
                      packyard_bin=args.packyard_bin)
        packyard = Packyard(ctx)
        packyard.install()
        packyard.start()
        if npm:
            _publish_npm(packyard, names)
        else:
            packyard.place_scale_projects(PREFIX, 0, args.projects)
        servers = [packyard]
        if args.baseline_bin:
            base = Packyard(dataclasses.replace(ctx, packyard_bin=args.baseline_bin))
            base.install()
            packyard.copy_data("base")
            base.name = f"{packyard.name}-base"
            base.access_key, base.secret_key = packyard.access_key, packyard.secret_key
            base._launch()  # noqa: SLF001 - on the copy, as start_twin does
            base._configure(create=False)  # noqa: SLF001
            servers.append(base)
        samples = {server.name: Samples() for server in servers}
        previous: dict[str, dict[str, str]] = {server.name: {} for server in servers}
        last_round = dict.fromkeys(samples, 0.0)
        for number in range(args.rounds):
            batch = names[number * args.sample:(number + 1) * args.sample]
            order = servers if number % 2 == 0 else list(reversed(servers))
            for server in order:
                wait = last_round[server.name] + args.gap - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # spaced as a user's installs are, not a server wait
                previous[server.name] = (_npm_round if npm else _round)(
                    server, batch, previous[server.name], samples[server.name])
                last_round[server.name] = time.monotonic()
            print(f"round {number + 1}/{args.rounds}", file=sys.stderr)
    report = {"format": args.format, "projects": args.projects, "rounds": args.rounds,
              "sample": args.sample, "servers": {}}
    for name, got in samples.items():
        report["servers"][name] = {
            "first_p50_ms": _ms(got.first, 0.5), "first_p90_ms": _ms(got.first, 0.9),
            "file_p50_ms": _ms(got.files, 0.5), "file_p90_ms": _ms(got.files, 0.9),
            "revalidated_p50_ms": _ms(got.revalidated, 0.5),
            "revalidated_p90_ms": _ms(got.revalidated, 0.9),
            "cpu_ms_per_request": round(got.cpu / got.requests * 1000, 3),
            # Each phase's CPU over its requests (/proc counts in 10 ms ticks: use many).
            "cpu_ms_per_first_read": round(got.cpu_first / max(1, len(got.first)) * 1000, 3),
            "cpu_ms_per_file_read": round(got.cpu_files / max(1, len(got.files)) * 1000, 3),
            "cpu_ms_per_revalidation": round(
                got.cpu_revalidated / max(1, len(got.revalidated)) * 1000, 3),
            "statuses": got.statuses, "version": next(
                (s.version for s in servers if s.name == name), "")}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if len(servers) == 2:
        after, before = (report["servers"][s.name] for s in servers)
        print("after ÷ before: first p50 "
              f"{after['first_p50_ms'] / before['first_p50_ms']:.2f}, file p50 "
              f"{after['file_p50_ms'] / before['file_p50_ms']:.2f} (CPU per file read "
              f"{after['cpu_ms_per_file_read'] / max(before['cpu_ms_per_file_read'], 1e-9):.2f})"
              ", revalidated p50 "
              f"{after['revalidated_p50_ms'] / before['revalidated_p50_ms']:.2f}, CPU/request "
              f"{after['cpu_ms_per_request'] / before['cpu_ms_per_request']:.2f} (first reads "
              f"{after['cpu_ms_per_first_read'] / max(before['cpu_ms_per_first_read'], 1e-9):.2f}"
              ", revalidations "
              f"{after['cpu_ms_per_revalidation'] / max(before['cpu_ms_per_revalidation'], 1e-9):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
