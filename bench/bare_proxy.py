"""The least a pull-through can do, on the stack Packyard is built on: ``bench/upstream.py``'s
``bare`` server, the floor its cold and warm figures are read against.

Starlette on uvicorn, one shared httpx client; no authorization, no verification against the
index's digests, no encryption, no records, no merged pages. A project page is fetched from the
upstream on every read (its links rewritten to point here); a file is fetched once, hashed
(sha256, as any cache that verifies does at least), written to a file under ``BARE_DATA`` and
answered from there ever after.

    BARE_UPSTREAM=http://127.0.0.1:8000/simple/ BARE_DATA=/tmp/bare \\
        python -m uvicorn --app-dir bench bare_proxy:app --port 8001

Pages: ``/index/<project>/``; files: ``/files/<hex of the upstream folder>/<filename>``.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

UPSTREAM = os.environ.get("BARE_UPSTREAM", "http://127.0.0.1:8000/simple/").rstrip("/") + "/"
DATA = Path(os.environ.get("BARE_DATA", "bare-data"))
_HREF = re.compile(r'href="([^"]+)"')
_client = httpx.AsyncClient(timeout=300)


def _local_link(page_url: str, found: re.Match[str]) -> str:
    target, _, fragment = urllib.parse.urljoin(page_url, found.group(1)).partition("#")
    folder, _, filename = target.rpartition("/")
    return (f'href="/files/{folder.encode().hex()}/{filename}'
            f'{"#" + fragment if fragment else ""}"')


async def page(request: Request) -> Response:
    url = f"{UPSTREAM}{request.path_params['project']}/"
    upstream = await _client.get(url)
    if upstream.status_code != 200:
        return Response(status_code=upstream.status_code)
    return HTMLResponse(_HREF.sub(lambda found: _local_link(url, found), upstream.text))


async def file(request: Request) -> Response:
    url = (bytes.fromhex(request.path_params["folder"]).decode() + "/"
           + request.path_params["filename"])
    kept = DATA / hashlib.sha256(url.encode()).hexdigest()
    if kept.exists():
        return Response(kept.read_bytes(), media_type="application/octet-stream")
    upstream = await _client.get(url)
    if upstream.status_code != 200:
        return Response(status_code=upstream.status_code)
    body = upstream.content
    hashlib.sha256(body).hexdigest()
    partial = kept.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(body)
    partial.replace(kept)
    return Response(body, media_type="application/octet-stream")


async def health(request: Request) -> Response:
    return Response("ok")


DATA.mkdir(parents=True, exist_ok=True)
app = Starlette(routes=[Route("/health", health), Route("/index/{project}/", page),
                        Route("/files/{folder}/{filename}", file)])
