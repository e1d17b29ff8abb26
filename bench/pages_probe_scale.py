"""First reads of never-served pages at N projects, before and after, on copies of one database.

A probe for issue 16 item 1 (not part of `bench/run`). Importing 100,000 projects through
`packyard import` takes over an hour on a busy 2-core machine, so the projects are written
with the catalog's bulk path directly (`publish_many`, one-wheel projects, no blobs: pages only)
by the *before* code into a fresh server's database; the *after* server gets a copy, migrated
and with every page rendered as its writes would have rendered them (`render_pages`). Both
serve at once; each round reads `READS` pages never read before, alternating between the
servers request by request, 3 s after the last round (past every cache window).

    python bench/pages_probe_scale.py --base-src /tmp/main-src --projects 100000 \
        [--env PACKYARD_AUDIT_LOG=off]

`--base-src` is a source tree of the *before* commit (`git archive COMMIT packyard | tar -x`);
it runs with this interpreter (the same dependencies). Prints p50/p90 latency and the
server's CPU per first read (from /proc), per round.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pages_probe import Instance, _first_reads, _p  # noqa: E402

HERE = Path(__file__).resolve()
CHECKOUT = HERE.parent.parent


def build(db: str, count: int) -> None:
    """Fill the stopped server's database with ``count`` one-wheel projects (any version)."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from packyard.formats.pypi import attributes
    from packyard.metadata.catalog import NewAsset, NewFile, NewVersion, SqlCatalog

    catalog = SqlCatalog(f"sqlite:///{db}")
    with catalog.engines[0].connect() as conn:
        owner = conn.execute(text("SELECT owner FROM domains WHERE name = 'bench'")).scalar_one()
    repository = catalog.get_repository(catalog.get_domain(owner, "bench"), "corpus")
    version = NewVersion(version="1.0.0", version_key="1.0.0", summary="s", home_page=None,
                         source_code_repository=None, licenses=[], readme=None,
                         readme_content_type=None, dependencies=[])
    for start in range(0, count, 1000):
        files = []
        for i in range(start, min(count, start + 1000)):
            sha = f"{i:064x}"
            files.append(NewFile(f"bench-scale-{i:06d}", f"bench-scale-{i:06d}", version, NewAsset(
                name=f"bench_scale_{i:06d}-1.0.0-py3-none-any.whl", size=700, sha256=sha,
                sha512="0" * 128, sha1="0" * 40, md5="0" * 32,
                attributes=attributes.file_attributes(
                    blake2_256=None, requires_python=">=3.8",
                    metadata_sha256=f"{i + 10**7:064x}", metadata_size=200)), {sha: 700}))
        catalog.publish_many(repository, "pypi", "", files, datetime.now(UTC))


def render(db: str) -> None:
    """Migrate the copy and render every package's pages (this checkout's code)."""
    from sqlalchemy import text

    from packyard.formats.pypi.stored_pages import render_stored_pages
    from packyard.metadata.catalog import SqlCatalog

    catalog = SqlCatalog(f"sqlite:///{db}", page_renderers={"pypi": render_stored_pages})
    catalog.migrate()
    with catalog.engines[0].connect() as conn:
        ids = [row[0] for row in conn.execute(text("SELECT id FROM packages"))]
    for start in range(0, len(ids), 1000):
        catalog.render_pages(ids[start:start + 1000])


def _run(step: str, src: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(HERE), step, *args], check=True, cwd="/",
                   env={**os.environ, "PYTHONPATH": str(src)})


def main() -> int:
    if sys.argv[1:2] == ["build"]:
        build(sys.argv[2], int(sys.argv[3]))
        return 0
    if sys.argv[1:2] == ["render"]:
        render(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-src", type=Path, required=True)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args()
    env = dict(spec.split("=", 1) for spec in args.env)
    work = Path(tempfile.mkdtemp(prefix="first-reads-scale-"))
    launcher = work / "packyard-base"
    launcher.write_text(f"#!/bin/sh\nPYTHONPATH={args.base_src} exec {sys.executable} -c "
                        "'import sys; from packyard.cli import main; sys.exit(main())' \"$@\"\n")
    launcher.chmod(0o755)
    base = Instance("before", str(launcher), work / "before", env=env)
    after = Instance("after", str(Path(sys.executable).parent / "packyard"), work / "after",
                     env=env)
    after.access_key, after.secret_key = base.access_key, base.secret_key
    try:
        base.root.mkdir(parents=True)
        after.root.mkdir(parents=True)
        base.start()
        base.stop()
        started = time.monotonic()
        _run("build", args.base_src, str(base.data / "packyard.db"), str(args.projects))
        print(f"built {args.projects:,} projects in {time.monotonic() - started:.0f}s",
              file=sys.stderr)
        shutil.copytree(base.data, after.data)
        started = time.monotonic()
        _run("render", CHECKOUT, str(after.data / "packyard.db"))
        print(f"rendered their pages in {time.monotonic() - started:.0f}s", file=sys.stderr)
        for instance in (base, after):
            instance.start(create=False)
        sample = random.Random(16).sample(range(args.projects), args.reads * args.rounds)
        got: dict[str, list[float]] = {"before": [], "after": [], "before-cpu": [],
                                       "after-cpu": []}
        for r in range(args.rounds):
            time.sleep(3)
            chosen = sample[r * args.reads:(r + 1) * args.reads]
            timings = _first_reads([base, after],
                                   [f"simple/bench-scale-{i:06d}/" for i in chosen])
            for key, values in timings.items():
                got[key] += values
        for label in ("before", "after"):
            cpu = got[f"{label}-cpu"]
            print(f"{args.projects:,} projects, {label}: first page p50 {_p(got[label], 50):.2f} "
                  f"ms, p90 {_p(got[label], 90):.2f} ms ({len(got[label])} reads); server CPU "
                  f"per read {statistics.median(cpu):.2f} ms (rounds "
                  f"{', '.join(f'{x:.2f}' for x in cpu)})")
        print(f"after ÷ before, p50: {_p(got['after'], 50) / _p(got['before'], 50):.2f}")
    finally:
        base.stop()
        after.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
