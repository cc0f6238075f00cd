"""Helpers for the §6 tests: a clock the test moves, and the student's and admin's
requests spelled once (a meeting, a link, a click, heartbeats, the end)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from tests.conftest import Server

CONFIG = re.compile(r'<script type="application/json" id="tracking-config">(.*?)</script>', re.S)
ERROR = re.compile(r'<p class="message" id="tracking-error" data-tracking-error role="alert">(.*?)</p>', re.S)

# Real-time lifecycle in about a second (infra/settings.py: interval < timeout).
QUICK = {"session_heartbeat_interval": 0.2, "session_timeout_after": 1.0, "session_sweep_every": 0.2}
# With a clock the test moves: nothing happens unless the test says so.
STILL = {"session_heartbeat_interval": 30.0, "session_timeout_after": 300.0, "session_sweep_every": 3600.0}


class FakeClock:
    """The server's clock, moved by the test (whole seconds from a recent instant)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time()) if start is None else start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass(frozen=True, slots=True)
class Page:
    """The answer to a click on a tracking link."""

    status: int
    html: str
    config: dict[str, Any] | None

    @property
    def session_id(self) -> str:
        assert self.config is not None, self.html[:500]
        return str(self.config["sessionId"])

    @property
    def secret(self) -> str:
        assert self.config is not None, self.html[:500]
        return str(self.config["secret"])

    @property
    def error(self) -> str | None:
        m = ERROR.search(self.html)
        return None if m is None else m.group(1)


async def meeting(
    server: Server,
    meeting_id: str = "m1",
    title: str = "Algebra",
    teacher_id: str = "t1",
    teacher_name: str | None = "Ann Teacher",
    zoom_url: str = "https://zoom.us/j/123",
) -> dict[str, Any]:
    status, body = await server.request(
        "PUT",
        f"/api/admin/meetings/{meeting_id}",
        json={"title": title, "zoomUrl": zoom_url, "teacherId": teacher_id, "teacherName": teacher_name},
    )
    assert status in (200, 201), body
    return body


async def link(server: Server, meeting_id: str = "m1", student: str = "st1", name: str | None = "Bob") -> str:
    status, body = await server.request(
        "POST", f"/api/admin/meetings/{meeting_id}/links", json={"studentId": student, "studentName": name}
    )
    assert status == 201, body
    return str(body["url"])


def path_of(url: str) -> str:
    """The path of a tracking URL (PRESENCE_PUBLIC_URL is not the test server's)."""
    return "/t/" + url.split("/t/", 1)[1]


async def click(server: Server, url_or_path: str) -> Page:
    path = path_of(url_or_path) if "/t/" in url_or_path else url_or_path
    async with server.http.get(path) as resp:
        html = await resp.text()
        assert resp.content_type == "text/html", (resp.status, html[:300])
        m = CONFIG.search(html)
        return Page(resp.status, html, json.loads(m.group(1)) if m else None)


async def session_call(server: Server, session_id: str, action: str, secret: str | None, **kw: Any) -> tuple[int, Any]:
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    if "data" not in kw and "json" not in kw:
        kw["json"] = {}
    return await server.request("POST", f"/api/sessions/{session_id}/{action}", role=None, headers=headers, **kw)


async def beat(server: Server, page: Page) -> tuple[int, Any]:
    return await session_call(server, page.session_id, "heartbeat", page.secret)


async def end(server: Server, page: Page) -> tuple[int, Any]:
    return await session_call(server, page.session_id, "end", page.secret)


async def sessions(server: Server, query: str = "") -> dict[str, Any]:
    status, body = await server.request("GET", f"/api/admin/sessions{query}")
    assert status == 200, body
    return body


async def row(server: Server, session_id: str) -> dict[str, Any]:
    for r in (await sessions(server, "?limit=500"))["results"]:
        if r["id"] == session_id:
            return r
    raise AssertionError(f"session {session_id} is not listed")


async def sweep(server: Server) -> int:
    status, body = await server.request("POST", "/api/admin/auto-timeout")
    assert status == 200, body
    return int(body["ended"])
