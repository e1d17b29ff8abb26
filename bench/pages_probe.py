"""Side by side: the first read of pages never served, and the upload rate, for two Packyards.

Not part of `bench/run`: a probe for issue 16 item 1 (pages rendered when a project changes).
Each binary (`--bin LABEL=PATH`, e.g. an install of main and this checkout) gets its own
`packyard serve` on a fresh data directory, the same `--projects` one-wheel projects through
`packyard import` (its files/s is reported too: the import renders every page now), then,
in interleaved rounds:

- **uploads**: `--uploads` new one-wheel projects, then `--uploads` versions of one project
  (whose page grows with every upload: the render a publish pays grows with it), 4 at a time,
  files/s;
- **first reads**: `--reads` pages never read before (PEP 691 JSON), then the `.metadata`
  file of each, one request at a time on one keep-alive connection per server, alternating
  between the servers request by request; latency of each, p50 and p90, and the server's CPU
  time per request (from /proc: what the machine's load moves least).

Usage (the harness's interpreter needs httpx and boto3, as bench/run's does):

    python bench/pages_probe.py --bin base=/path/to/main/packyard --bin new=.venv/bin/packyard \
        --projects 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from corpus import WheelSpec, scale_wheel, wheel_bytes  # noqa: E402
from seed import upload_form  # noqa: E402

PREFIX = "bench-scale"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class Instance:
    label: str
    binary: str
    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    token: str = ""
    notes: list[str] = field(default_factory=list)
    access_key: str = field(default_factory=lambda: "AKIABENCH" + secrets.token_hex(6).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    env: dict[str, str] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        """The server's CPU time so far (user + system, from /proc), which the machine's load
        moves far less than wall time."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self, *, create: bool = True) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, **self.env, "PACKYARD_ROOT_ACCESS_KEY_ID": self.access_key,
               "PACKYARD_ROOT_SECRET_ACCESS_KEY": self.secret_key}
        log = (self.root / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data)], stdout=log, stderr=log, env=env,
            cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.label} did not start") from None
                time.sleep(0.1)
        import boto3

        client = boto3.client("codeartifact", endpoint_url=f"http://127.0.0.1:{self.port}",
                              region_name="us-east-1", aws_access_key_id=self.access_key,
                              aws_secret_access_key=self.secret_key)
        if create:
            client.create_domain(domain="bench")
            client.create_repository(domain="bench", repository="corpus")
        self.token = client.get_authorization_token(domain="bench")["authorizationToken"]
        self.endpoint = client.get_repository_endpoint(
            domain="bench", repository="corpus", format="pypi")["repositoryEndpoint"]
        self.endpoint = self.endpoint.rstrip("/") + "/"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)

    def import_projects(self, folder: Path) -> float:
        done = subprocess.run(
            [self.binary, "import", "--data-dir", str(self.data), "--domain", "bench",
             "--repository", "corpus", "--output", "json", str(folder)],
            capture_output=True, check=True, cwd=self.root, timeout=7200)
        report = json.loads(done.stdout)
        return float(report["filesPerSecond"])


def _write_projects(folder: Path, count: int) -> None:
    for index in range(count):
        shard = folder / f"{index // 1000:04d}"
        if index % 1000 == 0:
            shard.mkdir(parents=True, exist_ok=True)
        filename, content = scale_wheel(PREFIX, index)
        (shard / filename).write_bytes(content)


def _version_wheel(index: int) -> tuple[str, bytes]:
    """Version 1.0.``index`` of the one project whose page grows."""
    spec = WheelSpec("bench-grow-000000", f"1.0.{index}", payload_bytes=64)
    return spec.filename, wheel_bytes(spec)


async def _upload(instance: Instance, files: list[tuple[str, bytes]]) -> float:
    queue = list(files)
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            filename, content = queue.pop(0)
            response = await client.post(instance.endpoint, data=upload_form(filename, content),
                                         files={"content": (filename, content,
                                                            "application/octet-stream")})
            if response.status_code >= 300:
                raise RuntimeError(f"{instance.label}: {response.status_code} {response.text}")

    async with httpx.AsyncClient(auth=("aws", instance.token), timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(4)))
    return len(files) / (time.perf_counter() - started)


