"""The browser pieces of SPEC.md §9 in a real browser, against our server: the
demo customer page (`/static/widget.js`) and the demo agent page
(`/static/presence-agent.js`) side by side in Debian's Chromium, driven by
Playwright. What the agent's header shows is read from its observable
`data-presence-*` attributes, and a screenshot of the header is saved for each
state under test-artifacts/screenshots/.

Chromium is launched per test (tests/browser_support.py says why).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser_support import chromium_for, screenshot_path
from tests.conftest import Server

try:
    from playwright.async_api import Browser, BrowserContext, Locator, Page, expect
except ImportError:  # pragma: no cover - the test extras install it
    pass  # chromium_for() skips

pytestmark = pytest.mark.browser

# Short timings, so each scenario runs in seconds; the widget heartbeats at the
# interval the server acks.
HEARTBEAT = 0.4
OFFLINE_AFTER = 2.0
GRACE = 1.0
SWEEP = 0.1
TIMINGS = {
    "widget_heartbeat_interval": HEARTBEAT,
    "widget_offline_after": OFFLINE_AFTER,
    "widget_offline_grace": GRACE,
    "widget_sweep_every": SWEEP,
}
PAGE_LOADED_AT = "() => performance.timeOrigin + performance.getEntriesByType('navigation')[0].loadEventEnd"
GREEN = "rgb(16, 185, 129)"  # #10b981
GRAY = "rgb(156, 163, 175)"  # #9ca3af
AMBER = "rgb(245, 158, 11)"  # #f59e0b, the dot while away


def ms(seconds: float) -> float:
    return seconds * 1000


@pytest.fixture
def chromium() -> str:
    return chromium_for("widget.js", "presence-agent.js")


WATCH_STATES = """(el) => {
  // Date.now(): the system clock, as the test's time.time().
  const entry = (state) => ({ state, at: Date.now() });
  window.__presenceLog = [entry(el.getAttribute('data-presence-state'))];
  if (window.__presenceObserver) return;
  window.__presenceObserver = new MutationObserver((records) => {
    // oldValue: a state replaced before this callback ran is kept too.
    for (const r of records) window.__presenceLog.push(entry(r.oldValue));
    window.__presenceLog.push(entry(el.getAttribute('data-presence-state')));
  });
  window.__presenceObserver.observe(el, {
    attributes: true, attributeFilter: ['data-presence-state'], attributeOldValue: true,
  });
}"""


class Scene:
    """One conversation: the agent's page and the customer's tabs, side by side."""

    def __init__(self, server: Server, browser: Browser, name: str, conversation_id: str = "c1") -> None:
        self.server = server
        self.browser = browser
        self.name = name
        self.conversation_id = conversation_id
        self.agent: Page | None = None
        self.requests: list[str] = []  # every URL any page asked for
        self.errors: list[str] = []  # uncaught errors in any page

    async def context(self, **options: Any) -> BrowserContext:
        context = await self.browser.new_context(**options)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", lambda page: page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}")))
        return context

    async def open_agent(self) -> Page:
        context = await self.context(viewport={"width": 760, "height": 520}, device_scale_factor=2)
        page = await context.new_page()
        token = self.server.token("agent-1", "agent", "co-1")
        query = urlencode({"conversationId": self.conversation_id, "name": "Ada Lovelace"})
        await page.goto(f"{self.server.url}/demo/agent?{query}#token={token}")
        # The token is taken from the fragment and dropped from the address bar.
        assert "token" not in page.url
        self.agent = page
        await expect(self.indicator).to_have_attribute("data-presence-state", "offline", timeout=5000)
        await expect(self.indicator).not_to_have_attribute("data-presence-stale", "", timeout=5000)
        return page

    async def customer_context(self) -> BrowserContext:
        return await self.context(viewport={"width": 700, "height": 560})

    async def open_widget(self, context: BrowserContext) -> Page:
        page = await context.new_page()
        query = urlencode({"conversationId": self.conversation_id, "sessionId": f"s-{self.conversation_id}"})
        await page.goto(f"{self.server.url}/demo/widget?{query}")
        return page

    @property
    def indicator(self) -> Locator:
        assert self.agent is not None
        return self.agent.locator("[data-presence-indicator]")

    @property
    def text(self) -> Locator:
        return self.indicator.locator("[data-presence-text]")

    @property
    def dot(self) -> Locator:
        return self.indicator.locator("[data-presence-dot]")

    @property
    def detail(self) -> Locator:
        return self.indicator.locator("[data-presence-detail]")

    async def shows(self, state: str, text: str | None = None, timeout: float = 5.0, detail: str | None = None) -> None:
        """The indicator's state, its status word exactly (`data-presence-text`), and
        what follows it (`data-presence-detail`): '' when `text` is given alone."""
        await expect(self.indicator).to_have_attribute("data-presence-state", state, timeout=ms(timeout))
        if text is not None:
            await expect(self.text).to_have_text(text, timeout=ms(timeout))
            await expect(self.detail).to_have_text(detail or "", timeout=ms(timeout))

    async def record_states(self) -> None:
        """From now on, the agent's page keeps every state its indicator takes, and when."""
        await self.indicator.evaluate(WATCH_STATES)

    async def log(self) -> list[dict[str, Any]]:
        assert self.agent is not None
        return await self.agent.evaluate("() => window.__presenceLog")

    async def states(self) -> list[str]:
        """The states taken since record_states(), each once per stretch."""
        names = [entry["state"] for entry in await self.log()]
        return [name for i, name in enumerate(names) if i == 0 or name != names[i - 1]]

    async def entered(self, state: str) -> float:
        """When (ms since the epoch, the browser's clock) the indicator first changed to `state`."""
        log = await self.log()
        for before, entry in itertools.pairwise(log):
            if entry["state"] == state and before["state"] != state:
                return entry["at"]
        raise AssertionError(f"the indicator never changed to {state!r}: {log}")

    async def screenshot(self, state: str) -> None:
        assert self.agent is not None
        await self.agent.locator(".conversation-header").screenshot(
            path=screenshot_path(f"agent-header-{state}-{self.name}"), animations="disabled"
        )


