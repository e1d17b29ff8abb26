"""Which files on disk are distributions to import (kept apart from the import service, so the
``packyard`` command can describe ``import`` without loading it)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# What a directory is searched for: wheels, and sdists in the two formats PyPI still takes.
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


def find_distributions(paths: Iterable[Path]) -> list[Path]:
    """The files to import: each file named, and every distribution file under each directory.

    Directories are searched recursively, in sorted order, for regular files (or links to them)
    named ``DIST_SUFFIXES``; a file named explicitly is taken whatever its name or kind (the
    checks then say what is wrong with it).
    """
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for folder, subfolders, names in os.walk(path):
            subfolders.sort()
            # Regular files only: a FIFO or a device named like a wheel is no distribution
            # (and reading a FIFO waits for a writer for ever).
            found.extend(Path(folder, name) for name in sorted(names)
                         if name.endswith(DIST_SUFFIXES) and Path(folder, name).is_file())
    return found
