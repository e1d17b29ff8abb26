"""Headless Chromium for the console's browser tests: Debian's ``chromium`` (installed by
scripts/test), driven by Playwright's own driver with ``executable_path`` pointed at it, one
browser for the whole session. ``playwright install`` (a browser download) is never run.

Without the background-networking flags Chromium tries to reach Google's services, which this
machine's closed network refuses; each context is a fresh profile (no cookies, no storage).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
# Where docs/console.md's screenshots are written when this names a folder
# (PACKYARD_CONSOLE_SCREENSHOTS=docs/console scripts/test tests/integration/test_console_browser.py).
# Read when this module is imported: the suite clears PACKYARD_* variables before the tests run.
SCREENSHOTS = "PACKYARD_CONSOLE_SCREENSHOTS"
_SCREENSHOTS_DIR = os.environ.get(SCREENSHOTS)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the browser tests of a module. Not per session: Playwright's
    sync API runs an event loop in the main thread while it is open, and every later test that
    calls ``asyncio.run`` (the unit tests run after the integration tests) would fail."""
    executable = chromium_path()
    if executable is None:
        message = "Debian's chromium is not installed (scripts/test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright starts the browser on a fresh temporary profile of its own (its
        # --user-data-dir), removed when the browser closes.
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


class Screenshots:
    """Saves the pages the tests walk through: always to a scratch folder (so the code that
    takes them runs on every run), and to ``$PACKYARD_CONSOLE_SCREENSHOTS`` when set."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.target = Path(_SCREENSHOTS_DIR) if _SCREENSHOTS_DIR else None

    def take(self, page: Any, name: str) -> Path:
        path = self.scratch / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        if self.target is not None:
            self.target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.target / path.name)
        return path
