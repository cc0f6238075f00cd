"""The seller's and the app user's browser pieces (SPEC.md §7, §9) in headless
Chromium against our server: `/demo/stream` (on `/static/livestream.js`) through
low credits, an inactivity warning and the server ending the stream, and a small
page on `/static/presence-user.js` going online and, on logout, offline, as the
admins' REST sees it. Observed through the pages' `data-*` attributes; a
screenshot of each state goes to test-artifacts/screenshots/.

Real time, short settings: a credit buys one second, the monitor runs every
0.1 s. Nothing a page loads may come from another origin.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser_support import chromium_for, screenshot_path
from tests.conftest import Server
from tests.credits_support import Seller, parse
from tests.helpers import EventLog

try:
    from playwright.async_api import Browser, BrowserContext, Page, Route, expect
except ImportError:  # pragma: no cover - the test extras install it
    pass  # chromium_for() skips

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000  # generous: a loaded machine delays, it does not change the outcome
STREAM_TIMINGS = {"stream_credit_block": 1.0, "stream_check_every": 0.1, "rate_limit": 0.0}


@pytest.fixture
def chromium() -> str:
    return chromium_for("livestream.js", "presence-user.js")


class Tab:
    """One browser context and page on our server, recording what it asks for."""

    def __init__(self, server: Server, context: BrowserContext, page: Page, name: str) -> None:
        self.server = server
        self.context = context
        self.page = page
        self.name = name
        self.requests: list[tuple[float, str]] = []
        self.errors: list[str] = []
        context.on("request", lambda request: self.requests.append((time.monotonic(), request.url)))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @classmethod
    async def open(cls, server: Server, browser: Browser, name: str) -> Tab:
        context = await browser.new_context(viewport={"width": 700, "height": 760})
        return cls(server, context, await context.new_page(), name)

    def attr(self, selector: str) -> Any:
        return self.page.locator(selector)

    async def screenshot(self, state: str) -> None:
        await self.page.screenshot(path=screenshot_path(f"{self.name}-{state}"), animations="disabled")

    def check_clean(self) -> None:
        """The page threw nothing and loaded nothing from another origin (§9)."""
        assert self.errors == []
        foreign = [url for _, url in self.requests if not url.startswith((f"{self.server.url}/", "data:"))]
        assert foreign == []

    def heartbeats_since(self, moment: float) -> int:
        return sum(1 for at, url in self.requests if at > moment and url.endswith("/heartbeat/"))


WATCH_CREDITS = """() => {
  // Every (data-credits, data-low-credits) pair the page shows, in order.
  const credits = document.getElementById('credits');
  const low = document.getElementById('low-credits');
  const record = () => {
    const entry = [credits.getAttribute('data-credits'), low.getAttribute('data-low-credits')];
    const last = window.__credits[window.__credits.length - 1];
    if (!last || last[0] !== entry[0] || last[1] !== entry[1]) window.__credits.push(entry);
  };
  window.__credits = [];
  record();
  const observer = new MutationObserver(record);
  observer.observe(credits, { attributes: true, attributeFilter: ['data-credits'] });
  observer.observe(low, { attributes: true, attributeFilter: ['data-low-credits'] });
}"""


async def open_stream_page(server: Server, browser: Browser, seller: Seller, stream_id: str, name: str) -> Tab:
    tab = await Tab.open(server, browser, name)
    token = server.token(seller.sub, "user", seller.company)
    query = urlencode({"livestreamId": stream_id, "heartbeatInterval": "0.25"})
    await tab.page.goto(f"{server.url}/demo/stream?{query}#token={token}")
    assert "token" not in tab.page.url  # taken from the fragment, dropped from the address bar
    await expect(tab.attr("#state")).to_have_attribute("data-stream-state", "scheduled", timeout=TIMEOUT_MS)
    return tab


async def test_the_stream_page_through_low_credits_to_credits_running_out(
    make_server: Any, browser: Browser, database_url: str
) -> None:
    server = await make_server(**STREAM_TIMINGS, stream_warn_after=30.0, stream_end_after=60.0)
    name = f"stream-credits-{database_url.split('+')[0].split(':')[0]}"
    seller = Seller(server)
    await seller.grant(4)
    stream_id = await seller.create("Spring sale")
    tab = await open_stream_page(server, browser, seller, stream_id, name)
    credits, low = tab.attr("#credits"), tab.attr("#low-credits")
    state, reason = tab.attr("#state"), tab.attr("#end-reason")
    await expect(credits).to_have_attribute("data-credits", "4", timeout=TIMEOUT_MS)
    await expect(low).to_have_attribute("data-low-credits", "false")
    await tab.page.evaluate(WATCH_CREDITS)
    await tab.screenshot("scheduled")

    await tab.page.get_by_role("button", name="Start stream").click()
    await expect(state).to_have_attribute("data-stream-state", "live", timeout=TIMEOUT_MS)
    # Block 0 at the start (3 left), block 1 a second later: 2 left, which is low
    # (and stays low, at 1 and 0, until the end: a wide window to look at).
    await expect(low).to_have_attribute("data-low-credits", "true", timeout=TIMEOUT_MS)
    await expect(low).to_be_visible()
    await expect(low).to_contain_text("Low credits")
    await tab.screenshot("low-credits")

    # Blocks 2 and 3 take the last credits; block 4 cannot be paid: the server ends it.
    await expect(state).to_have_attribute("data-stream-state", "ended", timeout=TIMEOUT_MS)
    ended_at = time.monotonic()
    await expect(reason).to_have_attribute("data-end-reason", "credits_exhausted")
    await expect(reason).to_contain_text("credits ran out")
    await expect(credits).to_have_attribute("data-credits", "0", timeout=TIMEOUT_MS)
    await expect(tab.attr("#end")).to_be_disabled()
    await tab.screenshot("credits-exhausted")
    # Every balance was shown on the way down, low from 2 on.
    shown = await tab.page.evaluate("() => window.__credits")
    values = [credits for credits, _ in shown]
    assert [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]] == ["4", "3", "2", "1", "0"], shown
    assert ["4", "false"] in shown and ["3", "false"] in shown and ["2", "true"] in shown, shown
    assert all(low == "false" for credits, low in shown if int(credits) > 2), shown
    statement = await seller.statement(stream_id)
    assert [c["block"] for c in statement["charges"]] == [0, 1, 2, 3]
    stream = await seller.stream(stream_id)
    assert (stream["status"], stream["end_reason"]) == ("ended", "credits_exhausted")
    # The page stopped heartbeating by itself (at most one already on its way).
    await tab.page.wait_for_timeout(1000)
    assert tab.heartbeats_since(ended_at) <= 1
    tab.check_clean()
    await tab.context.close()


async def test_the_stream_page_through_an_inactivity_warning_to_the_server_ending_it(
    make_server: Any, browser: Browser, database_url: str
) -> None:
    """The page stays open but its heartbeats no longer get through (cut at the
    network): the server warns over the socket, then ends the stream."""
    server = await make_server(**STREAM_TIMINGS, stream_warn_after=1.5, stream_end_after=6.0)
    name = f"stream-inactivity-{database_url.split('+')[0].split(':')[0]}"
    seller = Seller(server)
    await seller.grant(10)
    stream_id = await seller.create("Late night sale")
    tab = await open_stream_page(server, browser, seller, stream_id, name)

    async def lost(route: Route) -> None:
        await route.abort("internetdisconnected")

    await tab.page.route("**/heartbeat/", lost)
    await tab.page.get_by_role("button", name="Start stream").click()
    state, warning = tab.attr("#state"), tab.attr("#inactivity")
    await expect(state).to_have_attribute("data-stream-state", "live", timeout=TIMEOUT_MS)
    await expect(warning).to_be_visible(timeout=TIMEOUT_MS)
    await expect(warning).to_contain_text("No activity from this stream")
    await tab.screenshot("inactivity-warning")

    await expect(state).to_have_attribute("data-stream-state", "ended", timeout=TIMEOUT_MS)
    await expect(tab.attr("#end-reason")).to_have_attribute("data-end-reason", "inactivity")
    await expect(warning).to_be_hidden()
    # Ended 6 s after the start: blocks 0 to 5 were charged, block 6 (at 6 s) never.
    await expect(tab.attr("#credits")).to_have_attribute("data-credits", "4", timeout=TIMEOUT_MS)
    await tab.screenshot("inactivity-ended")
    stream = await seller.stream(stream_id)
    assert (stream["end_reason"], stream["credits_consumed"]) == ("inactivity", 6)
    assert parse(stream["ended_at"]) == pytest.approx(parse(stream["started_at"]) + 6.0, abs=2e-3)
    assert await seller.balance() == 4
    tab.check_clean()
    await tab.context.close()


async def told(log: EventLog, event: str, user_id: str) -> None:
    """Waits for `event` about this user (admins hear about every user, themselves too)."""
    while (await log.next(event, timeout=TIMEOUT_MS / 1000))["user_id"] != user_id:
        pass


USER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>App with presence-user.js</title>
<style>body{font-family:system-ui,sans-serif;margin:40px} [data-user-state=online]{color:#10b981}
[data-user-state=offline]{color:#9ca3af}</style></head>
<body>
<h1>My app</h1>
<p>You are <strong id="state" data-user-state="connecting">connecting…</strong>
<span id="transport"></span></p>
<button id="logout" type="button">Log out</button>
<script src="/static/presence-user.js"></script>
<script>
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  history.replaceState(null, '', location.pathname);
  const presence = PresenceUser.start({ url: location.origin, token, heartbeatInterval: 0.5 });
  const state = document.getElementById('state');
  presence.on('status', (s) => {
    state.dataset.userState = s.online ? 'online' : 'offline';
    state.textContent = s.online ? 'online' : 'offline';
    document.getElementById('transport').textContent = s.transport ? `(over ${s.transport})` : '';
  });
  document.getElementById('logout').onclick = () => presence.logout();
</script>
</body></html>"""


