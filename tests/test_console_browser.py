"""The admin console (SPEC §9, issue 11) in headless Chromium, against our server:
the overview's figures are the REST answers and move without a reload, the chart
is the `?detailed=1` days, a refused or expired token gets the sign-in form with
the server's sentence, a lost socket says so and catches up; nothing is loaded
from outside the server. Screenshots of each page at a laptop's and a phone's
width are saved under test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser_support import chromium_for, screenshot_path
from tests.conftest import Server
from tests.test_overview import seed_sessions_and_streams

try:
    from playwright.async_api import Browser, BrowserContext, Page, expect
except ImportError:  # pragma: no cover - the test extras install it
    pass  # chromium_for() skips

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
METRICS = ("dau", "wau", "mau", "online-customers", "online-users", "live-sessions", "live-streams")


@pytest.fixture
def chromium() -> str:
    return chromium_for("console.js")


class Console:
    """The admin's browser: every request and page error of every tab is kept."""

    def __init__(self, server: Server, browser: Browser, db: str) -> None:
        self.server = server
        self.browser = browser
        self.db = db
        self.requests: list[str] = []
        self.errors: list[str] = []

    async def context(self, viewport: dict[str, int] = LAPTOP) -> BrowserContext:
        context = await self.browser.new_context(viewport=viewport, accept_downloads=True)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", lambda page: page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}")))
        return context

    async def open(self, path: str = "/admin", token: str | None = None, viewport: dict[str, int] = LAPTOP) -> Page:
        page = await (await self.context(viewport)).new_page()
        fragment = f"#token={token}" if token else ""
        await page.goto(f"{self.server.url}{path}{fragment}")
        assert "token=" not in page.url  # taken from the fragment, then dropped from the address bar
        return page

    def admin_token(self, ttl: float = 600) -> str:
        return self.server.token("admin-1", "admin", name="Ada Admin", ttl=ttl)

    async def screenshot(self, page: Page, name: str, full_page: bool = True) -> None:
        path = screenshot_path(f"console-{name}-{self.db}")
        await page.screenshot(path=path, full_page=full_page, animations="disabled")

    async def rest(self, path: str) -> Any:
        status, body = await self.server.request("GET", path)
        assert status == 200, (path, body)
        return body


@pytest.fixture
async def console(make_server: Any, browser: Browser, database_url: str) -> AsyncIterator[Console]:
    # Widgets here are Python clients that do not heartbeat: their leases must outlive the test.
    server = await make_server(widget_offline_after=60, widget_heartbeat_interval=20)
    c = Console(server, browser, database_url.split("+")[0].split(":")[0])
    yield c
    assert c.errors == []
    outside = [u for u in c.requests if not u.startswith((f"{server.url}/", "data:", "blob:"))]
    assert outside == [], f"loaded from outside the server: {outside}"


async def metric(page: Page, name: str) -> str:
    return await page.locator(f'[data-metric="{name}"]').get_attribute("data-value") or ""


async def shows(page: Page, name: str, value: object, timeout: float = 5000) -> None:
    await expect(page.locator(f'[data-metric="{name}"]')).to_have_attribute("data-value", str(value), timeout=timeout)


async def report_activity(server: Server, events: list[dict[str, str]]) -> None:
    status, body = await server.request("POST", "/api/activity/events", role="service", json={"events": events})
    assert status == 202 and body["rejected"] == [], body


