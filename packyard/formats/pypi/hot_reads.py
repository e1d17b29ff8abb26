"""Which cache entry a repeat PyPI read names, for the hot path (``services/hot_reads.py``).

pip and uv ask for the same project pages and small files over and over (every install
revalidates every page). The hot path answers those from the caches the handlers fill; all it
needs from PyPI is this: ``/{domain}-{owner}/pypi/{repo}/simple/{project}/`` is the page of
``project`` in the media type ``Accept`` negotiates, and ``.../simple/{project}/{filename}``
is a file. The root index, query strings and names that are not normalized (the handlers
redirect those) are left to the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.types import Scope

from packyard.formats.pypi.negotiation import negotiate
from packyard.services.hot_reads import HotKey


def pypi_hot_route(parts: Sequence[str], headers: Mapping[bytes, str],
                   scope: Scope | None = None) -> HotKey | None:
    # ["", label, "pypi", repo, "simple", project, filename-or-""]
    if len(parts) != 7 or parts[4] != "simple" or not parts[5]:
        return None
    # Cache keys use normalized project names, so a name that is not normalized misses here
    # and gets the handlers' redirect.
    project, filename = parts[5], parts[6]
    if not filename:
        return ("page", (project, negotiate(headers.get(b"accept"))))
    return ("file", (project, filename))
