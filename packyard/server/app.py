"""The ASGI application: the formats' hot paths, then one Starlette app for the API and every
package endpoint."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from packyard import __version__
from packyard.api.codeartifact.errors import ERRORS as CODEARTIFACT_ERRORS
from packyard.api.iam.errors import ERRORS as IAM_ERRORS
from packyard.api.kms.endpoint import ByTarget
from packyard.api.kms.errors import ERRORS as KMS_ERRORS
from packyard.audit.trail import OFF, AuditTrail
from packyard.auth.environment import RequestEnvironmentMiddleware
from packyard.bootstrap import Container, build
from packyard.console import browser_root
from packyard.http.answer import Answer, FirstRead, HotPath
from packyard.http.request_note import (
    RequestIds,
    bind_request_id,
    keep_request_id,
    note_of,
    release_request_id,
)
from packyard.server.access_log import AccessLog
from packyard.server.limits import ConnectionLimits
from packyard.server.log_context import install_request_ids
from packyard.server.metrics import PackyardCollector, metrics_endpoint
from packyard.server.observe import Observe, Observer, access_entry, log_failure
from packyard.server.proxy_headers import trust_proxies
from packyard.server.traffic import Traffic
from packyard.server.worker_metrics import PUBLISH_SECONDS, WorkerMetrics, snapshot
from packyard.services.first_reads import FirstReads
from packyard.settings import Settings

log = logging.getLogger("packyard.metrics")


async def health(request: Request) -> Response:
    note = note_of(request.scope)
    note.surface, note.route = "server", "health"
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    """Readiness for load balancers (``services/readiness.py``): 200 when the database and the
    blob store answer and the schema is this code's, else 503 saying which is not."""
    note = note_of(request.scope)
    note.surface, note.route = "server", "ready"  # a balancer's probes, apart in /metrics
    readiness = request.app.state.container.readiness
    report = await readiness.report()
    body = {"status": "ready" if report.ready else "not ready", "checks": report.checks}
    if report.ready:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


def _segment(path: str) -> str:
    """The second segment of a path, where a package endpoint names its format
    (``/{domain}-{owner}/{segment}/{repo}/...``); "" when there is none."""
    start = path.find("/", 1) + 1
    if start == 0:
        return ""
    end = path.find("/", start)
    return path[start:] if end < 0 else path[start:end]


