"""`packyard serve` from start to its first answer: what a restart costs, side by side.

A probe (not part of `bench/run`): each round starts the server on a new data directory (the
first start a user sees: migrations, keys) and on the directory of the previous round (a
restart), and times it until `/health` answers: the wall time and the server's CPU until then
(/proc). With `--baseline-src DIR` (a source tree, e.g. `git archive` of an older commit) each
round starts that tree's `packyard` too, by the same interpreter, in alternating order.

    .venv-test/bin/python bench/startup.py --rounds 7 --baseline-src /tmp/base
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from installs import group_cpu_seconds
from procs import free_port

_ENV = {"PACKYARD_ROOT_ACCESS_KEY_ID": "AKIABENCHSTARTUP000", "PACKYARD_ROOT_SECRET_ACCESS_KEY":
        "bench-startup-secret-key-0000000000000000"}


def _start(command: list[str], env: dict[str, str], data_dir: Path) -> tuple[float, float]:
    """(wall, CPU) seconds from the start until /health answers."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([*command, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(data_dir)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{' '.join(command)} serve exited with {proc.returncode}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0, trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.01)
        return time.monotonic() - started, group_cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, default=None)
    args = parser.parse_args(argv)
    env = {**os.environ, **_ENV}
    servers = {"packyard": ([str(Path(sys.executable).parent / "packyard")], env)}
    if args.baseline_src is not None:
        servers["baseline"] = ([sys.executable, "-c", "from packyard.cli import main; main()"],
                               {**env, "PYTHONPATH": str(args.baseline_src.resolve())})
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for round_ in range(args.rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for name in order:
                command, server_env = servers[name]
                data_dir = work / f"{name}-{round_}"
                for kind in ("first start", "restart"):
                    samples.setdefault((name, kind), []).append(
                        _start(command, server_env, data_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'server':10} {'start':12} {'wall p50':>9} {'CPU p50':>8}  (of {args.rounds} rounds)")
    for (name, kind), values in sorted(samples.items()):
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"{name:10} {kind:12} {wall:8.2f}s {cpu:7.2f}s")
    if "baseline" in servers:
        for kind in ("first start", "restart"):
            new, old = samples[("packyard", kind)], samples[("baseline", kind)]
            wall = statistics.median(v[0] for v in new) / statistics.median(v[0] for v in old)
            cpu = statistics.median(v[1] for v in new) / statistics.median(v[1] for v in old)
            print(f"packyard / baseline, {kind}: wall {wall:.2f}, CPU {cpu:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
