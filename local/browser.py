"""Debian's Chromium, driven by Playwright (sync API): what the in-browser tests and `make demo`
use as the customer's browser. `make browser` (local/browser_setup.sh) installs it.

Playwright's own browser download is not used: the system `chromium` (CHROMIUM overrides the
path) is started with `executable_path`, in a fresh profile, with the flags these machines need
(root, no outside network).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ARGS = (
    "--no-sandbox",  # we run as root
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
)


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def chromium_unavailable() -> str | None:
    """Why the in-browser tests cannot run here (a reason that names Chromium: under
    REQUIRE_E2E=1 tests/conftest.py turns such a skip into a failure), or None."""
    path = chromium_path()
    if not path or not os.access(path, os.X_OK):
        where = f"{path} is not executable" if path else "no `chromium` on PATH"
        return f"Chromium not available: {where} (run make browser)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"Chromium not usable: Playwright does not import ({error}; run make browser)"
    return None


@contextmanager
def launch_chromium(*, headless: bool = True, args: tuple[str, ...] = ()) -> Iterator[Browser]:
    """The system Chromium under Playwright, closed (and its profile removed) on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if not path:
        raise RuntimeError(chromium_unavailable())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=headless,
            args=[*CHROMIUM_ARGS, *args],
            chromium_sandbox=False,
        )
        try:
            yield browser
        finally:
            browser.close()
