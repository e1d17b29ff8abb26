"""Which cache entry a repeat npm read names, for the hot path (``services/hot_reads.py``).

npm, pnpm and yarn ask for packuments and tarballs over and over (every install revalidates
every packument). The hot path answers those from the caches the handlers fill; all it needs
from npm is this: ``/{domain}-{owner}/npm/{repo}/<name>`` is the packument of ``<name>`` in the
form ``Accept`` asks for, with tarball URLs under the endpoint the request reached, and
``<name>/-/<file>.tgz`` is a tarball. The path is read still percent-encoded (``@s%2fn``,
``@s%2Fn`` and ``@s/n`` all name ``@s/n``); anything else, and every name that is not plainly
valid, is left to the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from starlette.types import Scope

from packyard.errors import Invalid, NotFound
from packyard.formats.npm.names import PackageRequest, parse_package_request
from packyard.formats.npm.negotiation import wants_abbreviated
from packyard.http.request import forwarded_host
from packyard.services.hot_reads import HotKey


def endpoint_url(scheme: str, host: str, label: str, repo: str) -> str:
    """The repository endpoint a request reached; tarball URLs are absolute under it."""
    return f"{scheme}://{host}/{label}/npm/{repo}/"


def packument_key(name: str, accept: str | None, endpoint: str) -> tuple[str, str, str]:
    return (name, "abbreviated" if wants_abbreviated(accept) else "full", endpoint)


# Paths read recently, so a repeat read is not parsed again (~10 µs of the ~30 a hot answer
# takes). Bounded in count and in length: the route runs before the caller is authorized.
_MEMO_PATH_LENGTH = 512


@lru_cache(maxsize=4096)
def _parsed(path: str) -> PackageRequest | None:
    try:
        return parse_package_request(path)
    except (Invalid, NotFound):
        return None


def npm_hot_route(parts: Sequence[str], headers: Mapping[bytes, str],
                  scope: Scope | None = None) -> HotKey | None:
    # ["", label, "npm", repo, <the package path, still encoded>...]
    if len(parts) < 5 or not parts[4] or parts[4].startswith("-") or scope is None:
        return None
    if "%" in parts[1] or "%" in parts[3]:
        # The label and repository as the routes read them are decoded; the raw ones would
        # name others (and be granted or refused as such): the routes' call.
        return None
    path = "/".join(parts[4:])
    if len(path) <= _MEMO_PATH_LENGTH:
        request = _parsed(path)
    else:
        try:
            request = parse_package_request(path)
        except (Invalid, NotFound):
            return None
    if request is None:
        return None
    if request.rev is not None or request.version_or_tag is not None:
        return None
    if request.tarball is not None:
        return ("file", (request.package.full, request.tarball))
    host = forwarded_host(scope) or headers.get(b"host")
    if not host:
        return None
    endpoint = endpoint_url(scope["scheme"], host, parts[1], parts[3])
    return ("page", packument_key(request.package.full, headers.get(b"accept"), endpoint))