@pytest.fixture
async def scene(make_server: Any, browser: Browser, database_url: str) -> AsyncIterator[Scene]:
    server = await make_server(**TIMINGS)
    await server.conversation("c1", customer_name="Ada Lovelace")
    scene = Scene(server, browser, database_url.split("+")[0].split(":")[0])
    yield scene
    # Whatever the scenario, the pages threw nothing and loaded nothing from outside the server (§9).
    assert scene.errors == []
    assert [url for url in scene.requests if not url.startswith((f"{server.url}/", "data:"))] == []
    assert any(url.endswith("/static/widget.js") for url in scene.requests)


async def test_online_across_tabs_then_offline_after_the_last_one_closes(scene: Scene) -> None:
    """Online within a second of the page loading; a second tab shows as a second
    device; closing one of two tabs keeps the customer online; closing the last
    one shows Offline, with when they were last seen, within the grace plus a second."""
    await scene.open_agent()
    _, observer = await scene.server.agent("c1")
    customer = await scene.customer_context()

    await scene.record_states()
    first = await scene.open_widget(customer)
    await scene.shows("online", "Online")
    loaded = await first.evaluate(PAGE_LOADED_AT)
    online = await scene.entered("online")
    assert online - loaded < 1000, f"Online {online - loaded:.0f} ms after the widget page loaded"
    await expect(scene.dot).to_be_visible()
    await expect(scene.dot).to_have_css("background-color", GREEN)
    await expect(scene.dot).to_have_css("width", "12px")
    await expect(scene.dot).to_have_css("border-top-width", "2px")
    await expect(scene.dot).to_have_css("border-top-color", "rgb(255, 255, 255)")
    await expect(scene.text).to_have_css("color", GREEN)
    await expect(first.locator("#status")).to_have_attribute("data-widget-status", "online")
    await scene.screenshot("online")

    second = await scene.open_widget(customer)
    await scene.shows("online", "Online", detail="on 2 devices", timeout=1)
    await expect(scene.indicator).to_contain_text("Online on 2 devices")
    await scene.screenshot("two-devices")

    await scene.record_states()
    await second.close(run_before_unload=True)
    await scene.shows("online", "Online", timeout=2)
    # Nothing to wait for: a departure not announced by the end of the grace never will be.
    await asyncio.sleep(GRACE + 0.5)
    assert await scene.states() == ["online"]
    assert "customer:offline" not in observer.names()

    closed = time.time() * 1000
    await first.close(run_before_unload=True)
    await scene.shows("offline", "Offline", detail="· Last seen just now", timeout=GRACE + 2)
    waited = await scene.entered("offline") - closed
    # Not before the grace (a reload must not flicker), and within the grace plus a second.
    assert ms(GRACE) - 100 <= waited < ms(GRACE + 1), f"Offline {waited:.0f} ms after the last tab closed"
    await expect(scene.dot).to_have_count(0)
    await expect(scene.text).to_have_css("color", GRAY)
    # The tab said goodbye on beforeunload, so the departure is "closed", not a lost transport.
    assert (await observer.next("customer:offline"))["reason"] == "closed"
    await scene.screenshot("offline-just-now")

    # Five minutes on, in the agent's browser: the line ages without any event.
    assert scene.agent is not None
    now = await scene.agent.evaluate("() => Date.now()")
    await scene.agent.clock.set_fixed_time(now / 1000 + 5 * 60 + 1)
    await scene.agent.evaluate("() => window.agent.setCustomerName('Ada Lovelace')")  # redraw now, not in 15 s
    await scene.shows("offline", "Offline", detail="· Last seen 5 minutes ago", timeout=2)
    await expect(scene.indicator).to_contain_text("Last seen 5 minutes ago")
    await scene.screenshot("offline-last-seen")