def _first_reads(instances: list[Instance], paths: list[str]) -> dict[str, list[float]]:
    clients = {i.label: httpx.Client(auth=("aws", i.token), timeout=30,
                                     headers={"Accept": JSON_V1, "Accept-Encoding": "gzip"})
               for i in instances}
    timings: dict[str, list[float]] = {i.label: [] for i in instances}
    cpu = {i.label: i.cpu_seconds() for i in instances}
    try:
        for i in instances:  # the connection and the grant
            clients[i.label].get(i.endpoint + "simple/")
        for n, path in enumerate(paths):
            order = instances if n % 2 == 0 else list(reversed(instances))
            for i in order:
                started = time.perf_counter()
                response = clients[i.label].get(i.endpoint + path)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{i.label} {path}: {response.status_code}")
                timings[i.label].append(elapsed * 1000)
    finally:
        for client in clients.values():
            client.close()
    for i in instances:  # the server's CPU per request, in ms, as the last entry's key
        timings[f"{i.label}-cpu"] = [(i.cpu_seconds() - cpu[i.label]) * 1000 / len(paths)]
    return timings


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", action="append", required=True, help="LABEL=PATH")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE for every server, e.g. PACKYARD_AUDIT_LOG=off")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="first-reads-"))
    env = dict(spec.split("=", 1) for spec in args.env)
    instances = [Instance(label, path, work / label, env=env) for label, path in
                 (spec.split("=", 1) for spec in args.bin)]
    folder = work / "projects"
    _write_projects(folder, args.projects)
    try:
        for i in instances:
            i.root.mkdir(parents=True)
            i.start()
            rate = i.import_projects(folder)
            print(f"{i.label}: import of {args.projects:,} projects at {rate:,.0f} files/s",
                  file=sys.stderr)
            i.notes.append(f"import {rate:,.0f} files/s")
        sample = random.Random(16).sample(range(args.projects),
                                          min(args.projects, args.reads * args.rounds))
        results: dict[str, dict[str, list[float]]] = {
            i.label: {"new": [], "grow": [], "page": [], "metadata": [], "page-cpu": [],
                      "metadata-cpu": []} for i in instances}
        for r in range(args.rounds):
            order = instances if r % 2 == 0 else list(reversed(instances))
            for i in order:
                new = [scale_wheel(f"bench-up{r}", n) for n in range(args.uploads)]
                results[i.label]["new"].append(asyncio.run(_upload(i, new)))
                grow = [_version_wheel(r * args.uploads + n) for n in range(args.uploads)]
                results[i.label]["grow"].append(asyncio.run(_upload(i, grow)))
            chosen = sample[r * args.reads:(r + 1) * args.reads]
            names = [(f"{PREFIX}-{n:06d}", scale_wheel(PREFIX, n)[0]) for n in chosen]
            time.sleep(3)  # past every cache window
            pages = _first_reads(instances, [f"simple/{name}/" for name, _ in names])
            metadata = _first_reads(instances, [f"simple/{name}/{file}.metadata"
                                                for name, file in names])
            for i in instances:
                results[i.label]["page"] += pages[i.label]
                results[i.label]["metadata"] += metadata[i.label]
                results[i.label]["page-cpu"] += pages[f"{i.label}-cpu"]
                results[i.label]["metadata-cpu"] += metadata[f"{i.label}-cpu"]
        print(f"{args.projects:,} projects, {args.rounds} rounds")
        for i in instances:
            got = results[i.label]
            print(f"{i.label}: {'; '.join(i.notes)}; uploads of new projects "
                  f"{', '.join(f'{v:.1f}' for v in got['new'])} files/s; versions of one "
                  f"project {', '.join(f'{v:.1f}' for v in got['grow'])} files/s; first page "
                  f"p50 {_p(got['page'], 50):.2f} ms p90 {_p(got['page'], 90):.2f} ms; first "
                  f".metadata p50 {_p(got['metadata'], 50):.2f} ms p90 "
                  f"{_p(got['metadata'], 90):.2f} ms; server CPU per first page "
                  f"{statistics.median(got['page-cpu']):.2f} ms, per first .metadata "
                  f"{statistics.median(got['metadata-cpu']):.2f} ms (median of rounds)")
    finally:
        for i in instances:
            i.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
