"""``/metrics`` with ``--workers N``: every worker's figures in one scrape."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families

from packyard.server.worker_metrics import WorkerMetrics, reset, snapshot


def _families(requests: float, entries: float, slow: float) -> list[Metric]:
    counter = CounterMetricFamily("demo_requests", "Requests.", labels=["status"])
    counter.add_metric(["200"], requests)
    gauge = GaugeMetricFamily("demo_entries", "Entries held.", value=entries)
    latency = HistogramMetricFamily("demo_seconds", "Latency.", labels=["route"])
    latency.add_metric(["page"], [("0.1", 1.0), ("+Inf", 1.0 + slow)], 0.5 + slow)
    return [counter, gauge, latency]


def _ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class _Combined:
    def __init__(self, workers: WorkerMetrics, own: list[Metric]) -> None:
        self._workers, self._own = workers, own

    def collect(self) -> Iterator[Metric]:
        return self._workers.combined(self._own)


def test_counters_and_histograms_of_every_worker_add_up_and_an_ended_workers_gauges_do_not(
        tmp_path: Path) -> None:
    WorkerMetrics(tmp_path, pid=_ended_pid()).publish(
        snapshot(_families(requests=5, entries=7, slow=2)))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        WorkerMetrics(tmp_path, pid=live.pid).publish(
            snapshot(_families(requests=3, entries=4, slow=1)))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Combined(WorkerMetrics(tmp_path), _families(1, 1, 0)))
        text = generate_latest(registry).decode()
    finally:
        live.kill()
        live.wait()
    parsed = {family.name: family for family in text_string_to_metric_families(text)}
    assert [sample.value for sample in parsed["demo_requests"].samples
            if sample.name == "demo_requests_total"] == [9.0]
    assert [sample.value for sample in parsed["demo_entries"].samples] == [5.0]  # 1 + 4
    histogram = {(sample.name, sample.labels.get("le")): sample.value
                 for sample in parsed["demo_seconds"].samples}
    assert histogram[("demo_seconds_bucket", "0.1")] == 3.0
    assert histogram[("demo_seconds_bucket", "+Inf")] == 6.0 == histogram[
        ("demo_seconds_count", None)]
    reset(tmp_path)
    assert list(WorkerMetrics(tmp_path).combined([])) == []


def test_a_later_process_given_an_ended_workers_pid_does_not_replace_its_counts(
        tmp_path: Path) -> None:
    pid = _ended_pid()
    WorkerMetrics(tmp_path, pid=pid).publish(snapshot(_families(requests=5, entries=0, slow=0)))
    WorkerMetrics(tmp_path, pid=pid).publish(snapshot(_families(requests=2, entries=0, slow=0)))
    [requests] = [family for family in WorkerMetrics(tmp_path).combined([])
                  if family.name == "demo_requests"]
    assert [sample.value for sample in requests.samples] == [7.0]