async def test_an_app_page_with_presence_user_goes_online_then_offline_on_logout(
    make_server: Any, browser: Browser, database_url: str
) -> None:
    server = await make_server(user_touch_throttle=0.2)
    name = f"presence-user-{database_url.split('+')[0].split(':')[0]}"
    tab = await Tab.open(server, browser, name)
    _, admin_events = await server.agent(sub="boss", role="admin", company=None)

    async def app_page(route: Route) -> None:  # the host application's page, on our origin
        await route.fulfill(body=USER_PAGE, content_type="text/html")

    await tab.page.route(f"{server.url}/app", app_page)
    token = server.token("u-42", "user", "acme", "Dee")
    await tab.page.goto(f"{server.url}/app#token={token}")
    state = tab.attr("#state")
    await expect(state).to_have_attribute("data-user-state", "online", timeout=TIMEOUT_MS)
    await told(admin_events, "user:online", "u-42")
    status, body = await server.request("GET", "/api/users/admin/users/u-42/online-status/", role="admin")
    assert status == 200 and (body["is_online"], body["online_status"]) == (True, "online")
    await tab.screenshot("online")

    await tab.page.get_by_role("button", name="Log out").click()
    await expect(state).to_have_attribute("data-user-state", "offline", timeout=TIMEOUT_MS)
    await told(admin_events, "user:offline", "u-42")
    status, body = await server.request("GET", "/api/users/admin/users/u-42/online-status/", role="admin")
    assert (body["is_online"], body["online_status"]) == (False, "offline")
    await tab.screenshot("logged-out")
    # Logged out for good: no heartbeat brings the user back (several intervals later).
    await tab.page.wait_for_timeout(1500)
    status, body = await server.request("GET", "/api/users/admin/users/u-42/online-status/", role="admin")
    assert body["is_online"] is False
    assert [e["user_id"] for name, e in admin_events.events if name == "user:online"].count("u-42") == 1
    tab.check_clean()
    assert any(url.endswith("/static/presence-user.js") for _, url in tab.requests)
    await tab.context.close()
