"""The ``packyard`` command's entry point: its modules loaded without the garbage collector.

Loading the command's ~1,000 modules (SQLAlchemy, Starlette, botocore's models, ours) makes
tens of thousands of objects that live as long as the process and almost no garbage, yet the
collector walks them again and again while they appear: 0.3 s of a first start's ~2 s of CPU, paid
by every ``packyard`` command and every restart of the server. So the modules every command
loads are imported with the collector off, then frozen (``gc.freeze``: never walked again) and
the collector turned back on before the command runs.
"""

from __future__ import annotations

import gc


def load() -> None:
    """Import what every command needs, with the collector off, and freeze it."""
    gc.disable()
    try:
        import packyard.bootstrap  # noqa: F401  (every command that opens a data directory)
        import packyard.cli.main  # noqa: F401
    finally:
        gc.freeze()
        gc.enable()


def main() -> None:
    load()
    from packyard.cli.main import main as command

    command()