async def test_a_reload_never_shows_offline(scene: Scene) -> None:
    await scene.open_agent()
    _, observer = await scene.server.agent("c1")
    customer = await scene.customer_context()
    tab = await scene.open_widget(customer)
    await scene.shows("online", "Online", timeout=1)
    await scene.record_states()

    await tab.reload()  # beforeunload says widget:offline; the new page binds within the grace
    await expect(tab.locator("#status")).to_have_attribute("data-widget-status", "online", timeout=2000)
    await asyncio.sleep(GRACE + 0.5)  # past the grace of the old page's departure
    await scene.shows("online", "Online")
    assert await scene.states() == ["online"]
    assert "customer:offline" not in observer.names()
    assert observer.names().count("customer:online") == 1


async def test_cutting_the_network_shows_offline_and_restoring_it_online(scene: Scene) -> None:
    await scene.open_agent()
    _, observer = await scene.server.agent("c1")
    customer = await scene.customer_context()
    tab = await scene.open_widget(customer)
    await scene.shows("online", "Online", timeout=1)

    await customer.set_offline(True)
    # Chromium closes the WebSocket (the server drops it after the grace); had it
    # stayed open, the lease would have expired (timeout) instead.
    await scene.shows("offline", timeout=OFFLINE_AFTER + SWEEP + 1)
    assert (await observer.next("customer:offline"))["reason"] in ("disconnected", "timeout")
    await expect(tab.locator("#status")).to_have_attribute("data-widget-status", "connecting")

    await customer.set_offline(False)  # the browser's "online" event: the widget retries at once
    await scene.shows("online", "Online", timeout=2)
    await expect(tab.locator("#status")).to_have_attribute("data-widget-status", "online")


async def test_a_widget_the_server_timed_out_comes_back_by_itself(scene: Scene) -> None:
    """A frozen page (a sleeping laptop) sends no heartbeat: the server expires the
    lease and disconnects the socket. socket.io-client would stay down after such a
    server-side disconnect; the widget reconnects by itself once the page runs again."""
    await scene.open_agent()
    _, observer = await scene.server.agent("c1")
    customer = await scene.customer_context()
    tab = await scene.open_widget(customer)
    await scene.shows("online", "Online", timeout=1)

    cdp = await customer.new_cdp_session(tab)
    await cdp.send("Debugger.enable")
    await cdp.send("Debugger.pause")  # the page's scripts stop; its WebSocket stays open
    try:
        offline = await observer.next("customer:offline", timeout=OFFLINE_AFTER + SWEEP + 2)
        assert offline["reason"] == "timeout"
        await scene.shows("offline", timeout=1)
    finally:
        await cdp.send("Debugger.resume")
    await scene.shows("online", "Online", timeout=5)
    await expect(tab.locator("#status")).to_have_attribute("data-widget-status", "online")


HIDE_TAB = """(hidden) => {
  // Headless Chromium keeps every tab visible; fake what the browser does when one is hidden.
  const state = hidden ? 'hidden' : 'visible';
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


async def test_typing_and_away(scene: Scene) -> None:
    await scene.open_agent()
    customer = await scene.customer_context()
    tab = await scene.open_widget(customer)
    await scene.shows("online", "Online", timeout=1)

    message = tab.locator("#message")
    await message.press_sequentially("Hello, I have a question", delay=20)
    await scene.shows("online", "typing…", timeout=1)
    await scene.screenshot("typing")
    await message.press("Enter")  # sent: no longer typing
    await scene.shows("online", "Online", timeout=1)

    await tab.get_by_label("Chat minimised").check()
    await scene.shows("away", "Away", timeout=1)
    await expect(scene.dot).to_have_css("background-color", AMBER)
    await scene.screenshot("away")
    await tab.get_by_label("Chat minimised").uncheck()
    await scene.shows("online", "Online", timeout=1)

    await tab.evaluate(HIDE_TAB, True)
    await scene.shows("away", "Away", timeout=1)
    await tab.evaluate(HIDE_TAB, False)
    await scene.shows("online", "Online", timeout=1)


async def test_the_agent_catches_up_after_its_own_outage(scene: Scene) -> None:
    """While the dashboard is cut off it shows its indicator as stale; what it missed
    meanwhile (the customer left) is read back from the server when it reconnects."""
    agent = await scene.open_agent()
    _, observer = await scene.server.agent("c1")
    customer = await scene.customer_context()
    tab = await scene.open_widget(customer)
    await scene.shows("online", "Online", timeout=1)

    await agent.context.set_offline(True)
    await expect(scene.indicator).to_have_attribute("data-presence-stale", "", timeout=2000)
    await tab.close(run_before_unload=True)
    await observer.next("customer:offline", timeout=GRACE + 2)
    await scene.shows("online")  # the dashboard heard nothing: still the old state, marked stale

    await agent.context.set_offline(False)  # the browser's "online" event: the dashboard retries at once
    await expect(scene.indicator).not_to_have_attribute("data-presence-stale", "", timeout=2000)
    await scene.shows("offline", "Offline", detail="· Last seen just now", timeout=2)
