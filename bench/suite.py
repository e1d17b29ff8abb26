"""The figures, run the same way against one server: load, check, measure, record.

A figure that fails is recorded with the reason and the suite goes on, so one broken server
path shows up in the table instead of hiding every other number.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import statistics
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import load
from corpus import (
    BIG_PROJECT,
    PAGE_PROJECT,
    SMALL_PROJECT,
    Corpus,
    WheelSpec,
    build_huge_wheel,
    huge_wheel_path,
    wheel_bytes,
)
from envs import clean_client_venv, uv_binary
from procs import run_checked
from results import Figure, ServerResult
from rss import track_peak, tree_rss_kib
from seed import seed_projects
from servers import Server

HTML = "text/html"
PEP691_JSON = "application/vnd.pypi.simple.v1+json"
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Options:
    """Knobs of one run (quick and full mode differ only here)."""

    shape: load.LoadShape
    big_connections: int
    install_count: int
    scales: tuple[int, ...]
    scale_upload_count: int
    seed_concurrency: int
    seed_budget_seconds: float
    scale_upload_budget_seconds: float
    client_timeout_seconds: float
    huge_upload_bytes: int = 0
    huge_upload_budget_seconds: float = 600


class Suite:
    """Runs every figure against one started server and fills a ServerResult."""

    def __init__(
        self,
        server: Server,
        corpus: Corpus,
        options: Options,
        script: Path,
        log: Callable[[str], None],
    ) -> None:
        self.server = server
        self.corpus = corpus
        self.options = options
        self.script = script
        self.log = log
        self.result = ServerResult(name=server.name)
        self.client_venv = server.ctx.work / "venvs" / "client"
        self.huge_uploaded_bytes = 0

    # --- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _figure(self, figures: list[Figure]) -> Iterator[list[Figure]]:
        """Record the peak RSS for `figures`, and turn a failure into a note on each of them."""
        for figure in figures:
            self.result.add(figure)
        self.log(f"  {self.server.name}: {figures[0].label.removesuffix(': requests/s')}")
        try:
            with track_peak(self.server.pid) as peak:
                yield figures
            for figure in figures:
                figure.rss_mib = peak.mib
        except (
            RuntimeError,
            load.LoadFailed,
            urllib.error.URLError,
            OSError,
            AssertionError,
        ) as error:
            message = (
                str(error).strip().splitlines()[0][:300]
                if str(error).strip()
                else type(error).__name__
            )
            self.log(f"  {self.server.name}: {figures[0].label}: FAILED: {message}")
            for figure in figures:
                figure.value = None
                figure.note = f"failed: {message}"
            self.result.notes.append(f"{figures[0].label}: {str(error)[:1500]}")

    def _not_applicable(self, figures: list[Figure], why: str) -> None:
        for figure in figures:
            figure.note = f"n/a: {why}"
            self.result.add(figure)

    def _get(self, url: str, accept: str) -> tuple[int, str, bytes, str]:
        """GET with the server's read headers; return (status, content type, body, final URL)."""
        request = urllib.request.Request(
            url, headers={**self.server.read_headers(), "Accept": accept}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return (
                    response.status,
                    response.headers.get("Content-Type", ""),
                    response.read(),
                    response.url,
                )
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read(), url

    def _file_urls(self, project: str) -> dict[str, str]:
        """Read a project's HTML page and return {filename: absolute URL} of its files."""
        page = self.server.page_url(project)
        status, _, body, final = self._get(page, HTML)
        if status != 200:
            raise RuntimeError(f"GET {page} answered HTTP {status}: {body[:200]!r}")
        urls: dict[str, str] = {}
        for href in re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace")):
            absolute = urllib.parse.urljoin(final, href.replace("&amp;", "&")).split("#", 1)[0]
            urls[urllib.parse.unquote(absolute.rstrip("/").rsplit("/", 1)[-1])] = absolute
        return urls

    def _twine(self, files: list[Path], timeout_seconds: float | None = None) -> float:
        """Upload `files` with twine's upload command; return the seconds the uploads took."""
        target = self.server.upload_target()
        assert target is not None
        done = run_checked(
            [
                sys.executable,
                str(_HERE / "twine_timed.py"),
                target.url,
                target.username,
                *map(str, files),
            ],
            timeout_seconds or self.options.client_timeout_seconds,
            env={"TWINE_PASSWORD": target.password},
            what=f"twine upload to {self.server.name}",
        )
        seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        return seconds

    # --- figures ----------------------------------------------------------------------------

    def run(self) -> ServerResult:
        started = time.monotonic()
        self.result.version = self.server.version
        self.load_corpus()
        urls = self.check_pages()
        self.measure_pages()
        self.measure_downloads(urls)
        self.measure_installs()
        self.measure_scale()
        self.measure_huge_upload()
        self.result.seconds = round(time.monotonic() - started, 1)
        return self.result

    def load_corpus(self) -> None:
        hosted = self.corpus.hosted_files()
        big_label = f"twine upload, {self.corpus.big.stat().st_size / 2**20:.0f} MiB wheel"
        upload_label = f"twine upload, {len(self.corpus.uploads)} small projects"
        big = Figure("upload_big_mbps", big_label, "MB/s", True)
        many = Figure("upload_files_per_s", upload_label, "files/s", True)
        if self.server.upload_target() is None:
            self.server.place_files([*hosted, self.corpus.big])
            self._not_applicable([big, many], "serves files it does not host (no uploads)")
            return
        self.log(f"  {self.server.name}: uploading the corpus ({len(hosted)} files) with twine")
        seconds = self._twine(hosted)
        self.result.notes.append(f"corpus load: {len(hosted)} files in {seconds:.1f}s with twine")
        with self._figure([big]):
            seconds = self._twine([self.corpus.big])
            big.value = self.corpus.big.stat().st_size / seconds / 1e6
        with self._figure([many]):
            seconds = self._twine(self.corpus.uploads)
            many.value = len(self.corpus.uploads) / seconds

    def check_pages(self) -> dict[str, str]:
        """Fail early, with the reason, if the server does not list what was loaded."""
        urls = self._file_urls(PAGE_PROJECT)
        missing = [p.name for p in self.corpus.page if p.name not in urls]
        if missing:
            raise RuntimeError(f"the {PAGE_PROJECT} page lacks {missing}")
        urls.update(self._file_urls(SMALL_PROJECT))
        urls.update(self._file_urls(BIG_PROJECT))
        return urls

    @staticmethod
    def _wrk_group(key: str, label: str) -> list[Figure]:
        """The three figures one wrk run gives: requests/s, latency p50 and p99."""
        return [
            Figure(f"{key}_rps", f"{label}: requests/s", "req/s", True),
            Figure(f"{key}_p50_ms", f"{label}: latency p50", "ms", False),
            Figure(f"{key}_p99_ms", f"{label}: latency p99", "ms", False),
        ]

    def _wrk_figures(
        self, figures: list[Figure], url: str, headers: dict[str, str], min_bytes: int
    ) -> None:
        rps, p50, p99 = figures
        with self._figure(figures):
            measured = load.measure(url, headers, self.options.shape, self.script, min_bytes)
            rps.value, p50.value, p99.value = (
                measured.requests_per_second,
                measured.p50_ms,
                measured.p99_ms,
            )

    def measure_pages(
        self,
        key_prefix: str = "page",
        label_prefix: str = "",
        accepts: tuple[tuple[str, str, str], ...] = (
            (HTML, "html", "HTML"),
            (PEP691_JSON, "json", "PEP 691 JSON"),
        ),
    ) -> None:
        page = self.server.page_url(PAGE_PROJECT)
        files = len(self.corpus.page)
        for accept, key, label in accepts:
            status, content_type, body, _ = self._get(page, accept)
            figure_key = f"{key_prefix}_{key}"
            figure_label = f"{label_prefix}{files}-file project page, {label}"
            figures = self._wrk_group(figure_key, figure_label)
            if status != 200:
                self._not_applicable(figures, f"HTTP {status}")
                continue
            if accept == PEP691_JSON and not content_type.startswith(PEP691_JSON):
                self._not_applicable(
                    figures, f"no PEP 691 JSON (answers {content_type or 'no content type'})"
                )
                continue
            headers = {**self.server.read_headers(), "Accept": accept}
            self._wrk_figures(figures, page, headers, int(len(body) * 0.9))

    def measure_downloads(self, urls: dict[str, str]) -> None:
        headers = self.server.read_headers()
        small_url = urls[self.corpus.small.name]
        size = self.corpus.small.stat().st_size
        self._prime(small_url, size)
        self._wrk_figures(
            self._wrk_group("small", f"{size / 1024:.0f} KiB wheel download"),
            small_url,
            headers,
            size,
        )
        big_url = urls[self.corpus.big.name]
        big_size = self.corpus.big.stat().st_size
        self._prime(big_url, big_size)
        figure = Figure("big_mbps", f"{big_size / 2**20:.0f} MiB wheel download", "MB/s", True)
        shape = self.options.shape
        big_shape = load.LoadShape(
            threads=min(shape.threads, self.options.big_connections),
            connections=self.options.big_connections,
            seconds=shape.seconds,
            warmup_seconds=shape.warmup_seconds,
            timeout_seconds=shape.timeout_seconds,
        )
        with self._figure([figure]):
            measured = load.measure(big_url, headers, big_shape, self.script, big_size)
            figure.value = measured.megabytes_per_second
        # 4 KiB from the middle of the big wheel, as uv's and pip's range reads ask: with
        # encryption on, one stream header and one 64 KiB segment read and decrypted.
        start = big_size // 2
        self._wrk_figures(
            self._wrk_group("range_4k", f"4 KiB range read of the {big_size / 2**20:.0f} MiB wheel"),
            big_url,
            {**headers, "Range": f"bytes={start}-{start + 4095}"},
            4096,
        )

    def _prime(self, url: str, size: int) -> None:
        """Fetch a file once (fills a pull-through cache) and check it comes back whole, directly."""
        request = urllib.request.Request(url, headers=self.server.read_headers())
        with urllib.request.urlopen(request, timeout=300) as response:
            received = 0
            while chunk := response.read(1 << 20):
                received += len(chunk)
            if response.url != url:
                self.result.notes.append(
                    f"{url} redirects to {response.url}; wrk measures the first hop"
                )
        if received != size:
            raise RuntimeError(f"GET {url} returned {received} bytes, expected {size}")

    def measure_installs(self) -> None:
        names = self.corpus.install_names[: self.options.install_count]
        index = self.server.index_url_for_clients()
        work = self.server.run_dir / "clients"
        uv = uv_binary()
        for tool in ("pip", "uv"):
            cache = work / f"{tool}-cache"
            shutil.rmtree(cache, ignore_errors=True)
            for temperature in ("cold", "warm"):
                figure = Figure(
                    f"{tool}_{temperature}_s",
                    f"{tool} install of {len(names)} packages, {temperature} client cache",
                    "s",
                    False,
                )
                venv = clean_client_venv(self.client_venv)
                if tool == "pip":
                    argv = [
                        str(venv.python),
                        "-m",
                        "pip",
                        "install",
                        "--disable-pip-version-check",
                        "--no-input",
                        "--quiet",
                        "--cache-dir",
                        str(cache),
                        "--index-url",
                        index,
                        *names,
                    ]
                    env = {"PIP_CONFIG_FILE": os.devnull}
                else:
                    argv = [
                        uv,
                        "pip",
                        "install",
                        "--quiet",
                        "--python",
                        str(venv.python),
                        "--cache-dir",
                        str(cache),
                        "--index-url",
                        index,
                        *names,
                    ]
                    env = {"UV_NO_CONFIG": "1"}
                prefix = "PIP_" if tool == "pip" else "UV_"
                with self._figure([figure]):
                    started = time.perf_counter()
                    run_checked(
                        argv,
                        self.options.client_timeout_seconds,
                        env=env,
                        what=f"{tool} install",
                        drop_env_prefix=prefix,
                    )
                    figure.value = time.perf_counter() - started

    def measure_scale(self) -> None:
        """Page and upload figures with the repository holding more and more projects; then
        the smallest and largest scale side by side (`measure_scale_pair`)."""
        seeded = 0
        rate: float | None = None
        unreached = ""
        copied: int | None = None  # the scale whose data was copied for the side-by-side run
        reached: int | None = None
        for count in self.options.scales:
            label = f"at {count:,} projects: "
            key = f"scale{count}"
            page_figures = self._wrk_group(
                f"{key}_page_html", f"{label}{len(self.corpus.page)}-file project page, HTML"
            )
            upload = Figure(
                f"{key}_upload_files_per_s",
                f"{label}twine upload, {self.options.scale_upload_count} projects",
                "files/s",
                True,
            )
            if self.server.upload_target() is None and self.server.name != "nginx":
                self._not_applicable([*page_figures, upload], "hosts no repository of its own")
                continue
            if unreached:
                self._not_applicable([*page_figures, upload], unreached)
                continue
            seeded, rate, how = self._seed(seeded, count, rate)
            if seeded < count:
                self._not_applicable([*page_figures, upload], how)
                unreached = f"the repository never reached {count:,} projects"
                continue
            self.result.notes.append(f"{count:,} projects: {how}")
            self.measure_pages(
                key_prefix=f"{key}_page", label_prefix=label, accepts=((HTML, "html", "HTML"),)
            )
            reached = count
            if copied is None and len(self.options.scales) > 1:
                # Before the upload figure adds its projects: the copy holds exactly `count`.
                copied = count if self.server.copy_data(f"scale{count}") else None
            if self.server.upload_target() is None:
                self._not_applicable([upload], "takes no uploads")
                continue
            self.result.add(upload)
            files = self._scale_upload_files(count)
            budget = self.options.scale_upload_budget_seconds
            with self._figure([upload]):
                try:
                    upload.value = len(files) / self._twine(files, timeout_seconds=budget)
                except TimeoutError:
                    upload.note = f"n/a: slower than {len(files) / budget:.2f} files/s (gave up after {budget:.0f}s)"
        if len(self.options.scales) > 1:
            self.measure_scale_pair(copied, reached)

    def measure_scale_pair(self, small: int | None, large: int | None) -> None:
        """The page at the smallest and the largest scale, measured side by side.

        The scale figures above are taken minutes apart, and on a shared machine the load of
        the moment can move them more than the repository's size does. Here a twin server runs
        on a copy of the data taken at the smallest scale, next to the server at the largest,
        and wrk alternates between them (ABBA order), so both see the same moments. The
        figure is the median of the per-round ratios: how many times slower the page is at the
        larger scale.
        """
        first, last = self.options.scales[0], self.options.scales[-1]
        label = f"side by side, {last:,} vs {first:,} projects: page"
        slowdown = Figure("scale_pair_page_slowdown", f"{label} req/s slowdown", "×", False)
        p50 = Figure("scale_pair_page_p50_slowdown", f"{label} p50 latency ratio", "×", False)
        if small is None or large != last:
            why = (
                f"the repository never reached {last:,} projects"
                if large != last
                else "no copy of its data at the first scale (the bench makes one for Packyard)"
            )
            self._not_applicable([slowdown, p50], why)
            return
        twin = self.server.start_twin(f"scale{small}")
        if twin is None:
            self._not_applicable([slowdown, p50], "cannot start a second instance")
            return
        shape = dataclasses.replace(
            self.options.shape, seconds=min(self.options.shape.seconds, 5.0)
        )
        rounds = 4
        rps_ratios: list[float] = []
        p50_ratios: list[float] = []
        try:
            with self._figure([slowdown, p50]):
                targets = {"small": twin, "large": self.server}
                for round_number in range(rounds):
                    order = ("small", "large") if round_number % 2 == 0 else ("large", "small")
                    measured: dict[str, load.LoadResult] = {}
                    for which in order:
                        server = targets[which]
                        measured[which] = load.measure(
                            server.page_url(PAGE_PROJECT),
                            {**server.read_headers(), "Accept": HTML},
                            shape,
                            self.script,
                            1,
                        )
                    rps_ratios.append(
                        measured["small"].requests_per_second
                        / measured["large"].requests_per_second
                    )
                    p50_ratios.append(measured["large"].p50_ms / measured["small"].p50_ms)
                slowdown.value = statistics.median(rps_ratios)
                p50.value = statistics.median(p50_ratios)
        finally:
            twin.stop()
            shutil.rmtree(self.server.twin_run_dir(f"scale{small}"), ignore_errors=True)
        self.result.notes.append(
            f"{label}: {rounds} interleaved rounds of {shape.seconds:g}s, req/s slowdown per "
            f"round {', '.join(f'{r:.2f}' for r in rps_ratios)}; p50 ratio "
            f"{', '.join(f'{r:.2f}' for r in p50_ratios)}"
        )

    def measure_huge_upload(self) -> None:
        """RSS growth (and MB/s) while twine uploads one huge wheel: does memory stay flat?

        Measured last, so the huge file never sits in a server's storage during other figures;
        `remove_huge_copies` deletes it from the server's data once the server has stopped.
        """
        size = self.options.huge_upload_bytes
        if not size:
            return
        label = f"twine upload, {size / 2**20:.0f} MiB wheel"
        growth = Figure("huge_upload_rss_growth_mib", f"{label}: RSS growth", "MiB", False)
        speed = Figure("huge_upload_mbps", label, "MB/s", True)
        if self.server.upload_target() is None:
            self._not_applicable([growth, speed], "takes no uploads")
            return
        work = self.server.ctx.work
        cached = huge_wheel_path(work, size).exists()
        # The corpus copy, the server's copy, and as much again for a server's temporary files.
        free = shutil.disk_usage(work).free + (size if cached else 0)
        if free < 3 * size:
            self._not_applicable(
                [growth, speed],
                f"not enough disk ({free / 2**30:.1f} GiB free, {3 * size / 2**30:.1f} GiB needed)",
            )
            return
        if not cached:
            self.log(f"  {self.server.name}: writing the {size / 2**20:.0f} MiB wheel (once)")
        wheel = build_huge_wheel(work, size)
        self.huge_uploaded_bytes = size
        budget = self.options.huge_upload_budget_seconds
        # Just before the upload: the server is warm (it took the corpus and every other figure).
        before = round(tree_rss_kib(self.server.pid) / 1024, 1)
        growth.rss_before_mib = speed.rss_before_mib = before
        timed_out = False
        with self._figure([growth, speed]):
            try:
                seconds = self._twine([wheel], timeout_seconds=budget)
            except TimeoutError:
                timed_out = True
            else:
                speed.value = wheel.stat().st_size / seconds / 1e6
        if speed.rss_mib is None:  # the upload failed; _figure noted why
            return
        # Both readings behind the peak start at the RSS of the moment, so a drop is only noise.
        rise = round(max(0.0, speed.rss_mib - before), 1)
        if timed_out:
            speed.note = (
                f"n/a: slower than {size / budget / 1e6:.1f} MB/s (gave up after {budget:.0f}s)"
            )
            growth.note = f"{speed.note}; RSS grew {rise:.0f} MiB until then"
        else:
            growth.value = rise
        self.result.notes.append(
            f"{label}: RSS {before:.1f} -> {speed.rss_mib:.1f} MiB (+{rise:.1f})"
            + ("" if speed.value is None else f", {speed.value:.0f} MB/s")
        )

    def remove_huge_copies(self) -> int:
        """Delete the huge upload (whole or partial) from the stopped server's data folder.

        Every file of at least half the huge wheel's size goes: whatever each server does with
        an upload, a run leaves no gigabytes behind. Files under 64 MiB stay (a small "huge"
        size must not take the server's database with it). Returns the bytes freed.
        """
        size = self.huge_uploaded_bytes
        freed = 0
        if not size or not self.server.run_dir.exists():
            return freed
        threshold = max(size // 2, 64 << 20)
        for path in self.server.run_dir.rglob("*"):
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_size >= threshold:
                    freed += path.stat().st_size
                    path.unlink()
            except OSError:
                continue
        return freed

    def _scale_upload_files(self, count: int) -> list[Path]:
        folder = self.server.run_dir / f"scale-upload-{count}"
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for index in range(self.options.scale_upload_count):
            spec = WheelSpec(f"bench-scale-up-{count}-{index:04d}", "1.0.0", payload_bytes=256)
            path = folder / spec.filename
            path.write_bytes(wheel_bytes(spec))
            files.append(path)
        return files

    def _seed(self, have: int, want: int, rate: float | None) -> tuple[int, float | None, str]:
        """Bring the scale series from `have` to `want` projects.

        Uploads in parallel while the server keeps up with the budget; a server whose storage is
        a plain folder (pypiserver, nginx) gets the rest written there. Returns the count reached,
        the upload rate seen, and how it went (the note for the table).
        """
        need = want - have
        budget = self.options.seed_budget_seconds
        target = self.server.upload_target()
        self.log(f"  {self.server.name}: seeding {need:,} projects (to {want:,})")
        how = ""
        if target is not None and (rate is None or need / rate <= budget):
            result = seed_projects(
                target, "bench-scale", have, want, self.options.seed_concurrency, budget
            )
            have += result.uploaded
            rate = result.per_second
            if result.finished:
                return have, rate, f"seeded by parallel uploads ({rate:.0f}/s)"
            how = (
                f"upload seeding stopped at {have:,} after {result.seconds:.0f}s ({rate:.1f} uploads/s; "
                f"{need:,} would take ~{need / max(rate, 1e-9) / 60:.0f} min, budget {budget:.0f}s)"
            )
        elif target is not None and rate is not None:
            how = (
                f"uploading {need:,} more at {rate:.1f}/s would take ~{need / rate / 60:.0f} min, "
                f"over the {budget:.0f}s budget"
            )
        started = time.monotonic()
        if self.server.place_scale_projects("bench-scale", have, want):
            written = (
                f"written into the server's storage folder in {time.monotonic() - started:.0f}s"
            )
            return want, rate, f"{how}; rest {written}" if how else written
        return have, rate, f"{how}; no bulk path" if how else "no upload or bulk path"


def run_suite(
    server: Server, corpus: Corpus, options: Options, script: Path, log: Callable[[str], None]
) -> ServerResult:
    """Start `server`, run every figure, stop it; errors end up in the result, not raised."""
    suite = Suite(server, corpus, options, script, log)
    try:
        server.start()
        suite.run()
    except Exception as error:
        suite.result.error = f"{type(error).__name__}: {error}"
        suite.result.notes.append(traceback.format_exc(limit=4))
        log(f"  {server.name}: stopped early: {suite.result.error.splitlines()[0][:300]}")
    finally:
        server.stop()
        freed = suite.remove_huge_copies()
        if freed:
            suite.result.notes.append(
                f"removed {freed / 2**20:.0f} MiB of huge-upload copies from the server's data"
            )
    suite.result.version = server.version
    suite.result.notes.extend(server.notes)
    return suite.result
