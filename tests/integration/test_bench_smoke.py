"""The benchmark's quick mode starts, measures Packyard alone and writes its table.

No timing is asserted (CI machines are shared and noisy); only that every figure of the quick
mode came back with a number and the table and JSON were produced. See bench/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH_RUN = REPO / "bench" / "run"

# Figures the quick mode must measure on Packyard; two tiny scales (the full mode's are 1,000
# and 100,000) exercise the scale figures and the side-by-side run on a copy of the data.
EXPECTED_FIGURES = (
    "upload_big_mbps",
    "upload_files_per_s",
    "page_html_rps",
    "page_html_p50_ms",
    "page_html_p99_ms",
    "page_json_rps",
    "small_rps",
    "big_mbps",
    "pip_cold_s",
    "pip_warm_s",
    "uv_cold_s",
    "uv_warm_s",
    "scale10_page_html_rps",
    "scale10_upload_files_per_s",
    "scale30_page_html_rps",
    "scale30_upload_files_per_s",
    "scale_pair_page_slowdown",
    "scale_pair_page_p50_slowdown",
)


def _packyard_beside_interpreter() -> list[str]:
    """Reuse the `packyard` installed with this test run instead of building another venv."""
    candidate = Path(sys.executable).parent / "packyard"
    return ["--packyard-bin", str(candidate)] if candidate.exists() else []


@pytest.mark.timeout(1200)
def test_quick_mode_measures_packyard_alone(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    done = subprocess.run(
        [
            str(BENCH_RUN),
            "--quick",
            "--only",
            "packyard",
            "--scales",
            "10,30",
            "--scale-upload-count",
            "5",
            # Half-second loads without warm-up: every figure still comes back with a
            # number (what this test asserts), in half the time of the quick mode's own.
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--output",
            str(output),
            *_packyard_beside_interpreter(),
        ],
        capture_output=True,
        text=True,
        timeout=1100,
        stdin=subprocess.DEVNULL,
        env={**_clean_env(), "COLUMNS": "200"},
    )
    transcript = (
        f"exit {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    )
    assert done.returncode == 0, transcript
    assert "Packyard benchmark (quick" in done.stdout, transcript

    results = json.loads(output.read_text())
    assert results["meta"]["mode"] == "quick"
    assert list(results["servers"]) == ["packyard"]
    packyard = results["servers"]["packyard"]
    assert packyard["error"] == "", packyard["notes"]
    missing = {
        key: packyard["figures"].get(key, {}).get("note", "not measured")
        for key in EXPECTED_FIGURES
        if not (packyard["figures"].get(key) or {}).get("value")
    }
    assert not missing, f"figures without a value: {missing}"
    assert all(
        figure["value"] > 0
        for figure in packyard["figures"].values()
        if figure["value"] is not None
    )
    assert packyard["figures"]["page_html_rps"]["rss_mib"] > 0
    # Which interpreter the server ran on (figures differ by ~25% between builds): this run's.
    described = results["meta"]["packyard_python"]
    assert described["version"] == platform.python_version()
    assert described["executable"] == os.path.realpath(sys._base_executable)


def _clean_env() -> dict[str, str]:
    # The harness makes its own environments; an activated venv must not leak into them. Nor
    # coverage's subprocess measurement (pyproject.toml): tracing the benchmark's processes
    # would only slow it down, and what its servers run the other tests cover already.
    left_out = {"VIRTUAL_ENV", "PYTHONPATH", "COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START"}
    env = {key: value for key, value in os.environ.items() if key not in left_out}
    # The harness runs on this test run's interpreter, which has its tools (rich, boto3, twine,
    # httpx, uv), rather than on a virtualenv of its own installed from PyPI: offline, and
    # ~15 s sooner.
    env["BENCH_HARNESS_PYTHON"] = sys.executable
    return env
