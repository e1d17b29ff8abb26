"""`bench/run replicas` starts its services, replicas and balancer, measures every figure and
writes its JSON, on tiny settings and in this test run's interpreter (no venv of its own).

No timing is asserted (the machine is shared and noisy): only that each figure came back with a
number for each side and a ratio where it has one. See bench/README.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_bench_smoke import BENCH_RUN, _clean_env

# Each figure's label (whole, or its start before a space) and the columns and ratios it must hold.
EXPECTED = {
    "10-file project page (PEP 691 JSON, cached)": (
        {"embedded", "replica 1", "replica 2", "replica 3", "balancer"},
        {"replica 1 / embedded", "replica 2 / embedded", "replica 3 / embedded",
         "any replica / embedded", "balancer / embedded"}),
    "2 KiB wheel download": (
        {"embedded", "replica 1", "replica 2", "replica 3", "balancer"},
        {"replica 1 / embedded", "replica 2 / embedded", "replica 3 / embedded",
         "any replica / embedded", "balancer / embedded"}),
    "twine upload, 256-byte wheels": ({"embedded", "balancer"}, {"balancer / embedded"}),
    "publish on one replica -> listed by another": ({"p50", "p99", "max"}, set()),
    "NOTIFY -> another process's listener": ({"p50", "p99"}, set()),
    "10-file project page (PEP 691 JSON, cached), 2,000 projects": (
        {"1,000 projects", "2,000 projects"}, {"2,000 projects / 1,000"}),
    "first read of a seeded project's page (uncached), 2,000 projects": (
        {"1,000 projects", "2,000 projects"}, {"2,000 projects / 1,000"}),
}


@pytest.mark.timeout(1200)
def test_replicas_suite_measures_every_figure(tmp_path: Path) -> None:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None
               and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/test installs them as root)")
    output = tmp_path / "replicas.json"
    done = subprocess.run(
        [str(BENCH_RUN), "replicas", "--python", sys.executable, "--rounds", "1",
         "--seconds", "0.5", "--warmup", "0", "--upload-count", "3", "--visibility-samples", "3",
         "--scale-projects", "2000", "--uncached-reads", "5", "--output", str(output)],
        capture_output=True, text=True, timeout=1100, stdin=subprocess.DEVNULL,
        env={**_clean_env(), "BENCH_WORK": str(tmp_path / "work")})
    transcript = (f"exit {done.returncode}\nstdout:\n{done.stdout[-4000:]}\n"
                  f"stderr:\n{done.stderr[-4000:]}")
    assert done.returncode == 0, transcript

    results = json.loads(output.read_text())
    figures = results["figures"]
    for label, (columns, ratios) in EXPECTED.items():
        found = [f for f in figures
                 if f["label"] == label or f["label"].startswith(label + " ")]
        assert len(found) == 1, (label, [f["label"] for f in figures])
        figure = found[0]
        assert set(figure["median"]) == columns, figure
        assert all(value > 0 for value in figure["median"].values()), figure
        assert set(figure["ratio_median"]) == ratios, figure
        assert all(value > 0 for value in figure["ratio_median"].values()), figure
    notes = "\n".join(results["notes"])
    assert "seeded 2,000 projects" in notes
    assert "EXPLAIN ANALYZE at 2,000 projects: packages: Index Scan" in notes
