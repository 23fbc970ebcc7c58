"""Debian's Chromium driven by Playwright: no browser download, offline.

`playwright install` is never run; Playwright launches the system's `chromium` binary (found on
PATH, `/usr/bin/chromium` on Debian) with the flags a headless, network-quiet run needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium not found on PATH; `make deps` installs Debian's package")
    return found


@contextmanager
def chromium_page(width: int = 1440, height: int = 900) -> Iterator[Page]:
    """A fresh headless browser (its own temporary profile) and one page, closed after."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(90_000)
            yield page
        finally:
            browser.close()