async def test_the_overview_shows_the_rest_answers_and_moves_without_a_reload(console: Console) -> None:
    server = console.server
    now = datetime.now(UTC)
    # Activity over the last month (the chart), customers, users, sessions, streams.
    await report_activity(
        server,
        [
            {"user_id": f"u{i}", "ts": (now - timedelta(days=d, hours=1)).isoformat(), "kind": "post"}
            for i, d in enumerate([0, 0, 1, 3, 3, 3, 8, 15, 29, 40])
        ],
    )
    for cid, name in (("c1", "Ada <b>Lovelace</b>"), ("c2", "Grace Hopper"), ("c3", None)):
        await server.conversation(cid, customer_name=name)
    await server.widget("c1")
    await server.widget("c2")
    for sub in ("u1", "u2"):
        await server.request("POST", "/api/users/heartbeat/", role="user", sub=sub, company="co-1")
    await seed_sessions_and_streams(server)

    page = await console.open("/admin", console.admin_token())
    await expect(page.locator("#content")).to_be_visible()
    await expect(page.locator("#connection")).to_have_attribute("data-connection", "live")

    # The figures are the REST answers (§3 batch presence, §4, §5, the overview).
    metrics = await console.rest("/api/admin/activity/metrics?detailed=1")
    status, batch = await server.request(
        "POST", "/api/widget/presence/batch", json={"conversationIds": ["c1", "c2", "c3"]}
    )
    assert status == 200
    online_customers = sum(1 for s in batch["presence"].values() if s["isOnline"])
    assert online_customers == 2
    await shows(page, "online-customers", online_customers)
    for name in ("dau", "wau", "mau"):
        await shows(page, name, metrics[name])
    await shows(page, "stickiness", metrics["stickiness"])
    online_users = (await console.rest("/api/users/admin/users/online/"))["count"]
    await shows(page, "online-users", online_users)
    overview = await console.rest("/api/admin/overview")
    await shows(page, "live-sessions", overview["sessions"]["live"])
    await shows(page, "live-streams", overview["streams"]["live"])
    assert (overview["sessions"]["live"], overview["streams"]["live"]) == (2, 1)
    for name in METRICS:  # every figure of §9 is on the page, written for people
        assert (await page.locator(f'[data-metric="{name}"]').inner_text()).strip() not in ("", "—")
    # Names are shown as typed (escaped), never as markup.
    await expect(page.locator("#customers-list")).to_contain_text("Ada <b>Lovelace</b>")
    await expect(page.locator("#customers-list b")).to_have_count(0)

    # The chart: 30 bars, oldest first, each the day's count of `?detailed=1`.
    bars = page.locator("[data-chart-bar]")
    await expect(bars).to_have_count(30)
    drawn = await bars.evaluate_all(
        "(els) => els.map((e) => ({date: e.dataset.date, active: Number(e.dataset.active), h: e.getBBox().height}))"
    )
    assert [{"date": b["date"], "active": b["active"]} for b in drawn] == metrics["daily"]
    tallest = max(drawn, key=lambda b: b["active"])
    assert all(b["h"] <= tallest["h"] for b in drawn) and tallest["h"] > 0
    assert all((b["h"] == 0) == (b["active"] == 0) for b in drawn)
    await console.screenshot(page, "overview-laptop")

    # A widget coming online moves "customers online" without a reload.
    await page.evaluate("() => { window.__sameDocument = true; }")
    await server.conversation("c4", customer_name="Katherine Johnson")
    await server.widget("c4")
    await shows(page, "online-customers", online_customers + 1, timeout=6000)
    await expect(page.locator("#customers-list")).to_contain_text("Katherine Johnson", timeout=6000)

    # A new activity event moves DAU (and the chart's today) without a reload.
    await report_activity(server, [{"user_id": "newcomer", "ts": now.isoformat(), "kind": "signup"}])
    await shows(page, "dau", metrics["dau"] + 1, timeout=6000)
    await expect(bars.last).to_have_attribute("data-active", str(metrics["daily"][-1]["active"] + 1), timeout=6000)
    # A user coming online moves "users online".
    status, _ = await server.request("POST", "/api/users/heartbeat/", role="user", sub="late-user", company="co-1")
    assert status == 200
    await shows(page, "online-users", online_users + 1, timeout=6000)
    assert await page.evaluate("() => window.__sameDocument") is True  # no reload happened

    # Health: the database and the jobs, as /api/health says.
    health = await console.rest("/api/health")
    await expect(page.locator("#health-status")).to_have_attribute("data-health", health["status"])
    for job in health["jobs"]:
        await expect(page.locator(f'#jobs [data-job="{job}"]')).to_be_visible()

    phone = await console.open("/admin", viewport=PHONE)  # another tab: its own sessionStorage, so the form
    await expect(phone.locator("#token-form")).to_be_visible()
    await phone.fill("#token-input", console.admin_token())
    await phone.press("#token-input", "Enter")
    await expect(phone.locator("#content")).to_be_visible()
    await shows(phone, "online-customers", online_customers + 1)
    await expect(phone.locator("[data-chart-bar]")).to_have_count(30)
    width = await phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the overview is {width} px wide on a {PHONE['width']} px phone"
    await console.screenshot(phone, "overview-phone")


