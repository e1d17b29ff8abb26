"""How an answer asks the server for what plain ASGI cannot say.

The app and the formats set these; ``packyard/server/`` (below them in no sense, above them in
the layers) reads them. Keeping the names here lets the app speak to the server without
importing it.
"""

from __future__ import annotations

COALESCE = "packyard.coalesce"
"""Key of the ``http.response.start`` message that asks for the head to be held and written
with the body in one system call (``server/coalesce.py``)."""

REASON_HEADER = "x-packyard-reason"
"""A response header the server turns into the status line's reason phrase and drops
(``server/reason.py``): twine prints the reason phrase of a refused upload."""
