"""Debian's Chromium, headless, driven by Playwright: no browser is ever downloaded.

Where Chromium or Playwright is missing the browser tests skip, except in CI (``CI=true``),
where they fail: ``.ci/run`` installs Debian's ``chromium``, the ``test`` extra Playwright.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("OFFICE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    runnable = os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)
    if not runnable and not shutil.which(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


def require_chromium() -> None:
    problem = chromium_problem()
    if problem:
        if IN_CI:
            pytest.fail(problem + " (CI requires the browser tests; .ci/run installs Chromium)")
        pytest.skip(problem)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium (a Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
