"""A static PEP 503 / PEP 691 simple index on disk, for nginx to serve as the physical limit.

Layout: simple/index.html (+ index.json) lists projects; simple/NAME/index.html (+ index.json)
lists files, which sit beside the page as simple/NAME/FILENAME. Files are hard links to the
corpus (the very same bytes), copied only where a hard link is impossible.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from corpus import parse_filename

_JSON_META = {"api-version": "1.0"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _place(source: Path, target: Path) -> None:
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def project_page_html(project: str, files: list[tuple[str, str]]) -> str:
    """Render a PEP 503 project page: one anchor per (filename, sha256)."""
    anchors = "\n".join(
        f'    <a href="{html.escape(name)}#sha256={digest}">{html.escape(name)}</a><br/>'
        for name, digest in files
    )
    return (
        "<!DOCTYPE html>\n<html>\n  <head><title>Links for "
        f"{html.escape(project)}</title></head>\n  <body>\n    <h1>Links for {html.escape(project)}</h1>\n"
        f"{anchors}\n  </body>\n</html>\n"
    )


def project_page_json(project: str, files: list[tuple[str, str]]) -> str:
    """Render a PEP 691 project page with relative file URLs (allowed by PEP 691)."""
    return json.dumps(
        {
            "meta": _JSON_META,
            "name": project,
            "files": [
                {"filename": name, "url": name, "hashes": {"sha256": digest}}
                for name, digest in files
            ],
        }
    )


def write_project(root: Path, project: str, files: Iterable[tuple[str, bytes | Path]]) -> None:
    """Write one project's page and files under root/simple/PROJECT/."""
    folder = root / "simple" / project
    folder.mkdir(parents=True, exist_ok=True)
    listed: list[tuple[str, str]] = []
    for filename, content in files:
        if isinstance(content, Path):
            _place(content, folder / filename)
            listed.append((filename, _sha256(content)))
        else:
            (folder / filename).write_bytes(content)
            listed.append((filename, hashlib.sha256(content).hexdigest()))
    listed.sort()
    (folder / "index.html").write_text(project_page_html(project, listed))
    (folder / "index.json").write_text(project_page_json(project, listed))


def write_root(root: Path) -> None:
    """(Re)write the project list from the project folders present."""
    simple = root / "simple"
    projects = sorted(entry.name for entry in os.scandir(simple) if entry.is_dir())
    anchors = "\n".join(f'    <a href="{name}/">{name}</a><br/>' for name in projects)
    (simple / "index.html").write_text(
        f"<!DOCTYPE html>\n<html>\n  <body>\n{anchors}\n  </body>\n</html>\n"
    )
    (simple / "index.json").write_text(
        json.dumps({"meta": _JSON_META, "projects": [{"name": name} for name in projects]})
    )


def write_index(root: Path, paths: Iterable[Path]) -> None:
    """Lay out `paths` (corpus files) as a simple index under `root`."""
    by_project: dict[str, list[tuple[str, bytes | Path]]] = {}
    for path in paths:
        project, _ = parse_filename(path.name)
        by_project.setdefault(project, []).append((path.name, path))
    for project, files in by_project.items():
        write_project(root, project, files)
    write_root(root)
