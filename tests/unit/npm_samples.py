"""Samples for the npm unit tests: the real fixtures, and builders of tarballs and publish bodies.

The fixtures under ``data/npm/`` were made by the real clients (see its README); the builders
make the hostile variants, so each test says exactly which bytes it feeds to the code.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "npm"

DEMO_LIB_TGZ = DATA / "demo-lib-1.0.0.tgz"
ACME_UTIL_TGZ = DATA / "acme-util-1.0.0.tgz"
NPM11_DEMO_LIB_BODY = DATA / "publish-npm11-demo-lib.json"
NPM11_ACME_UTIL_BODY = DATA / "publish-npm11-acme-util.json"
YARN4_ACME_UTIL_BODY = DATA / "publish-yarn4-acme-util.json"

DEMO_LIB_MANIFEST: dict[str, Any] = {
    "name": "demo-lib",
    "version": "1.0.0",
    "description": "A tiny library for Packyard's tests",
    "keywords": ["demo", "packyard-test"],
    "homepage": "https://example.com/demo-lib",
    "repository": {"type": "git", "url": "git+https://example.com/demo-lib.git"},
    "license": "MIT",
    "main": "index.js",
    "bin": {"demo-lib": "cli.js"},
    "scripts": {"postinstall": 'node -e ""'},
    "dependencies": {"@acme/util": "^1.0.0", "left-pad": "~1.3.0"},
    "devDependencies": {"tap": "^18.0.0"},
    "peerDependencies": {"react": ">=17"},
    "optionalDependencies": {"fsevents": "^2.3.0"},
    "engines": {"node": ">=18"},
}
ACME_UTIL_MANIFEST: dict[str, Any] = {
    "name": "@acme/util",
    "version": "1.0.0",
    "description": "Scoped utilities",
    "license": "Apache-2.0",
    "main": "index.js",
}


@dataclass(frozen=True)
class Member:
    """One tar entry: a file by default, or another kind with ``kind`` (tarfile's type)."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    linkname: str = ""


def manifest_bytes(name: str = "demo", version: str = "1.0.0", **extra: Any) -> bytes:
    return json.dumps({"name": name, "version": version, **extra}).encode()


def package_members(name: str = "demo", version: str = "1.0.0",
                    extra: Iterable[Member] = ()) -> list[Member]:
    """What ``npm pack`` puts in a minimal package: package/package.json, then more."""
    return [Member("package/package.json", manifest_bytes(name, version)), *extra]


def tar_bytes(members: Iterable[Member], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.linkname = member.linkname
            info.mode = 0o644
            info.size = len(member.data) if member.kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(member.data) if info.size else None)
    return buffer.getvalue()


def tgz(members: Iterable[Member], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    return gzip.compress(tar_bytes(members, fmt=fmt), mtime=0)


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def publish_document(name: str, version: str, tarball: bytes, *,
                     tag: str = "latest", manifest: dict[str, Any] | None = None,
                     attachment: str | None = None) -> dict[str, Any]:
    """A publish body shaped as libnpmpublish builds it."""
    version_manifest = {"name": name, "version": version, **(manifest or {})}
    version_manifest["_id"] = f"{name}@{version}"
    version_manifest["dist"] = {
        "integrity": integrity(tarball),
        "shasum": hashlib.sha1(tarball).hexdigest(),
        "tarball": f"http://127.0.0.1:1/{name}/-/{name}-{version}.tgz",
    }
    return {
        "_id": name,
        "name": name,
        "description": version_manifest.get("description"),
        "dist-tags": {tag: version},
        "versions": {version: version_manifest},
        "access": None,
        "_attachments": {
            attachment or f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball).decode(),
                "length": len(tarball),
            }
        },
    }


def load_body(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(path.read_bytes())
    return parsed


def without_data(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the streaming parser keeps it: attachment data replaced by ""."""
    skeleton = copy.deepcopy(document)
    for attachment in skeleton.get("_attachments", {}).values():
        attachment["data"] = ""
    return skeleton
