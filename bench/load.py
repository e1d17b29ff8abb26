"""HTTP load with wrk: a warm-up, then a fixed-duration run whose summary comes back as JSON.

wrk's Lua `done` hook prints one machine-readable line, so nothing depends on wrk's text layout.
Only loopback URLs are accepted: this benchmark never sends load anywhere else.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_MARKER = "BENCH_JSON "
_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class LoadShape:
    """How hard and how long wrk pushes: threads, connections, seconds (warm-up and measured)."""

    threads: int = 2
    connections: int = 16
    seconds: float = 10.0
    warmup_seconds: float = 2.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    bytes: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


class LoadFailed(RuntimeError):
    """wrk could not run, or the server answered with errors under load."""


def _require_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise LoadFailed(f"refusing to send load to {host!r}: the benchmark only targets 127.0.0.1")


def write_script(work: Path) -> Path:
    path = work / "summary.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_LUA)
    return path


def run_wrk(
    url: str,
    headers: Mapping[str, str],
    shape: LoadShape,
    script: Path,
    seconds: float | None = None,
) -> LoadResult:
    """Run wrk against `url` for `seconds` (default: the shape's) and return its summary."""
    _require_loopback(url)
    duration = shape.seconds if seconds is None else seconds
    argv = [
        "wrk",
        f"-t{shape.threads}",
        f"-c{max(shape.connections, shape.threads)}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={int(shape.timeout_seconds)}s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration + shape.timeout_seconds + 30
        )
    except subprocess.TimeoutExpired as error:
        raise LoadFailed(f"wrk did not finish against {url}") from error
    lines = [line for line in done.stdout.splitlines() if line.startswith(_MARKER)]
    if done.returncode != 0 or not lines:
        raise LoadFailed(f"wrk failed against {url}: {(done.stdout + done.stderr).strip()[-600:]}")
    raw = json.loads(lines[-1][len(_MARKER) :])
    errors = sum(
        raw[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        bytes=raw["bytes"],
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


def measure(
    url: str,
    headers: Mapping[str, str],
    shape: LoadShape,
    script: Path,
    min_bytes_per_response: int = 0,
) -> LoadResult:
    """Warm up, then measure; fail when the server errs or sends short responses."""
    if shape.warmup_seconds > 0:
        run_wrk(url, headers, shape, script, seconds=shape.warmup_seconds)
    result = run_wrk(url, headers, shape, script)
    if result.requests == 0:
        raise LoadFailed(f"no request to {url} completed in {result.seconds:.1f}s")
    if result.errors > result.requests // 100:
        raise LoadFailed(f"{result.errors} of {result.requests} requests to {url} failed")
    if min_bytes_per_response and result.bytes < result.requests * min_bytes_per_response:
        raise LoadFailed(
            f"responses from {url} averaged {result.bytes // result.requests} bytes, "
            f"expected at least {min_bytes_per_response}: the server is not sending the file"
        )
    return result
