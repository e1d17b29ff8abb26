"""``/metrics`` with ``--workers N``: the figures of every worker, not of the one scraped.

Each worker counts its own requests in memory (``server/traffic.py``), and a scrape reaches one
of them. So each worker also writes what it counted, once a second, to a file of its own in
the data directory (``worker-metrics/<pid>-<tag>.json``, replaced whole; the tag keeps a
later process given the same pid from replacing an ended worker's file), and the worker a scrape
reaches answers with its own figures as they are now plus the other workers' files, summed
sample by sample: the totals are at most a second behind for the other workers.

A worker that ended (uvicorn starts another in its place) keeps its file: its counters stay in
the sums, so counters never go backwards; its gauges (entries held in its caches) are left out,
as it holds nothing any more. ``packyard serve`` empties the directory before it starts the
workers, as the counters of a new server start at zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric

from packyard.processes import pid_alive

log = logging.getLogger("packyard.metrics")

DIRECTORY = "worker-metrics"
PUBLISH_SECONDS = 1.0

# (sample name, sorted labels) -> value, per family
_Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def reset(data_dir: Path) -> None:
    """Forget the figures of a previous server (``packyard serve``, before its workers)."""
    shutil.rmtree(data_dir / DIRECTORY, ignore_errors=True)


def snapshot(families: Iterable[Metric]) -> list[dict[str, Any]]:
    """Families as plain data, for a worker's file."""
    return [{"name": family.name, "documentation": family.documentation,
             "type": family.type,
             "samples": [[sample.name, sample.labels, sample.value]
                         for sample in family.samples]}
            for family in families]


class WorkerMetrics:
    """This worker's file, and the other workers' figures added to its own."""

    def __init__(self, data_dir: Path, pid: int | None = None) -> None:
        self.directory = data_dir / DIRECTORY
        self.pid = os.getpid() if pid is None else pid
        self._name = f"{self.pid}-{secrets.token_hex(4)}"

    def publish(self, families: list[dict[str, Any]]) -> None:
        """Replace this worker's file with ``families`` (from ``snapshot``)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.directory / f"{self._name}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps({"pid": self.pid, "families": families}))
        os.replace(temporary, target)

    def combined(self, own: Iterable[Metric]) -> Iterator[Metric]:
        """This worker's families with every other worker's samples added in."""
        order: list[str] = []
        kinds: dict[str, tuple[str, str]] = {}
        sums: dict[str, _Samples] = {}
        self._add(snapshot(own), order, kinds, sums, alive=True)
        for pid, families in self._others():
            self._add(families, order, kinds, sums, alive=pid_alive(pid))
        for name in order:
            documentation, kind = kinds[name]
            family = Metric(name, documentation, kind)
            for (sample, labels), value in sums[name].items():
                family.add_sample(sample, dict(labels), value)
            yield family

    @staticmethod
    def _add(families: list[dict[str, Any]], order: list[str],
             kinds: dict[str, tuple[str, str]], sums: dict[str, _Samples],
             alive: bool) -> None:
        for family in families:
            name, kind = family["name"], family["type"]
            if kind == "gauge" and not alive:
                continue  # what an ended worker held, it holds no more
            if name not in sums:
                order.append(name)
                kinds[name] = (family["documentation"], kind)
                sums[name] = {}
            samples = sums[name]
            for sample, labels, value in family["samples"]:
                key = (sample, tuple(sorted(labels.items())))
                samples[key] = samples.get(key, 0.0) + float(value)

    def _others(self) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        try:
            paths = sorted(self.directory.glob("*.json"))
        except OSError:
            return
        for path in paths:
            pid = path.stem.partition("-")[0]
            if path.stem == self._name or not pid.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError):
                document = json.loads(path.read_text())
                families = document.get("families")
                if isinstance(families, list):
                    yield int(pid), families
