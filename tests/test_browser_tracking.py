"""The attendance tracking page (SPEC.md §6, §9) in headless Chromium, against
our server: what the student gets from the Telegram button. The heartbeats the
page really sends are intercepted, the elapsed time is read from
`[data-elapsed]`, "I have left" shows the duration the server counted, and a
screenshot is saved under test-artifacts/screenshots/. The meeting's "Zoom" URL
points at the test server, so the page opening it loads nothing from outside.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest

from tests.attendance_support import link, meeting, path_of, row
from tests.browser_support import chromium_for, screenshot_path

try:
    from playwright.async_api import Browser, Request, expect
except ImportError:  # pragma: no cover - the test extras install it
    pass  # chromium_for() skips

pytestmark = pytest.mark.browser

HEARTBEAT = 0.3
TIMINGS = {"session_heartbeat_interval": HEARTBEAT, "session_timeout_after": 120.0, "session_sweep_every": 60.0}


class ShiftedClock:
    """The real clock plus an offset the test moves (the server's clock only)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def chromium() -> str:
    return chromium_for("tracking.js")


async def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


async def test_the_tracking_page_heartbeats_ticks_and_ends(
    make_server: Any, browser: Browser, database_url: str
) -> None:
    clock = ShiftedClock()
    server = await make_server(clock=clock, **TIMINGS)
    zoom = f"{server.url}/api/health?zoom-stand-in"
    await meeting(server, title="Algebra <b>&</b> more", zoom_url=zoom)
    url = await link(server, student="st1", name="Bob")

    context = await browser.new_context(viewport={"width": 420, "height": 820}, device_scale_factor=2)
    everything: list[str] = []  # every URL any page of this browser asked for (the Zoom window too)
    errors: list[str] = []
    context.on("request", lambda r: everything.append(r.url))
    context.on("page", lambda p: p.on("pageerror", lambda e: errors.append(f"{p.url}: {e}")))
    page = await context.new_page()
    heartbeats: list[tuple[float, Request]] = []
    ends: list[Request] = []

    def seen(request: Request) -> None:
        if request.url.endswith("/heartbeat"):
            heartbeats.append((time.monotonic(), request))
        elif request.url.endswith("/end"):
            ends.append(request)

    page.on("request", seen)
    response = await page.goto(f"{server.url}{path_of(url)}")
    assert response is not None and response.status == 200
    config = json.loads(await page.locator("#tracking-config").text_content() or "{}")
    assert config["heartbeatInterval"] == HEARTBEAT and config["zoomUrl"] == zoom
    assert await page.locator("#meeting-title").text_content() == "Algebra <b>&</b> more"
    root = page.locator("#tracking")
    await expect(root).to_have_attribute("data-connection", "ok", timeout=5000)
    await expect(page.locator("#open-zoom")).to_have_attribute("href", zoom)

    # The heartbeats the page sends: POST, the session's secret as bearer, `{}`, every interval.
    await until(lambda: len(heartbeats) >= 4, 10, "four heartbeats")
    for _, request in heartbeats:
        assert request.method == "POST"
        assert request.url == f"{server.url}/api/sessions/{config['sessionId']}/heartbeat"
        assert request.headers["authorization"] == f"Bearer {config['secret']}"
        assert json.loads(request.post_data or "null") == {}
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(heartbeats)]
    assert all(gap >= HEARTBEAT * 0.8 for gap in gaps), gaps
    assert (await row(server, config["sessionId"]))["status"] == "active"

    # The elapsed time ticks every second, from the page's load.
    elapsed = page.locator("[data-elapsed]")
    await expect(elapsed).to_have_text("0:00:02", timeout=5000)
    await expect(elapsed).to_have_attribute("datetime", "PT2S")

    db = database_url.split("+")[0].split(":")[0]
    await page.screenshot(path=screenshot_path(f"tracking-active-{db}"), full_page=True, animations="disabled")

    # 40 s later on the server's clock, the student says they have left: 1 minute.
    clock.offset += 40
    await page.get_by_role("button", name="I have left the class").click()
    await expect(root).to_have_attribute("data-tracking-state", "ended", timeout=5000)
    await expect(root).to_have_attribute("data-end-status", "completed")
    duration = page.locator("[data-duration-minutes]")
    await expect(duration).to_have_attribute("data-duration-minutes", "1")
    await expect(duration).to_have_text("1 minute")
    await expect(page.locator("#ended")).to_be_visible()
    await expect(page.get_by_role("button", name="I have left the class")).to_be_hidden()
    assert len(ends) == 1 and ends[0].headers["authorization"] == f"Bearer {config['secret']}"
    frozen = await elapsed.text_content()
    await page.screenshot(path=screenshot_path(f"tracking-ended-{db}"), full_page=True, animations="disabled")

    stored = await row(server, config["sessionId"])
    assert (stored["status"], stored["durationMinutes"]) == ("completed", 1)
    # Once ended: no more heartbeats, and the time no longer ticks.
    sent = len(heartbeats)
    await asyncio.sleep(max(1.2, 3 * HEARTBEAT))
    assert len(heartbeats) == sent
    assert await elapsed.text_content() == frozen

    await context.close()
    assert errors == []
    # Nothing from another origin: the page, its script, its heartbeats, and the "Zoom" window.
    assert [u for u in everything if not u.startswith((f"{server.url}/", "data:"))] == []
    assert f"{server.url}/static/tracking.js" in everything


async def test_a_tampered_link_shows_the_error_page(make_server: Any, browser: Browser) -> None:
    server = await make_server(**TIMINGS)
    await meeting(server)
    url = await link(server)
    context = await browser.new_context()
    page = await context.new_page()
    response = await page.goto(f"{server.url}{path_of(url)[:-4]}")
    assert response is not None and response.status == 400
    await expect(page.locator("[data-tracking-error]")).to_contain_text("cut off")
    assert await page.locator("script").count() == 0
    await context.close()
