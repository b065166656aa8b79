"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, for the page's tests and benchmark.

Never a downloaded browser: ``/usr/bin/chromium`` or nothing. Without it (or without the ``playwright``
package) browser tests skip with the reason, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("RECORDKIT_TEST_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def missing() -> str | None:
    """Why a browser cannot be driven here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium (never playwright install)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    return None


@contextlib.contextmanager
def browser_context(**options: Any) -> Iterator[Any]:
    """A fresh Chromium context (its own user-data folder, removed afterwards)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="recordkit-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), args=ARGS, headless=True,
                viewport={"width": 1280, "height": 900}, **options)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