async def test_a_non_admin_token_gets_the_form_with_the_servers_sentence(console: Console) -> None:
    server = console.server
    page = await console.open("/admin", server.token("agent-1", "agent", "co-1"))
    form = page.locator("#token-form")
    await expect(form).to_be_visible()
    await expect(page.locator("#token-message")).to_have_text("This needs a token with role admin, not agent")
    await expect(page.locator("#content")).to_be_hidden()
    assert await page.evaluate("() => sessionStorage.getItem('presence.adminToken')") is None
    await expect(page.locator("#token-input")).to_be_focused()
    await console.screenshot(page, "refused-laptop")

    # A forged token: the server's sentence again.
    await page.fill("#token-input", "not-a-token")
    await page.click("button[type=submit]")
    await expect(page.locator("#token-message")).to_be_visible()
    assert "token" in (await page.locator("#token-message").inner_text()).lower()

    # The admin's token, typed: the console opens, and the other pages keep it (same tab).
    admin = console.admin_token()
    await page.fill("#token-input", admin)
    await page.keyboard.press("Enter")
    await expect(page.locator("#content")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.getItem('presence.adminToken')") == admin
    await expect(page.locator("nav.pages a[aria-current=page]")).to_have_text("Overview")

    phone = await console.open("/admin", server.token("user-1", "user", "co-1"), viewport=PHONE)
    await expect(phone.locator("#token-message")).to_have_text("This needs a token with role admin, not user")
    await console.screenshot(phone, "refused-phone")


async def test_an_expired_token_mid_session_shows_the_form(console: Console) -> None:
    page = await console.open("/admin", console.admin_token(ttl=3))
    await expect(page.locator("#content")).to_be_visible()
    # The server allows five seconds of clock skew past `exp`; then its sentence shows.
    await expect(page.locator("#token-form")).to_be_visible(timeout=15000)
    await expect(page.locator("#token-message")).to_contain_text("expired")
    await expect(page.locator("#content")).to_be_hidden()
    assert await page.evaluate("() => sessionStorage.getItem('presence.adminToken')") is None


async def test_a_lost_socket_says_so_and_catches_up_when_back(console: Console) -> None:
    server = console.server
    await server.conversation("c1")
    page = await console.open("/admin", console.admin_token())
    await expect(page.locator("#connection")).to_have_attribute("data-connection", "live")
    await shows(page, "online-customers", 0)

    await page.context.set_offline(True)
    await expect(page.locator("#reconnecting")).to_be_visible(timeout=5000)
    await expect(page.locator("#connection")).to_have_attribute("data-connection", "reconnecting")
    await server.widget("c1")  # missed while away: no event reaches this page
    await asyncio.sleep(1.5)
    await shows(page, "online-customers", 0)
    await console.screenshot(page, "overview-reconnecting")

    await page.context.set_offline(False)  # the browser's "online" event: reconnect at once, then re-read
    await expect(page.locator("#reconnecting")).to_be_hidden(timeout=5000)
    await expect(page.locator("#connection")).to_have_attribute("data-connection", "live")
    await shows(page, "online-customers", 1, timeout=6000)


async def test_the_console_is_usable_from_the_keyboard(console: Console) -> None:
    page = await console.open("/admin", console.admin_token())
    await expect(page.locator("#content")).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(page.locator("a.skip")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.locator("nav.pages a").first).to_be_focused()
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus can be seen
    await page.keyboard.press("Tab")
    await expect(page.locator('nav.pages a[href="/admin/sessions"]')).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/admin/sessions")
    await expect(page.locator("nav.pages a[aria-current=page]")).to_have_text("Sessions")
