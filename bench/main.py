"""Packyard's benchmark against devpi-server, pypiserver, proxpi and nginx: one command, one table.

Run it through bench/run, which prepares the harness's own virtual environment first.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import load
from corpus import CorpusSpec, build_corpus
from envs import interpreter_of
from procs import ProcessGroup, terminate_as_interrupt
from report import print_report
from results import ServerResult, to_json
from rich.console import Console
from servers import ALL_SERVERS, Context, Packyard, make_server
from suite import Options, run_suite

BENCH = Path(__file__).resolve().parent
console = Console(stderr=True, highlight=False)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Measure Packyard side by side with devpi-server, pypiserver, proxpi and nginx "
        "on this machine (127.0.0.1 only) and print one table of figures and ratios.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs, a 10 MiB big file, 5 installs and no scale figures (< 3 minutes)",
    )
    parser.add_argument(
        "--only",
        default=",".join(ALL_SERVERS),
        help=f"comma-separated servers to run, in order (default: {','.join(ALL_SERVERS)})",
    )
    parser.add_argument(
        "--duration", type=float, help="seconds of each measured wrk run (quick 2, full 10)"
    )
    parser.add_argument(
        "--warmup", type=float, help="seconds of wrk warm-up before each run (quick 1, full 2)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--big-connections",
        type=int,
        default=4,
        help="wrk connections for the big download (default 4)",
    )
    parser.add_argument(
        "--big-mib", type=int, help="size of the big wheel in MiB (quick 10, full 100)"
    )
    parser.add_argument(
        "--huge-upload-mib",
        type=int,
        help="size in MiB of the wheel whose twine upload measures the servers' RSS growth "
        "(full 1024, quick 0 = skipped)",
    )
    parser.add_argument(
        "--huge-upload-budget",
        type=float,
        default=600,
        help="seconds the huge upload may take before it is reported as too slow (default 600)",
    )
    parser.add_argument(
        "--small-bytes", type=int, default=2048, help="size of the small wheel (default 2048)"
    )
    parser.add_argument(
        "--page-files", type=int, default=10, help="files on the measured project page (default 10)"
    )
    parser.add_argument(
        "--upload-count",
        type=int,
        help="small projects in the twine upload figure (quick 10, full 100)",
    )
    parser.add_argument(
        "--install-count", type=int, help="packages pip and uv install (quick 5, full 50)"
    )
    parser.add_argument(
        "--scales",
        help="comma-separated project counts for the scale figures "
        "(full default 1000,100000; quick none; 'none' to skip)",
    )
    parser.add_argument(
        "--scale-upload-count",
        type=int,
        default=50,
        help="projects twine uploads at each scale (default 50)",
    )
    parser.add_argument(
        "--seed-concurrency",
        type=int,
        default=8,
        help="parallel connections used to fill the repository for scale figures (default 8)",
    )
    parser.add_argument(
        "--seed-budget",
        type=float,
        default=420,
        help="seconds a server may take to reach each scale before that figure is skipped (default 420)",
    )
    parser.add_argument(
        "--scale-upload-budget",
        type=float,
        default=120,
        help="seconds the twine upload at each scale may take before it is reported as too slow (default 120)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes for gunicorn peers and nginx (default 1, like Packyard's one process)",
    )
    parser.add_argument(
        "--packyard-args",
        default="",
        help="extra arguments for `packyard serve`, e.g. --packyard-args='--log-level warning'",
    )
    parser.add_argument(
        "--packyard-bin",
        default=os.environ.get("BENCH_PACKYARD_BIN"),
        help="an existing `packyard` executable (default: install this checkout into bench/.work)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=BENCH / "results" / "latest.json",
        help="where the JSON results go (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("BENCH_WORK") or BENCH / ".work"),
        help="scratch folder for environments, corpus and server data (default $BENCH_WORK or bench/.work)",
    )
    return parser.parse_args(argv)


def _pick(
    value: float | int | None, quick: bool, quick_default: float | int, full_default: float | int
) -> float:
    if value is not None:
        return float(value)
    return float(quick_default if quick else full_default)


def parse_servers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL_SERVERS]
    if unknown or not names:
        raise SystemExit(
            f"bench/run: --only takes names from {', '.join(ALL_SERVERS)}; got {text!r}"
        )
    return names


def parse_scales(text: str | None, quick: bool) -> tuple[int, ...]:
    if text is None:
        return () if quick else (1000, 100000)
    if text.strip().lower() in {"", "none", "0"}:
        return ()
    try:
        return tuple(sorted(int(part.replace("_", "")) for part in text.split(",")))
    except ValueError:
        raise SystemExit(
            f"bench/run: --scales takes comma-separated counts like 1000,100000; got {text!r}"
        ) from None


def ensure_tools(servers: list[str]) -> None:
    """Install wrk (and nginx, when needed) from Debian's packages if they are missing."""
    needed = ["wrk"] + (["nginx"] if {"nginx", "proxpi"} & set(servers) else [])
    missing = [
        tool
        for tool in needed
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            f"bench/run: needs {' and '.join(missing)}; install with: sudo apt-get install -y {' '.join(missing)}"
        )
    console.log(f"installing {' '.join(missing)} with apt-get")
    command = ["apt-get", "install", "-y", "-qq", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(command, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(
            ["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600, check=True
        )
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=True)


def machine() -> dict[str, object]:
    cpu = ""
    try:
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    quick = args.quick
    servers = parse_servers(args.only)
    scales = parse_scales(args.scales, quick)
    ensure_tools(servers)
    shape = load.LoadShape(
        threads=args.threads,
        connections=args.connections,
        seconds=_pick(args.duration, quick, 2, 10),
        warmup_seconds=_pick(args.warmup, quick, 1, 2),
    )
    spec = CorpusSpec(
        page_files=args.page_files,
        small_bytes=args.small_bytes,
        big_bytes=int(_pick(args.big_mib, quick, 10, 100)) << 20,
        upload_count=int(_pick(args.upload_count, quick, 10, 100)),
        install_count=int(_pick(args.install_count, quick, 5, 50)),
    )
    options = Options(
        shape=shape,
        big_connections=args.big_connections,
        install_count=spec.install_count,
        scales=scales,
        scale_upload_count=args.scale_upload_count,
        seed_concurrency=args.seed_concurrency,
        seed_budget_seconds=args.seed_budget,
        scale_upload_budget_seconds=args.scale_upload_budget,
        client_timeout_seconds=900,
        huge_upload_bytes=int(_pick(args.huge_upload_mib, quick, 0, 1024)) << 20,
        huge_upload_budget_seconds=args.huge_upload_budget,
    )
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    mode = "quick" if quick else "full"
    console.log(f"{mode} run of {', '.join(servers)}; scratch folder {work}")
    corpus = build_corpus(work, spec)
    script = load.write_script(work)
    results: list[ServerResult] = []
    packyard_python: dict[str, object] = {}
    with terminate_as_interrupt(), ProcessGroup() as group:
        ctx = Context(
            work=work,
            group=group,
            repo_root=BENCH.parent,
            workers=args.workers,
            packyard_bin=args.packyard_bin,
            packyard_args=tuple(shlex.split(args.packyard_args)),
        )
        for name in servers:
            server = make_server(name, ctx)
            began = time.monotonic()
            try:
                console.log(f"{name}: installing")
                server.install()
            except Exception as error:
                result = ServerResult(name=name, error=f"install failed: {error}")
                console.log(f"  {name}: install failed: {str(error)[:400]}")
            else:
                if isinstance(server, Packyard):
                    packyard_python = interpreter_of(server.binary)
                console.log(f"{name} {server.version}: measuring")
                result = run_suite(server, corpus, options, script, lambda line: console.log(line))
            result.seconds = round(time.monotonic() - began, 1)
            results.append(result)
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "machine": machine(),
        "packyard_python": packyard_python,
        "servers": servers,
        "wrk": {
            "threads": shape.threads,
            "connections": shape.connections,
            "seconds": shape.seconds,
            "warmup_seconds": shape.warmup_seconds,
            "big_connections": options.big_connections,
        },
        "corpus": {
            "page_files": spec.page_files,
            "small_bytes": spec.small_bytes,
            "big_bytes": spec.big_bytes,
            "upload_count": spec.upload_count,
            "install_count": spec.install_count,
        },
        "scales": list(scales),
        "huge_upload_bytes": options.huge_upload_bytes,
        "workers": args.workers,
        "packyard_args": args.packyard_args,
        "seconds": round(time.monotonic() - started, 1),
    }
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(to_json(meta, results), indent=2) + "\n")
    title = (
        f"Packyard benchmark ({mode}, {meta['date']}, {os.cpu_count()} cores; "
        "ratio = packyard ÷ peer; ↑ higher is better, ↓ lower is better)"
    )
    print_report(results, title)
    console.log(f"results written to {output} in {meta['seconds']:.0f}s")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        console.log("interrupted; servers stopped")
        sys.exit(130)
