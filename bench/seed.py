"""Fill a repository with many tiny projects through the server's normal upload endpoint.

twine uploads one file at a time, which would take hours for 100,000 projects; this sends the
same legacy-API form (the fields twine sends) from several connections at once, and stops at a
deadline so a slow server cannot stall the whole run.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import httpx
from corpus import scale_wheel


@dataclass(frozen=True)
class UploadTarget:
    """Where and as whom to upload (HTTP Basic auth)."""

    url: str
    username: str
    password: str


@dataclass(frozen=True)
class SeedResult:
    """How many projects were uploaded and how long it took."""

    uploaded: int
    seconds: float
    finished: bool

    @property
    def per_second(self) -> float:
        return self.uploaded / self.seconds if self.seconds else 0.0


def upload_form(filename: str, content: bytes) -> dict[str, str]:
    """Return the legacy upload API form fields for a wheel, as twine fills them."""
    name, version = filename.split("-")[:2]
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name.replace("_", "-"),
        "version": version,
        "summary": "Packyard benchmark corpus package",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "requires_python": ">=3.8",
        "md5_digest": hashlib.md5(content).hexdigest(),
        "sha256_digest": hashlib.sha256(content).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(content, digest_size=32).hexdigest(),
    }


async def _seed(
    target: UploadTarget,
    prefix: str,
    start: int,
    stop: int,
    concurrency: int,
    deadline: float,
    probe_seconds: float,
) -> int:
    next_index = start
    uploaded = 0
    first_error: list[str] = []
    started = time.monotonic()

    def hopeless() -> bool:
        # After a probe period, stop when the rate so far cannot finish before the deadline:
        # waiting out the whole budget would only burn minutes of the run.
        elapsed = time.monotonic() - started
        if elapsed < probe_seconds or uploaded == 0:
            return False
        return (stop - start) / (uploaded / elapsed) > deadline - started

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, uploaded
        while (
            next_index < stop and time.monotonic() < deadline and not first_error and not hopeless()
        ):
            index = next_index
            next_index += 1
            filename, content = scale_wheel(prefix, index)
            response = await client.post(
                target.url,
                data=upload_form(filename, content),
                files={"content": (filename, content, "application/octet-stream")},
            )
            if response.status_code >= 300:
                first_error.append(
                    f"HTTP {response.status_code} for {filename}: {response.text[:300]}"
                )
                return
            uploaded += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        auth=(target.username, target.password), limits=limits, timeout=60
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    if first_error:
        raise RuntimeError(f"seeding upload failed: {first_error[0]}")
    return uploaded


def seed_projects(
    target: UploadTarget,
    prefix: str,
    start: int,
    stop: int,
    concurrency: int = 8,
    budget_seconds: float = 600,
    probe_seconds: float = 20,
) -> SeedResult:
    """Upload projects `prefix`-START … `prefix`-(STOP-1) within `budget_seconds`.

    Gives up early, after `probe_seconds`, when the rate so far cannot make it in time.
    """
    started = time.monotonic()
    uploaded = asyncio.run(
        _seed(target, prefix, start, stop, concurrency, started + budget_seconds, probe_seconds)
    )
    return SeedResult(
        uploaded=uploaded, seconds=time.monotonic() - started, finished=start + uploaded >= stop
    )