class PackyardApp:
    """Offers each request to the hot paths (repeat reads answered from memory), then to the
    first-read paths (a page or file not cached yet, rendered or looked up without the routes),
    else to Starlette. Nothing else differs between them: see ``services/hot_reads.py`` and
    ``services/first_reads.py``."""

    def __init__(self, app: Starlette, hot_paths: Mapping[str, HotPath],
                 connection_limits: ConnectionLimits | None = None,
                 observer: Observer | None = None,
                 first_reads: Mapping[str, FirstRead] | None = None) -> None:
        self.app = app
        # By the URL segment of the format's package endpoint (``/{label}/{segment}/...``): a
        # request is offered to its own format's paths only, not tried against each.
        self._hot_paths = dict(hot_paths)
        self._first_reads = dict(first_reads or {})
        # Their answers made on the event loop's thread without waiting (``FirstReads.now``).
        self._first_reads_now = {segment: first_read.now
                                 for segment, first_read in self._first_reads.items()
                                 if isinstance(first_read, FirstReads)}
        # Read by the server's protocol for each connection (server_protocol.find_limits).
        self.connection_limits = connection_limits or ConnectionLimits()
        # Request ids, counters and the access log, shared with the server's fast lane.
        self.observer = observer

    @property
    def container(self) -> Container:
        container: Container = self.app.state.container
        return container

    def hot_answer(self, scope: Scope) -> Answer | None:
        """The answer a hot path has ready for this HTTP request, if any (no I/O)."""
        hot_path = self._hot_paths.get(_segment(scope["path"]))
        return None if hot_path is None else hot_path(scope)

    def first_answer_now(self, scope: Scope) -> Answer | None:
        """The answer to a first read that a caller granted on its connection already gets
        on this thread without waiting (``FirstReads.now``), if any (no I/O that can wait:
        ``metadata/point_reads.py``); count it with ``first_answer_sent`` once written."""
        now = self._first_reads_now.get(_segment(scope["path"]))
        return None if now is None else now(scope)

    def first_answer_sent(self, scope: Scope, request_id: str, status: int, sent: int,
                          started: float) -> None:
        """A first read's answer counted and logged as ``Observe`` counts and logs the
        routes' answers, under the operation and caller the first-read path noted."""
        observer = self.observer
        if observer is None:
            return
        note = note_of(scope)
        elapsed = time.perf_counter() - started
        observer.traffic.count(note.surface, note.route, status, elapsed, 0, sent)
        if observer.access_log is not None:
            observer.access_log.write(access_entry(scope, request_id, note, status, 0, sent,
                                                   elapsed))
        if status >= 400 and not note.logged:  # a refusal (404, an upstream's 502)
            token = bind_request_id(request_id)
            try:
                log_failure(scope, note, status)
            finally:
                release_request_id(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            segment = _segment(scope["path"])
            hot_path = self._hot_paths.get(segment)
            answer = None if hot_path is None else hot_path(scope)
            if answer is not None:
                await self._send_hot(scope, answer, send)
                return
            first_read = self._first_reads.get(segment)
            if first_read is not None:
                started = time.perf_counter()
                observer = self.observer
                # The answer's id, bound before the read: a line it logs (a stored file that
                # failed its integrity check) names the request, as the routes' lines do.
                request_id = observer.ids.next() if observer is not None else None
                token = None if request_id is None else bind_request_id(request_id)
                try:
                    now = self._first_reads_now.get(segment)
                    answer = None if now is None else now(scope)
                    if answer is None:
                        answer = await first_read(scope)
                finally:
                    if token is not None:
                        release_request_id(token)
                if answer is not None:
                    await self._send_first_read(scope, answer, send, started, request_id)
                    return
                if request_id is not None:  # handed on: the routes answer under this id
                    keep_request_id(scope, request_id)
        await self.app(scope, receive, send)

    async def _send_hot(self, scope: Scope, answer: Answer, send: Send) -> None:
        observer = self.observer
        if observer is None:
            await answer.send(send)
            return
        request_id = observer.ids.next()
        await answer.send(send, request_id)
        traffic = observer.traffic
        traffic.hot_answers += 1
        traffic.hot_bytes += len(answer.body)
        if observer.access_log is not None:
            client = scope.get("client")
            observer.access_log.fast_lane(request_id, scope["method"], scope["path"],
                                          answer.status, len(answer.body),
                                          client[0] if client else None, None)

    async def _send_first_read(self, scope: Scope, answer: Answer, send: Send,
                               started: float, request_id: str | None) -> None:
        """Counted and logged as ``Observe`` counts and logs the routes' answers, under the
        operation and caller the first-read path noted. Nothing to record in the audit trail:
        its successes are not recorded (downloads audited leave first reads to the routes)
        and the refusals that are recorded are left to the routes."""
        if request_id is None:  # no observer
            await answer.send(send)
            return
        await answer.send(send, request_id)
        self.first_answer_sent(scope, request_id, answer.status, len(answer.body), started)


def create_app(settings: Settings | None = None,
               container: Container | None = None) -> PackyardApp:
    if container is None:
        from packyard.settings import load_settings

        container = build(settings or load_settings())
    api_methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    settings = container.settings
    install_request_ids()
    traffic = Traffic()
    trail = container.trail or AuditTrail(OFF)
    access_log = AccessLog(settings.access_log) if settings.access_log else None
    observer = Observer(RequestIds(), trail, traffic, access_log, settings.region,
                        settings.account_id)
    collector = PackyardCollector(container, traffic)
    # With --workers N, each worker's figures go where the others find them.
    workers = (WorkerMetrics(settings.data_dir) if settings.metrics and settings.workers > 1
               else None)
    # Each surface maps errors to its wire format in one place, registered on its route.
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        *([Route("/metrics", metrics_endpoint(collector, workers), methods=["GET"])]
          if settings.metrics else []),
        Route("/v1/{path:path}", container.api.__call__, methods=api_methods,
              middleware=[CODEARTIFACT_ERRORS]),
        *(route for mounted in container.formats.values() for route in mounted.routes),
        # After the package endpoints, so their requests are routed as before.
        *(container.console.routes() if container.console is not None else []),
    ]
    if container.iam_api is not None:
        # IAM and STS (AWS Query protocol) share the endpoint's root, as --endpoint-url sends
        # them; so does KMS (JSON, named by X-Amz-Target); a browser's GET there goes to the
        # console.
        query_api = (browser_root(container.iam_api.__call__) if container.console is not None
                     else container.iam_api.__call__)
        root = Route("/", query_api, methods=["POST", "GET"], middleware=[IAM_ERRORS])
        if container.kms_api is not None:
            kms = Route("/", container.kms_api.__call__, methods=["POST"],
                        middleware=[KMS_ERRORS])
            root = Route("/", ByTarget(kms.app, root.app), methods=["POST", "GET"])
        routes.append(root)
    app = Starlette(routes=routes, lifespan=_lifespan(container, observer,
                                                     _publishing(collector, workers)),
                    middleware=[Middleware(Observe, observer=observer),
                                Middleware(RequestEnvironmentMiddleware)])
    app.state.container = container
    segments = {name: container.registry.formats.get(name).url_segment
                for name in container.formats}
    hot_paths = {segments[name]: mounted.hot_path for name, mounted in container.formats.items()
                 if mounted.hot_path is not None}
    # With downloads audited, the routes answer first reads: they record each download. With
    # the audit trail on, they answer the refusals it records (``services/first_reads.py``).
    first_reads = {segments[name]: mounted.first_read
                   for name, mounted in container.formats.items()
                   if mounted.first_read is not None and not settings.audit_downloads}
    for first_read in first_reads.values():
        if isinstance(first_read, FirstReads):
            first_read.defer_refusals = trail.enabled
    return PackyardApp(app, hot_paths,
                       ConnectionLimits(settings.header_timeout_seconds,
                                        settings.body_timeout_seconds, settings.max_connections),
                       observer, first_reads)


