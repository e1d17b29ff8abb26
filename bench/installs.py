"""Installs side by side: pip and uv against Packyard, devpi, pypiserver, proxpi and nginx.

What a user waits for is an install, and an install is almost all *first* requests: each page,
`.metadata` file and wheel is fetched once. bench's figure e measures each server alone, its
warm run straight after the cold one (inside every cache window) and against an nginx that
serves no `.metadata` files and no cache headers. This measures it the way a user meets it:

- nginx serves a mirror of Packyard's own answers: every page (HTML and PEP 691 JSON, gzip
  stored beside them), every `.metadata` file and every file, crawled from the running Packyard
  at the same paths, with Packyard's `Cache-Control` and `Vary` headers (nginx adds its own
  ETag and Last-Modified), so the two serve the same bytes to the same requests;
- the corpus is install-shaped: 50 projects needing 10 shared dependencies, 3 versions each,
  a wheel and an sdist per version (360 files);
- the peers hold the same 360 files: devpi by twine upload (its loaded data kept between
  runs), pypiserver (cached-dir backend, under gunicorn, as `servers.py` runs it) from its
  packages folder, so its pages carry no PEP 658 `.metadata` (pypiserver has none); proxpi (a
  caching proxy, under gunicorn `--preload`) in front of the nginx mirror, measured the way a
  user meets it: after one pip install (not counted in the rounds, reported on its own as its
  first install) has filled its cache;
- every server runs at once and the installs are interleaved: in each round, pip cold on each
  server, then uv cold on each, then uv warm (the cache its cold run filled) on each, the
  server order rotating from round to round; no install starts within `--gap` seconds (default
  3.5) of the previous one on the same server, as a user's installs are spaced, so no figure
  rides on a cache filled by the run before;
- each figure is the median over rounds of Packyard's time ÷ the peer's in the same round, with
  the server's CPU seconds per install (its whole process group, from /proc) beside it.

Run: `bench/run installs [--rounds 5] [--gap 3.5] [--only packyard,nginx]` (`--only` picks
among packyard, devpi, pypiserver, proxpi and nginx; packyard is always one of them).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from corpus import WheelSpec, sdist_bytes, sdist_filename, wheel_bytes
from envs import Venv, interpreter_of, uv_binary
from procs import (
    LOOPBACK,
    ProcessGroup,
    free_port,
    run_checked,
    terminate_as_interrupt,
    wait_until_ready,
)
from servers import Context, Devpi, Nginx, Packyard, Proxpi, Pypiserver, Server

BENCH = Path(__file__).resolve().parent
APPS, DEPS, VERSIONS = 50, 10, ("1.0.0", "1.1.0", "2.0.0")
FIGURES = ("pip_cold", "uv_cold", "uv_warm")
PEERS = ("devpi", "pypiserver", "proxpi", "nginx")
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
# Packyard's own headers (services/answers.py), so nginx's clients cache exactly as ours do.
PAGE_HEADERS = {
    "Cache-Control": "private, max-age=0, must-revalidate",
    "Vary": "Accept, Accept-Encoding, Authorization",
}
FILE_HEADERS = {"Cache-Control": "private, max-age=31536000, immutable"}


def app_name(index: int) -> str:
    return f"inst-app-{index:03d}"


def dep_name(index: int) -> str:
    return f"inst-dep-{index:03d}"


def corpus_key(files: list[Path]) -> str:
    return hashlib.sha256(b"".join(p.name.encode() for p in files)).hexdigest()[:12]


def build_install_corpus(work: Path) -> list[Path]:
    """The install-shaped corpus (reused when present): 60 projects × 3 versions × 2 files."""
    folder = work / "installs-corpus-v1"
    done = folder / ".complete"
    if done.exists():
        return sorted(p for p in folder.iterdir() if p.name != ".complete")
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    projects: list[tuple[str, tuple[str, ...]]] = [(dep_name(i), ()) for i in range(DEPS)]
    projects += [(app_name(i), (f"{dep_name(i % DEPS)}>=1.0",)) for i in range(APPS)]
    for name, requires in projects:
        for version in VERSIONS:
            spec = WheelSpec(name, version, payload_bytes=2048, requires=tuple(requires))
            wheel = folder / spec.filename
            wheel.write_bytes(wheel_bytes(spec))
            sdist = folder / sdist_filename(name, version)
            sdist.write_bytes(sdist_bytes(name, version))
            paths += [wheel, sdist]
    done.write_text("")
    return sorted(paths)


# --- nginx as a mirror of Packyard's answers -------------------------------------------------


class Mirror(Nginx):
    """nginx serving a crawl of Packyard's pages, `.metadata` files and files, at their paths,
    with Packyard's cache headers."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, name="nginx")
        self.prefix = ""

    def _config(self) -> str:
        config = super()._config()
        page = "".join(f'add_header {k} "{v}" always; ' for k, v in PAGE_HEADERS.items())
        files = "".join(f'add_header {k} "{v}" always; ' for k, v in FILE_HEADERS.items())
        locations = (
            "gzip_static on;\n"
            f"        location ~ /$ {{ {page}}}\n"
            f"        location ~ /index\\.(html|json)$ {{ {page}}}\n"
            f"        location / {{ {files}}}"
        )
        return config.replace("location / { }", locations)

    def simple_url(self) -> str:
        return f"{self.base}{self.prefix}"

    def crawl(self, packyard: Packyard, projects: list[str]) -> int:
        """Copy Packyard's answers for `projects` into the static tree; returns files written."""
        simple = urllib.parse.urlsplit(packyard.simple_url())
        self.prefix = simple.path
        headers = packyard.read_headers()
        written = 0
        for project in projects:
            url = f"{packyard.simple_url()}{project}/"
            folder = self.root / urllib.parse.unquote(simple.path.lstrip("/")) / project
            folder.mkdir(parents=True, exist_ok=True)
            html = _get(url, {**headers, "Accept": "text/html"})
            page_json = _get(url, {**headers, "Accept": "application/vnd.pypi.simple.v1+json"})
            for name, body in (("index.html", html), ("index.json", page_json)):
                (folder / name).write_bytes(body)
                (folder / f"{name}.gz").write_bytes(gzip.compress(body, mtime=0))
            for entry in json.loads(page_json)["files"]:
                target_url = urllib.parse.urljoin(url, entry["url"])
                target = self.root / urllib.parse.unquote(
                    urllib.parse.urlsplit(target_url).path.lstrip("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(_get(target_url, headers))
                written += 1
                if entry.get("core-metadata") or entry.get("dist-info-metadata"):
                    meta = target.with_name(target.name + ".metadata")
                    meta.write_bytes(_get(target_url + ".metadata", headers))
                    written += 1
            written += 2
        return written


class MirroredProxpi(Proxpi):
    """proxpi whose upstream is the nginx mirror of Packyard's answers (started by the bench,
    which may also measure it as `nginx`), so it relays the same pages, `.metadata` files and
    files."""

    def __init__(self, ctx: Context, mirror: Mirror) -> None:
        super().__init__(ctx)
        self.mirror = mirror

    def start(self) -> None:
        self.fresh_run_dir()
        self.launch(self.mirror.simple_url())


def _get(url: str, headers: dict[str, str]) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
        body: bytes = r.read()
        return body


# --- measuring -------------------------------------------------------------------------------


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in the process group ``pgid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@dataclass
class Sample:
    seconds: float
    cpu: float


@dataclass
class Bench:
    servers: dict[str, Server]
    client: Venv
    work: Path
    gap: float
    requirements: list[str]
    last_end: dict[str, float] = field(default_factory=dict)
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def install(self, figure: str, name: str, cache: Path) -> Sample:
        """One install, timed, with the server's CPU seconds; spaced by the gap rule."""
        server = self.servers[name]
        wait = self.last_end.get(name, 0.0) + self.gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # spacing between installs is what is measured, not a readiness wait
        reset_client(self.client)
        index = server.index_url_for_clients()
        if figure == "pip_cold":
            shutil.rmtree(cache, ignore_errors=True)
            argv = [str(self.client.python), "-m", "pip", "install", "--disable-pip-version-check",
                    "--no-input", "--quiet", "--cache-dir", str(cache), "--index-url", index,
                    *self.requirements]
            env, prefix = {"PIP_CONFIG_FILE": os.devnull}, "PIP_"
        else:
            if figure == "uv_cold":
                shutil.rmtree(cache, ignore_errors=True)
            argv = [uv_binary(), "pip", "install", "--quiet", "--python", str(self.client.python),
                    "--cache-dir", str(cache), "--index-url", index, *self.requirements]
            env, prefix = {"UV_NO_CONFIG": "1"}, "UV_"
        assert server.proc is not None
        cpu = group_cpu_seconds(server.proc.pid)
        started = time.perf_counter()
        run_checked(argv, 600, env=env, what=f"{figure} on {name}", drop_env_prefix=prefix)
        seconds = time.perf_counter() - started
        self.last_end[name] = time.monotonic()
        return Sample(seconds, group_cpu_seconds(server.proc.pid) - cpu)

    def record(self, figure: str, name: str, cache: Path) -> None:
        """One install, counted in the rounds' figures."""
        self.samples.setdefault((figure, name), []).append(self.install(figure, name, cache))


def make_client(path: Path) -> Venv:
    """A client environment with the current pip (from PyPI), compiled once; reset per install."""
    venv = Venv(path)
    baseline = path / ".bench-baseline"
    if not baseline.exists():
        shutil.rmtree(path, ignore_errors=True)
        run_checked([uv_binary(), "venv", "--quiet", "--seed", "--python", sys.executable,
                     str(path)], 120, what="uv venv")
        run_checked([str(venv.python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                    300, what="upgrading pip")
        run_checked([str(venv.python), "-m", "compileall", "-q", str(path / "lib")], 300,
                    what="compiling pip")
        baseline.write_text("\n".join(sorted(p.name for p in _site(path).iterdir())))
    return venv


def _site(path: Path) -> Path:
    return sorted((path / "lib").glob("python3*/site-packages"))[0]


def reset_client(venv: Venv) -> None:
    keep = set((venv.path / ".bench-baseline").read_text().splitlines())
    for entry in _site(venv.path).iterdir():
        if entry.name not in keep:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


class KeptDevpi(Devpi):
    """devpi-server whose loaded data is kept between runs: at a few seconds per file on a
    busy 2-core machine, loading it takes longer than the measurement."""

    def __init__(self, ctx: Context, kept: Path) -> None:
        super().__init__(ctx)
        self.kept = kept
        self.loaded = False

    def start(self) -> None:
        if not (self.kept / "password").exists():
            super().start()
            return
        self.password = (self.kept / "password").read_text()
        self.fresh_run_dir()
        shutil.copytree(self.kept / "data", self.run_dir / "data", symlinks=True)
        assert self.venv is not None
        self.port = free_port()
        self.proc = self.ctx.group.start(
            self.name, [str(self.venv.bin("devpi-server")), "--serverdir",
                        str(self.run_dir / "data"), "--host", LOOPBACK, "--port",
                        str(self.port)], self.run_dir / "server.log")
        wait_until_ready(self.proc, self.base + "/+api", timeout_seconds=120)
        self.loaded = True

    def keep(self) -> None:
        """Copy the loaded data for the next run (the server is stopped for it)."""
        assert self.proc is not None
        self.ctx.group.stop(self.proc)
        shutil.rmtree(self.kept, ignore_errors=True)
        shutil.copytree(self.run_dir / "data", self.kept / "data", symlinks=True)
        (self.kept / "password").write_text(self.password)
        self.start()


def upload(server: Server, files: list[Path], parallel: int = 1) -> None:
    """twine upload of `files`, in `parallel` processes at once."""
    target = server.upload_target()
    assert target is not None
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        for done in [pool.submit(
                run_checked, [sys.executable, str(BENCH / "twine_timed.py"), target.url,
                              target.username, *map(str, files[part::parallel])], 1800,
                env={"TWINE_PASSWORD": target.password}, what=f"twine upload to {server.name}")
                for part in range(parallel)]:
            done.result()


def report(bench: Bench, names: list[str]) -> dict[str, dict[str, object]]:
    """Per figure: each server's median seconds and CPU, and each Packyard's ratio to every
    other server, as the median (and range) of the per-round ratios."""
    rows: dict[str, dict[str, object]] = {}
    for figure in FIGURES:
        row: dict[str, object] = {}
        for name in names:
            samples = bench.samples.get((figure, name), [])
            row[name] = {
                "median_s": round(statistics.median(s.seconds for s in samples), 3),
                "cpu_s": round(statistics.median(s.cpu for s in samples), 3),
                "rounds_s": [round(s.seconds, 3) for s in samples],
                "rounds_cpu_s": [round(s.cpu, 3) for s in samples],
            }
        for ours in (n for n in names if n.startswith("packyard")):
            for peer in (n for n in names if n != ours):
                pairs = zip(bench.samples.get((figure, ours), []),
                            bench.samples.get((figure, peer), []), strict=False)
                ratios = [a.seconds / b.seconds for a, b in pairs]
                if ratios:
                    row[f"{ours}/{peer}"] = {"median": round(statistics.median(ratios), 2),
                                             "min": round(min(ratios), 2),
                                             "max": round(max(ratios), 2)}
        rows[figure] = row
    return rows


def print_table(rows: dict[str, dict[str, object]], names: list[str]) -> None:
    pairs = [f"{ours}/{peer}" for ours in names if ours.startswith("packyard")
             for peer in names if peer != ours and not (ours == "packyard-base"
                                                        and peer == "packyard")]
    print("| figure | " + " | ".join(f"{p} (min–max)" for p in pairs)
          + " | server CPU per install: " + " / ".join(names) + " |")
    print("|---" * (2 + len(pairs)) + "|")
    for figure, row in rows.items():
        cells = []
        for pair in pairs:
            r = row.get(pair)
            cells.append(f"{r['median']} ({r['min']}–{r['max']})" if isinstance(r, dict)
                         else "n/a")
        cpu = " / ".join(f"{row[n]['cpu_s']:.2f} s" for n in names  # type: ignore[index]
                         if isinstance(row.get(n), dict))
        print(f"| {figure} | " + " | ".join(cells) + f" | {cpu} |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gap", type=float, default=3.5,
                        help="seconds between two installs on the same server")
    parser.add_argument("--only", default=",".join(("packyard", *PEERS)),
                        help="comma-separated servers, from packyard (always), "
                             + ", ".join(PEERS))
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("BENCH_WORK", BENCH / ".work")))
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "installs.json")
    parser.add_argument("--packyard-bin", default=os.environ.get("BENCH_PACKYARD_BIN"))
    parser.add_argument("--baseline-bin", default=None,
                        help="a second packyard executable (e.g. main's) measured in the same "
                             "rounds as `packyard-base`: before -> after without the noise "
                             "of two runs")
    args = parser.parse_args(argv)
    names = args.only.split(",")
    unknown = sorted(set(names) - {"packyard", *PEERS})
    if unknown or "packyard" not in names:
        parser.error(f"--only: packyard and any of {', '.join(PEERS)}"
                     + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    work: Path = args.work.resolve()
    files = build_install_corpus(work)
    client = make_client(work / "installs-client")
    requirements = [app_name(i) for i in range(APPS)]
    with terminate_as_interrupt(), ProcessGroup() as group:
        ctx = Context(work=work / "installs", group=group, repo_root=BENCH.parent,
                      packyard_bin=args.packyard_bin)
        packyard = Packyard(ctx)
        servers: dict[str, Server] = {"packyard": packyard}
        if args.baseline_bin:
            base = Packyard(dataclasses.replace(ctx, packyard_bin=args.baseline_bin))
            base.name = "packyard-base"
            servers[base.name] = base
            names.insert(1, base.name)
        if "devpi" in names:
            kept = work / "installs" / f"devpi-loaded-{corpus_key(files)}"
            servers["devpi"] = KeptDevpi(ctx, kept)
        if "pypiserver" in names:
            servers["pypiserver"] = Pypiserver(ctx)
        # proxpi's upstream is the mirror, which runs whether or not nginx is measured.
        mirror = Mirror(ctx) if {"nginx", "proxpi"} & set(names) else None
        if mirror is not None and "nginx" in names:
            servers["nginx"] = mirror
        if mirror is not None and "proxpi" in names:
            servers["proxpi"] = MirroredProxpi(ctx, mirror)
        for server in {id(s): s for s in [*servers.values(), mirror] if s}.values():
            server.install()
        for server in servers.values():
            if isinstance(server, Packyard):
                server.start()
                upload(server, files)
        if "devpi" in servers:
            devpi = servers["devpi"]
            assert isinstance(devpi, KeptDevpi)
            devpi.start()
            if not devpi.loaded:
                upload(devpi, files, parallel=4)
                devpi.keep()
        if "pypiserver" in servers:
            servers["pypiserver"].start()
            servers["pypiserver"].place_files(files)
        if mirror is not None:
            mirror.start()
            projects = [dep_name(i) for i in range(DEPS)] + requirements
            print(f"nginx mirror: {mirror.crawl(packyard, projects)} answers copied",
                  file=sys.stderr)
        if "proxpi" in servers:
            servers["proxpi"].start()
        # The crawl read every page and file of `packyard`, and its caches keep them until a
        # change; the uploads left every Packyard their files' data keys open: restarted, each
        # one's installs meet what a user's first install after a restart meets (pages
        # rendered at publish, in the catalog; nothing in memory).
        for server in servers.values():
            if isinstance(server, Packyard):
                server.stop()
                server._launch()  # noqa: SLF001 - on its own data, as start_twin does
                server._configure(create=False)  # noqa: SLF001
        order = [n for n in names if n in servers]
        bench = Bench(servers, client, work / "installs" / "clients", args.gap, requirements)
        # proxpi holds nothing until a client asks: this install fills its cache (pages,
        # `.metadata` files, wheels, from the mirror), as a user's first install through it
        # would; the rounds then meet it warm, as every later install does (index TTL 1 h).
        first = None
        if "proxpi" in servers:
            first = bench.install("pip_cold", "proxpi", bench.work / "proxpi-first-cache")
            print(f"proxpi's first install (pip, cache empty): {first.seconds:.2f}s, "
                  f"{first.cpu:.2f}s of its CPU", file=sys.stderr)
        for number in range(args.rounds):
            rotated = order[number % len(order):] + order[: number % len(order)]
            for figure in FIGURES:
                for name in rotated:
                    cache = bench.work / f"{name}-{figure.split('_')[0]}-cache"
                    bench.record(figure, name, cache)
            print(f"round {number + 1}/{args.rounds}: " + ", ".join(
                f"{f} {n} {bench.samples[(f, n)][-1].seconds:.2f}s"
                for f in FIGURES for n in order), file=sys.stderr)
    rows = report(bench, order)
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rounds": args.rounds,
            "gap_s": args.gap, "files": len(files), "servers": order,
            "versions": {n: s.version for n, s in servers.items()},
            "pythons": {n: interpreter_of(s.binary) for n, s in servers.items()
                        if isinstance(s, Packyard)},
            "pip": run_checked([str(client.python), "-m", "pip", "--version"], 60).stdout.split()[1],
            "uv": run_checked([uv_binary(), "--version"], 60).stdout.split()[1],
            "corpus": corpus_key(files)}
    if first is not None:
        meta["proxpi_first_pip_install"] = {"seconds": round(first.seconds, 3),
                                            "cpu_s": round(first.cpu, 3)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"meta": meta, "figures": rows}, indent=2) + "\n")
    print(json.dumps(meta))
    print_table(rows, order)
    if first is not None:
        print(f"proxpi's first install (pip, its cache empty; not in the rounds): "
              f"{first.seconds:.2f} s, {first.cpu:.2f} s of its CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
