"""The package formats, each a plug-in in its own folder (``formats/<name>/``).

``builtin_formats`` is the one place the formats a server serves are registered; everything
else (bootstrap, the app, the API, the upstream machinery) loops over what it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packyard.formats.plugin import FormatPlugin


def builtin_formats() -> list[FormatPlugin]:
    """A new instance of every registered format plug-in."""
    # Imported here: the plug-ins sit above the services, and this package's other modules
    # (the rules the services use) below them.
    from packyard.formats.generic.plugin import GenericFormat
    from packyard.formats.npm.plugin import NpmFormat
    from packyard.formats.pypi.plugin import PypiFormat

    return [PypiFormat(), NpmFormat(), GenericFormat()]
