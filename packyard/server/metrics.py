"""``/metrics``: what this server process did, in Prometheus' text format (prometheus-client).

Nothing is counted through prometheus-client's own metric objects (each update takes a lock
and a label lookup): the counters are plain integers where the work happens (``Traffic`` for
requests, ``HotReads`` for answers from memory, ``UpstreamStats``, ``TtlCache``'s hits and
misses, the token service, the audit trail, the webhooks' dispatcher), and this collector reads
them when Prometheus scrapes. Labels are fixed sets (surfaces, operation names from the service
models, route classes, status codes, cache names, configured webhooks), never names a client
chose, so no caller can grow the output.

Each process counts its own requests; with ``--workers N`` the worker a scrape reaches adds the
others' figures, which each writes once a second (``server/worker_metrics.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from packyard.bootstrap import Container
from packyard.http.request_note import note_of
from packyard.server.traffic import BUCKETS, Traffic
from packyard.server.worker_metrics import WorkerMetrics
from packyard.services.hot_reads import HotReads


def _buckets(counts: list[int]) -> list[tuple[str, float]]:
    cumulative = list(accumulate(counts))
    bounds = [repr(b) for b in BUCKETS] + ["+Inf"]
    return [(bound, float(total)) for bound, total in zip(bounds, cumulative, strict=True)]


class PackyardCollector:
    """Reads the counters of one server process into metric families."""

    def __init__(self, container: Container, traffic: Traffic) -> None:
        self._container = container
        self._traffic = traffic

    def collect(self) -> Iterator[Metric]:
        yield from self._requests()
        yield from self._memory_answers()
        yield from self._upstreams()
        yield from self._caches()
        yield from self._operations()

    def _requests(self) -> Iterator[Metric]:
        traffic = self._traffic
        requests = CounterMetricFamily(
            "packyard_http_requests", "Requests answered through the app (not from memory), "
            "by surface, operation or route class, and status.",
            labels=["surface", "operation", "status"])
        for (surface, route, status), count in sorted(traffic.requests.items()):
            requests.add_metric([surface, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "packyard_http_request_duration_seconds", "Time from a request's arrival to the "
            "end of its answer, by surface and operation or route class.",
            labels=["surface", "operation"])
        for (surface, route), timed in sorted(traffic.latency.items()):
            latency.add_metric([surface, route], _buckets(timed.counts), timed.total)
        yield latency
        for name, what, values in (("packyard_http_request_bytes", "Request body bytes read",
                                    traffic.bytes_in),
                                   ("packyard_http_response_bytes", "Response body bytes sent",
                                    traffic.bytes_out)):
            family = CounterMetricFamily(name, what + ", by surface.", labels=["surface"])
            for surface, count in sorted(values.items()):
                family.add_metric([surface], count)
            yield family
        uploads = CounterMetricFamily(
            "packyard_uploads", "Uploads by format and outcome: created, identical (already "
            "there), or the error that refused them.", labels=["format", "outcome"])
        for (fmt, outcome), count in sorted(traffic.uploads.items()):
            uploads.add_metric([fmt, outcome], count)
        yield uploads

    def _memory_answers(self) -> Iterator[Metric]:
        traffic = self._traffic
        answers = CounterMetricFamily(
            "packyard_hot_answers", "Repeat reads answered from memory by the hot path, by "
            "format, kind (page or file) and status; not in packyard_http_requests.",
            labels=["format", "kind", "status"])
        for fmt, mounted in self._container.formats.items():
            hot = mounted.hot_path
            if isinstance(hot, HotReads):
                answers.add_metric([fmt, "page", "200"], hot.pages_ok)
                answers.add_metric([fmt, "page", "304"], hot.pages_not_modified)
                answers.add_metric([fmt, "file", "200"], hot.files_ok)
                answers.add_metric([fmt, "file", "304"], hot.files_not_modified)
        yield answers
        ways = CounterMetricFamily(
            "packyard_hot_answers_sent", "Answers from memory by the way they were sent: "
            "fast_lane (written by the server's protocol) or asgi.", labels=["way"])
        ways.add_metric(["fast_lane"], traffic.fast_lane_answers)
        ways.add_metric(["asgi"], traffic.hot_answers)
        yield ways
        sent = CounterMetricFamily("packyard_hot_answer_bytes",
                                   "Bytes of answers from memory, by the way they were sent.",
                                   labels=["way"])
        sent.add_metric(["fast_lane"], traffic.fast_lane_bytes)
        sent.add_metric(["asgi"], traffic.hot_bytes)
        yield sent

    def _upstreams(self) -> Iterator[Metric]:
        http = self._container.core.upstreams.http
        stats = http.stats
        for name, what, value in (
                ("packyard_upstream_requests", "HTTP requests sent to upstreams.",
                 http.requests),
                ("packyard_upstream_document_hits", "Upstream documents (project pages, "
                 "packuments) answered from cache, fresh.", stats.hits),
                ("packyard_upstream_document_fetches", "Upstream documents fetched or "
                 "revalidated (cache misses).", stats.fetches),
                ("packyard_upstream_errors", "Upstream document fetches that failed.",
                 stats.errors),
                ("packyard_upstream_stale_answers", "Cached upstream documents served because "
                 "the upstream failed or was slow.", stats.stale),
                ("packyard_upstream_file_pulls", "Files pulled from upstreams.",
                 stats.file_pulls),
                ("packyard_upstream_file_pull_errors", "File pulls that failed (errors and "
                 "verification failures).", stats.file_pull_errors),
                ("packyard_upstream_file_pull_bytes", "Bytes of files pulled and kept.",
                 stats.file_pull_bytes),
                ("packyard_upstream_file_pull_waits", "File pulls that waited for another "
                 "worker's or replica's download of the same file.", stats.file_pull_waits),
                ("packyard_upstream_digests_filled", "Pulled files whose MD5, SHA-1, SHA-512 "
                 "(and PyPI's BLAKE2b) were worked out after they were kept.",
                 self._container.core.upstreams.later.filled),
                ("packyard_upstream_pages_made_again", "Merged pages made again after pulled "
                 "files were kept, before their next read.",
                 sum(reads.warmer.made for reads in self._container.core.reads))):
            yield CounterMetricFamily(name, what, value=value)

    def _caches(self) -> Iterator[Metric]:
        caches = self._container.core.caches()
        entries = GaugeMetricFamily("packyard_cache_entries", "Entries held, by cache.",
                                    labels=["cache"])
        hits = CounterMetricFamily("packyard_cache_hits", "Lookups answered, by cache.",
                                   labels=["cache"])
        misses = CounterMetricFamily("packyard_cache_misses", "Lookups not answered, by cache.",
                                     labels=["cache"])
        for name, cache in sorted(caches.items()):
            entries.add_metric([name], len(cache))
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
        yield from (entries, hits, misses)

    def _operations(self) -> Iterator[Metric]:
        container = self._container
        yield CounterMetricFamily("packyard_tokens_minted", "Authorization tokens issued.",
                                  value=container.registry.tokens.minted)
        trail = container.trail
        yield CounterMetricFamily("packyard_audit_events", "Audit events recorded.",
                                  value=trail.recorded if trail is not None else 0)
        yield CounterMetricFamily("packyard_audit_flushes", "Durable writes of the audit trail "
                                  "(each covers every request waiting at the time).",
                                  value=trail.flushes if trail is not None else 0)
        yield CounterMetricFamily("packyard_audit_failures", "Requests answered 500 because "
                                  "their audit event could not be recorded.",
                                  value=self._traffic.audit_failures)
        deliveries = CounterMetricFamily(
            "packyard_event_deliveries", "Package version events sent to webhooks, by webhook "
            "and result (delivered, failed attempt).", labels=["webhook", "result"])
        dispatcher = container.webhooks
        if dispatcher is not None:
            for (webhook, result), count in sorted(dispatcher.deliveries.items()):
                deliveries.add_metric([webhook, result], count)
        yield deliveries


class AllWorkers:
    """This worker's families with the other workers' figures added (``--workers N``)."""

    def __init__(self, own: PackyardCollector, workers: WorkerMetrics) -> None:
        self._own = own
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        return self._workers.combined(self._own.collect())


def metrics_endpoint(collector: PackyardCollector, workers: WorkerMetrics | None = None
                     ) -> Callable[[Request], Any]:
    """The ``/metrics`` handler of one app; with ``workers``, of every worker."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector if workers is None else AllWorkers(collector, workers))

    async def metrics(request: Request) -> Response:
        note = note_of(request.scope)
        note.surface, note.route = "server", "metrics"
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
