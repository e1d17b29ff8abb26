"""``npm star``, ``unstar`` and ``stars``: refused with one message npm prints as it is.

Packyard keeps no stars (CodeArtifact has none: its npm command support leaves them out, and
who may do what is IAM's, not npm users'). npm stars by reading ``/<name>?write=true`` and
PUTting ``{_id, _rev, users}`` back, and lists stars from CouchDB's
``/-/_view/starredByUser``. Each is answered ``405`` with ``{"error": …}``: npm's error
handler prints ``405 Method Not Allowed - PUT <url> - <error>`` and nothing else (a 404 would
add "could not be found or you do not have permission", a 5xx would be retried, and the PUT
used to reach the deprecation path and fail on the body: "versions must be a JSON object").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packyard.errors import Unsupported

NO_STARS = ("npm star, unstar and stars are not supported: this registry (like AWS "
            "CodeArtifact) keeps no stars.")

STAR_COMMANDS = frozenset({"star", "unstar", "stars"})
"""The ``npm-command`` header npm sends on each request a command makes."""

VIEWS = "_view/"
"""``/-/_view/…``: the public registry's CouchDB views, of which npm asks only stars'."""


def refuse_stars() -> Unsupported:
    return Unsupported(NO_STARS)


def is_star(document: Mapping[str, Any]) -> bool:
    """A document PUT that stars or unstars (``users`` and no ``versions``): npm's own."""
    return "users" in document and "versions" not in document


def is_star_command(npm_command: str | None) -> bool:
    """Whether npm sent the request for a star command (``npm-command`` header): its
    ``?write=true`` read comes before anything else tells a star from a deprecate."""
    return npm_command in STAR_COMMANDS
