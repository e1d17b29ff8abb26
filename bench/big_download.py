#!/usr/bin/env python3
"""The big download side by side: one 100 MiB wheel read by wrk from nginx and from Packyard,
with encryption at rest on and off, and optionally from another checkout (the baseline).

    .venv-test/bin/python bench/big_download.py [--mib 100] [--rounds 3] [--seconds 5]
        [--baseline-src /tmp/base]

Every server runs at once (an idle one costs nothing) and the rounds are interleaved: each
round measures every server once, in turn, so a change of the machine's load hits them all
alike. The report gives each server's median MB/s, its ratio to nginx's, the server's CPU time
per file sent (user + system, from /proc: on a shared machine the steadier figure), and its peak
RSS (VmHWM) over the whole run. Everything stays on 127.0.0.1; work files go to
bench/.work/big-download.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import sized_wheel_spec, write_wheel  # noqa: E402
from load import LoadShape, run_wrk, write_script  # noqa: E402

LOOPBACK = "127.0.0.1"
ROOT_KEY = "AKIABENCHBIGDOWNLOAD"
ROOT_SECRET = "bench-big-download-secret-" + "0" * 14


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@dataclass
class Served:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)
    cpu_ms_per_file: list[float] = field(default_factory=list)

    def pids(self) -> list[int]:
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        except OSError:
            pass
        return pids

    def cpu_seconds(self) -> float:
        ticks = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024


def start_nginx(work: Path, wheel: Path) -> Served:
    root = work / "nginx"
    shutil.rmtree(root, ignore_errors=True)
    (root / "www").mkdir(parents=True)
    (root / "tmp").mkdir()
    shutil.copy(wheel, root / "www" / wheel.name)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    client_body_temp_path {root / "tmp"};
    proxy_temp_path {root / "tmp"};
    fastcgi_temp_path {root / "tmp"};
    uwsgi_temp_path {root / "tmp"};
    scgi_temp_path {root / "tmp"};
    default_type application/octet-stream;
    server {{ listen {LOOPBACK}:{port}; root {root / "www"}; location / {{ }} }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-p", str(root), "-e", str(root / "error.log"), "-c",
                             str(root / "nginx.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://{LOOPBACK}:{port}/{wheel.name}"
    wait_ready(proc, url)
    return Served("nginx", url, proc)


def start_packyard(name: str, work: Path, wheel: Path, encryption: str,
                   source: Path | None) -> Served:
    import botocore.session

    data = work / name
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PACKYARD_", "AWS_")) and "proxy" not in k.lower()}
    env.update(PACKYARD_ROOT_ACCESS_KEY_ID=ROOT_KEY, PACKYARD_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET,
               PACKYARD_ENCRYPTION=encryption)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    with (data / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "packyard", "serve", "--host", LOOPBACK, "--port", str(port),
             "--data-dir", str(data / "data"), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH:
            # run from this repository's root, a baseline would import this checkout.
            cwd=source)
    base = f"http://{LOOPBACK}:{port}"
    wait_ready(proc, base + "/health")
    api = botocore.session.get_session().create_client(
        "codeartifact", region_name="us-east-1", endpoint_url=base,
        aws_access_key_id=ROOT_KEY, aws_secret_access_key=ROOT_SECRET)
    api.create_domain(domain="bench")
    api.create_repository(domain="bench", repository="big")
    token = api.get_authorization_token(domain="bench")["authorizationToken"]
    endpoint = f"{base}/bench-000000000000/pypi/big/"
    twine = Path(sys.executable).parent / "twine"
    subprocess.run([str(twine), "upload", "--disable-progress-bar", "--non-interactive",
                    "--repository-url", endpoint, "-u", "aws", "-p", token, str(wheel)],
                   check=True, capture_output=True, env=env, timeout=600)
    basic = base64.b64encode(f"aws:{token}".encode()).decode()
    project = wheel.name.split("-", 1)[0].replace("_", "-")
    return Served(name, f"{endpoint}simple/{project}/{wheel.name}", proc,
                  {"Authorization": f"Basic {basic}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--baseline-src", type=Path,
                        help="also run Packyard from this source tree as `baseline-*`")
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "big-download")
    args = parser.parse_args()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    spec = sized_wheel_spec("bench-big", "1.0", args.mib * 1024 * 1024)
    wheel = work / spec.filename
    if not wheel.exists() or wheel.stat().st_size != args.mib * 1024 * 1024:
        with wheel.open("wb") as out:
            write_wheel(spec, out)
    script = write_script(work)
    shape = LoadShape(threads=2, connections=args.connections, seconds=args.seconds,
                      warmup_seconds=0)
    servers: list[Served] = []
    try:
        servers.append(start_nginx(work, wheel))
        variants: list[tuple[str, Path | None]] = [("packyard", None)]
        if args.baseline_src is not None:
            variants.insert(0, ("baseline", args.baseline_src.resolve()))
        for label, source in variants:
            for encryption in ("on", "off"):
                servers.append(start_packyard(f"{label}-enc-{encryption}", work, wheel,
                                              encryption, source))
        for served in servers:  # one warm-up read each: page cache, keys, grants
            run_wrk(served.url, served.headers, shape, script, seconds=1)
        for round_ in range(args.rounds):
            for served in servers:
                cpu = served.cpu_seconds()
                result = run_wrk(served.url, served.headers, shape, script)
                cpu = served.cpu_seconds() - cpu
                if result.errors or result.requests == 0:
                    raise RuntimeError(f"{served.name}: {result}")
                served.rates.append(result.megabytes_per_second)
                served.cpu_ms_per_file.append(
                    cpu * 1000 / (result.bytes / wheel.stat().st_size))
            print(f"round {round_ + 1}: " + ", ".join(
                f"{s.name} {s.rates[-1]:.0f}" for s in servers), flush=True)
        nginx = statistics.median(servers[0].rates)
        print(f"{args.mib} MiB wheel, wrk -c{args.connections}, {args.rounds} interleaved rounds "
              f"of {args.seconds:g}s; median MB/s (x nginx), server CPU ms per file, peak RSS")
        for served in servers:
            rate = statistics.median(served.rates)
            print(f"{served.name:<22} {rate:8.0f} MB/s ({rate / nginx:.2f}x)  "
                  f"{statistics.median(served.cpu_ms_per_file):7.1f} CPU ms/file  "
                  f"peak RSS {served.peak_rss_mib():.0f} MiB")
    finally:
        for served in servers:
            if served.proc.poll() is None:
                os.killpg(served.proc.pid, 15)
                served.proc.wait(15)


if __name__ == "__main__":
    main()
