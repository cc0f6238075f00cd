"""The console's `/admin/sessions` (issue 8) and `/admin/streams` (issue 11) in
headless Chromium, against the real §6 and §7 endpoints and events: durations
ticking, a new click and an end appearing without a reload, search and the
status filter narrowing the table, minutes per teacher, the payroll CSV saved
from a Blob; streams whose credits fall as blocks are charged, warned and ended
as it happens, each opening its statement. Screenshots at laptop and phone
widths go to test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from db.models import AttendanceSession
from tests.conftest import Server
from tests.test_console_browser import PHONE, Console, chromium  # noqa: F401 (fixture)
from tests.test_overview import db_of

try:
    from playwright.async_api import Browser, Page, expect
except ImportError:  # pragma: no cover - the test extras install it
    pass

pytestmark = pytest.mark.browser

HMS = re.compile(r"^\d+:\d\d:\d\d$")


@pytest.fixture
async def console(make_server: Any, browser: Browser, database_url: str) -> Any:
    server = await make_server(
        widget_offline_after=60,
        widget_heartbeat_interval=20,
        session_heartbeat_interval=0.5,
        session_timeout_after=60,
        session_sweep_every=0.5,
        stream_credit_block=2.5,
        stream_check_every=0.2,
        stream_warn_after=3.5,
        stream_end_after=120,
    )
    c = Console(server, browser, database_url.split("+")[0].split(":")[0])
    yield c
    assert c.errors == []
    outside = [u for u in c.requests if not u.startswith((f"{server.url}/", "data:", "blob:"))]
    assert outside == [], f"loaded from outside the server: {outside}"


# ---------------------------------------------------------------- §6 through its REST API
async def meeting(server: Server, meeting_id: str, title: str, teacher_id: str, teacher_name: str) -> None:
    status, body = await server.request(
        "PUT",
        f"/api/admin/meetings/{meeting_id}",
        json={
            "title": title,
            "zoomUrl": "https://zoom.example/j/1",
            "teacherId": teacher_id,
            "teacherName": teacher_name,
        },
    )
    assert status in (200, 201), body


async def click(server: Server, meeting_id: str, student_id: str, name: str) -> tuple[str, str]:
    """A student taps the Telegram button: `(session id, secret)`."""
    status, body = await server.request(
        "POST", f"/api/admin/meetings/{meeting_id}/links", json={"studentId": student_id, "studentName": name}
    )
    assert status == 201, body
    async with server.http.get("/t/" + body["url"].split("/t/", 1)[1]) as resp:
        html = await resp.text()
    config = re.search(r'<script type="application/json" id="tracking-config">(.*?)</script>', html, re.S)
    assert config, html[:300]
    import json

    cfg = json.loads(config.group(1))
    return cfg["sessionId"], cfg["secret"]


async def end_session(server: Server, session_id: str, secret: str) -> None:
    status, body = await server.request(
        "POST", f"/api/sessions/{session_id}/end", role=None, headers={"Authorization": f"Bearer {secret}"}, json={}
    )
    assert status == 200, body


async def seed_history(server: Server) -> None:
    """Ended sessions of a few hours ago, for the minutes and the payroll."""
    now = datetime.now(UTC)
    rows = [
        ("h1", "m1", "st-h1", "Hana", 180, 45, "completed"),
        ("h2", "m1", "st-h2", "Igor", 170, 30, "timeout"),
        ("h3", "m2", "st-h3", "=cmd()", 160, 61, "completed"),
    ]
    async with db_of(server).begin() as s:
        await s.execute(
            insert(AttendanceSession),
            [
                {"id": sid, "meeting_id": mid, "student_id": st, "student_name": name,
                 "clicked_at": now - timedelta(minutes=ago), "last_activity_at": now - timedelta(minutes=ago - minutes),
                 "session_ended_at": now - timedelta(minutes=ago - minutes), "status": status,
                 "duration_minutes": minutes}
                for sid, mid, st, name, ago, minutes, status in rows
            ],
        )  # fmt: skip


async def visible_ids(page: Page) -> list[str]:
    return await page.locator("#sessions-rows tr[data-session-id]").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.sessionId)"
    )


async def test_the_sessions_page_ticks_updates_searches_sums_and_downloads(console: Console) -> None:
    server = console.server
    await meeting(server, "m1", "Algebra <i>II</i>", "t1", "Ann Teacher")
    await meeting(server, "m2", "Physics", "t2", "Ben Teacher")
    await seed_history(server)
    bob, _ = await click(server, "m1", "st-bob", "Bob")
    eve, eve_secret = await click(server, "m2", "st-eve", "Eve")

    page = await console.open("/admin/sessions", console.admin_token())
    await expect(page.locator("#content")).to_be_visible()
    listed = (await console.rest("/api/admin/sessions"))["results"]
    await expect(page.locator("#sessions-rows tr[data-session-id]")).to_have_count(len(listed))
    assert await visible_ids(page) == [r["id"] for r in listed]  # newest click first, as the server says
    await expect(page.locator("#sessions-rows")).to_contain_text("Algebra <i>II</i>")  # shown as typed

    # The active durations tick every second, as h:mm:ss.
    cell = page.locator(f'tr[data-session-id="{bob}"] [data-duration]')
    first = int(await cell.get_attribute("data-duration") or "0")
    await expect(cell).not_to_have_attribute("data-duration", str(first), timeout=6000)
    await asyncio.sleep(1.1)
    later = int(await cell.get_attribute("data-duration") or "0")
    assert later >= first + 1
    assert HMS.match((await cell.locator(".duration").inner_text()).strip())
    ended = page.locator('tr[data-session-id="h1"] [data-duration]')
    await expect(ended).to_have_attribute("data-duration", str(45 * 60))
    await expect(ended.locator(".duration")).to_have_text("0:45:00")

    # A new click appears without a reload, on top; an end too.
    await page.evaluate("() => { window.__sameDocument = true; }")
    zoe, zoe_secret = await click(server, "m2", "st-zoe", "Zoë")
    await expect(page.locator(f'tr[data-session-id="{zoe}"]')).to_be_visible(timeout=6000)
    assert (await visible_ids(page))[0] == zoe
    await end_session(server, eve, eve_secret)
    await expect(page.locator(f'tr[data-session-id="{eve}"]')).to_have_attribute(
        "data-status", "completed", timeout=6000
    )
    assert await page.evaluate("() => window.__sameDocument") is True
    await console.screenshot(page, "sessions-laptop")

    # Search narrows the table (as the server's q does); the status filter too.
    await page.fill("#q", "zoë")
    await expect(page.locator("#sessions-rows tr[data-session-id]")).to_have_count(1)
    assert await visible_ids(page) == [zoe]
    await page.fill("#q", "ben teacher")  # the teacher's name matches too
    expected = [r["id"] for r in (await console.rest("/api/admin/sessions?q=ben%20teacher"))["results"]]
    await expect(page.locator("#sessions-rows tr[data-session-id]")).to_have_count(len(expected))
    assert await visible_ids(page) == expected and zoe in expected and bob not in expected
    await page.fill("#q", "")
    await page.select_option("#status", "active")
    expected = [r["id"] for r in (await console.rest("/api/admin/sessions?status=active"))["results"]]
    await expect(page.locator("#sessions-rows tr[data-session-id]")).to_have_count(len(expected))
    assert set(await visible_ids(page)) == {bob, zoe}
    # While filtered on active, an end takes the row away by itself.
    await end_session(server, zoe, zoe_secret)
    await expect(page.locator(f'tr[data-session-id="{zoe}"]')).to_have_count(0, timeout=6000)
    await page.select_option("#status", "")

    # Minutes per teacher for a chosen period, as the summary says.
    today = datetime.now(UTC).date()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    await page.fill("#from", period["from"])
    await page.fill("#to", period["to"])
    await page.click("#period button[type=submit]")
    summary = await console.rest(f"/api/admin/sessions/summary?from={period['from']}&to={period['to']}")
    for t in summary["teachers"]:
        await expect(
            page.locator(f'#teacher-rows tr[data-teacher-id="{t["teacherId"]}"] [data-minutes]')
        ).to_have_attribute("data-minutes", str(t["minutes"]))
    assert {t["teacherId"]: t["minutes"] for t in summary["teachers"]}["t1"] >= 75

    # The payroll CSV: fetched with the token, saved from a Blob, the server's file exactly.
    async with page.expect_download() as info:
        await page.click("#download")
    download = await info.value
    saved = await download.path()
    assert saved is not None
    status, csv = await server.request("GET", f"/api/admin/sessions/export.csv?from={period['from']}&to={period['to']}")
    assert status == 200
    content = await asyncio.to_thread(Path(saved).read_bytes)
    assert content.decode("utf-8") == csv  # byte for byte (RFC 4180's CRLF included)
    assert csv.startswith("session_id,meeting_id,")
    assert "'=cmd()" in csv
    assert download.suggested_filename.endswith(".csv")

    phone = await console.open("/admin/sessions", console.admin_token(), viewport=PHONE)
    await expect(phone.locator("#sessions-rows tr[data-session-id]").first).to_be_visible()
    width = await phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the sessions page is {width} px wide on a {PHONE['width']} px phone"
    await console.screenshot(phone, "sessions-phone")


# ---------------------------------------------------------------- §7 through its REST API
async def seller_stream(server: Server, seller: str, title: str, credits: int) -> str:
    status, body = await server.request("POST", f"/api/admin/users/{seller}/credits", json={"amount": credits})
    assert status == 200, body
    status, body = await server.request(
        "POST", "/api/livestreams/", role="user", sub=seller, company="co-1", json={"title": title}
    )
    assert status == 201, body
    return str(body["id"])


async def start(server: Server, seller: str, stream_id: str) -> None:
    status, body = await server.request(
        "PATCH", f"/api/livestreams/start/{stream_id}/", role="user", sub=seller, company="co-1"
    )
    assert status == 200, body


WATCH_CREDITS = """(id) => {
  window.__credits = [];
  const seen = () => {
    const el = document.querySelector(`tr[data-stream-id="${id}"] [data-credits]`);
    const v = el && el.getAttribute('data-credits');
    if (v !== null && v !== undefined && window.__credits[window.__credits.length - 1] !== v) window.__credits.push(v);
  };
  seen();
  const options = { subtree: true, childList: true, attributes: true };
  new MutationObserver(seen).observe(document.getElementById('content'), options);
}"""


async def test_the_streams_page_shows_credits_falling_warnings_and_the_end(console: Console) -> None:
    server = console.server
    steady = await seller_stream(server, "seller-2", "Steady <b>show</b>", 500)
    await start(server, "seller-2", steady)
    await server.request("POST", "/api/admin/users/seller-1/credits", json={"amount": 1})  # the seller exists

    page = await console.open("/admin/streams", console.admin_token())
    await expect(page.locator("#content")).to_be_visible()
    await expect(page.locator(f'tr[data-stream-id="{steady}"]')).to_have_attribute("data-stream-state", "live")
    await expect(page.locator("#live-rows")).to_contain_text("Steady <b>show</b>")
    # The time to the next block ticks.
    countdown = page.locator(f'tr[data-stream-id="{steady}"] [data-next-block]')
    before = await countdown.get_attribute("data-next-block")
    await expect(countdown).not_to_have_attribute("data-next-block", before or "", timeout=6000)

    # A stream with 3 credits (the grant above makes 4): it goes live (on the page
    # without a reload), is charged a block every 2.5 s, and ends when one cannot be paid.
    await page.evaluate("() => { window.__sameDocument = true; }")
    short = await seller_stream(server, "seller-1", "Flash sale", 3)
    await start(server, "seller-1", short)
    row = page.locator(f'tr[data-stream-id="{short}"]')
    await expect(row).to_have_attribute("data-stream-state", "live", timeout=6000)
    await page.evaluate(WATCH_CREDITS, short)
    await expect(page.locator("#stream-log")).to_contain_text("no heartbeat", timeout=8000)  # warned at 3.5 s
    await console.screenshot(page, "streams-laptop")
    await expect(row).to_have_attribute("data-stream-state", "ended", timeout=15000)
    await expect(row.locator("[data-end-reason]")).to_have_attribute("data-end-reason", "credits_exhausted")
    seen = [int(v) for v in await page.evaluate("() => window.__credits")]
    assert seen == sorted(seen, reverse=True) and len(seen) >= 3 and seen[-1] == 0, seen
    assert await page.evaluate("() => window.__sameDocument") is True
    await expect(page.locator("#stream-log")).to_contain_text("credits ran out")

    # Its statement of charges, as the server keeps it; the dialog closes with Escape.
    statement = await console.rest(f"/api/livestreams/{short}/charges/")
    assert statement["credits_consumed"] == 4
    button = row.locator("[data-statement]")
    await button.click()
    dialog = page.locator("#statement")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("tr[data-block]")).to_have_count(len(statement["charges"]))
    await expect(dialog).to_contain_text("4 credits charged for 4 blocks")
    await console.screenshot(page, "streams-statement-laptop", full_page=False)
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(button).to_be_focused()

    phone = await console.open("/admin/streams", console.admin_token(), viewport=PHONE)
    await expect(phone.locator(f'tr[data-stream-id="{short}"]')).to_have_attribute("data-stream-state", "ended")
    width = await phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the streams page is {width} px wide on a {PHONE['width']} px phone"
    await console.screenshot(phone, "streams-phone")


async def test_the_overview_counts_match_the_sessions_and_streams_lists(console: Console) -> None:
    server = console.server
    await meeting(server, "m1", "Algebra", "t1", "Ann")
    await click(server, "m1", "st-1", "Bob")
    await click(server, "m1", "st-2", "Eve")
    steady = await seller_stream(server, "seller-2", "Steady", 500)
    await start(server, "seller-2", steady)

    page = await console.open("/admin", console.admin_token())
    sessions = await console.rest("/api/admin/sessions?status=active")
    streams = await console.rest("/api/admin/livestreams?status=live")
    await expect(page.locator('[data-metric="live-sessions"]')).to_have_attribute("data-value", str(sessions["count"]))
    await expect(page.locator('[data-metric="live-streams"]')).to_have_attribute("data-value", str(streams["count"]))
    assert (sessions["count"], streams["count"]) == (2, 1)
    # A new click moves the count without a reload.
    await click(server, "m1", "st-3", "Zoë")
    await expect(page.locator('[data-metric="live-sessions"]')).to_have_attribute("data-value", "3", timeout=6000)

    for path in ("/admin/sessions", "/admin/streams"):
        refused = await console.open(path, server.token("agent-1", "agent", "co-1"))
        await expect(refused.locator("#token-message")).to_have_text("This needs a token with role admin, not agent")
