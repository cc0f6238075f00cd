"""Headless Chromium for the browser tests (SPEC.md §9): Debian's Chromium
driven by Playwright, against the real server.

Each browser test module says which built bundles it needs with its own
`chromium` fixture (`return chromium_for("tracking.js")`); the `browser`
fixture of tests/conftest.py launches Chromium per test with `launch()`:
Playwright's objects belong to the event loop that started them, and the
`make_server` fixture runs the server in each test's own loop, so a browser
shared across tests would live in a loop that is not running while the test is.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.conftest import skip_unless_required

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the test extras install it
    async_playwright = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "widget_js" / "dist"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_for(*bundles: str) -> str:
    """Chromium's path, once Playwright, Chromium and the built `bundles`
    (names under widget_js/dist/) are all there; skipped (failed under
    PRESENCE_TEST_REQUIRE_ALL=1) otherwise."""
    if async_playwright is None:
        skip_unless_required("the playwright package is not installed: pip install -e '.[test]'")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        skip_unless_required(f"Chromium not found at {CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH")
    missing = [str((DIST / name).relative_to(ROOT)) for name in bundles if not (DIST / name).is_file()]
    if missing:
        skip_unless_required(f"{', '.join(missing)} not built: run `make bundle` (needs Node 18+ and npm)")
    return CHROMIUM


@asynccontextmanager
async def launch(chromium: str) -> AsyncIterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed on the way out."""
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def screenshot_path(name: str) -> Path:
    """Where the screenshot `name` (without .png) goes: test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