def _publishing(collector: PackyardCollector, workers: WorkerMetrics | None
                ) -> Callable[[], Coroutine[Any, Any, None]] | None:
    """A worker's loop writing its figures for the others' scrapes (``--workers N``)."""
    if workers is None:
        return None

    async def publish() -> None:
        failing = False
        while True:
            # Read on the event loop's thread, where the counters are written.
            families = snapshot(collector.collect())
            try:
                await anyio.to_thread.run_sync(workers.publish, families)
                failing = False
            except OSError as error:
                if not failing:  # once per outage (a full disk), not once a second
                    log.warning("could not write this worker's metrics for the others' "
                                "scrapes: %s", error)
                failing = True
            await asyncio.sleep(PUBLISH_SECONDS)

    return publish


def _lifespan(container: Container, observer: Observer,
              publish: Callable[[], Coroutine[Any, Any, None]] | None = None
              ) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """What a serving process starts and stops beside the requests: hearing other processes'
    writes, the digests pulls left for later, merged pages made again after pulls, the
    webhooks' sender, its figures for the other workers' scrapes, and at the end the audit
    trail's last flush."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Under a server (uvicorn sends lifespan events; in-process tests do not): hear other
        # processes' writes while serving.
        container.start_background()
        # Digests a stopped process left unfilled (a pulled file's MD5, SHA-1, SHA-512),
        # filled in while no request is being served.
        later = container.core.upstreams.later
        later.yield_to(observer.traffic.activity)
        later.nudge()
        # Merged pages made again after pulled files are kept, while nothing is served.
        warmers = [reads.warmer for reads in container.core.reads]
        for warmer in warmers:
            warmer.yield_to(observer.traffic.activity)
        webhooks = container.webhooks
        if webhooks is not None:
            webhooks.initialize()
            webhooks.start()
        publishing: asyncio.Task[None] | None = (
            None if publish is None else asyncio.create_task(publish()))
        try:
            yield
        finally:
            if publishing is not None:
                publishing.cancel()
            for warmer in warmers:
                await warmer.close()
            await later.close()
            if webhooks is not None:
                webhooks.close()
            observer.trail.close()
            if observer.access_log is not None:
                observer.access_log.close()
            await run_in_threadpool(container.stop_background)  # joins the watcher's thread

    return lifespan


def behind_proxies(app: PackyardApp, settings: Settings) -> ASGIApp:
    """The app as ``packyard serve`` runs it: X-Forwarded-* headers believed only from the
    trusted proxy addresses (uvicorn's own proxy middleware is switched off for this one)."""
    return trust_proxies(cast(Any, app), settings.forwarded_allow_ips)


def freeze_startup_objects() -> None:
    """Exempt what start-up built (botocore's service models, routes, settings) from the
    garbage collector: full collections then no longer walk ~100,000 objects (tens of
    milliseconds each), which shows in every request's tail latency. The collector is turned
    on here if start-up had turned it off (``packyard serve``)."""
    gc.collect()
    gc.freeze()
    gc.enable()


SUPERVISOR_PID = "PACKYARD_SUPERVISOR_PID"  # set by ``packyard serve`` for its workers


def app_from_environment() -> ASGIApp:
    """The app for one worker process, configured from PACKYARD_* variables (``--workers``)."""
    from packyard.data_dir import restrict_new_files
    from packyard.server import fence
    from packyard.server.log_context import configure_logging
    from packyard.settings import load_settings

    _end_with_supervisor()
    restrict_new_files()
    fence.install()
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        app = behind_proxies(create_app(settings), settings)
    except Exception:
        if settings.log_format != "json":
            raise
        # multiprocessing would write the traceback to standard error itself, in text, past
        # the log's formatter (and again each time uvicorn starts the worker anew).
        logging.getLogger("packyard.serve").critical("a worker process could not start",
                                                     exc_info=True)
        raise SystemExit(1) from None
    freeze_startup_objects()
    return app


def _end_with_supervisor() -> None:
    """Stop this worker (gracefully: SIGTERM, as ``packyard serve`` stops it) when the process
    that started it dies. Killed with -9 (or by the OOM killer), the supervisor cannot stop its
    workers: they went on serving the port, orphaned, and a restart found it in use."""
    import signal

    from packyard.libc import set_parent_death_signal

    expected = os.environ.get(SUPERVISOR_PID, "")
    if not expected.isdigit() or not set_parent_death_signal(signal.SIGTERM):
        return
    if os.getppid() != int(expected):  # it died before the kernel was asked
        os.kill(os.getpid(), signal.SIGTERM)
