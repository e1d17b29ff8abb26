"""The ``packyard`` command: ``main`` (``serve``) and its subcommands, one module each."""

from packyard.cli.main import main

__all__ = ["main"]
