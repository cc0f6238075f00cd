"""Attendance sessions end to end (SPEC.md §6), with a real server and an HTTP
client doing what the Telegram button, the tracking page and the admin do, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from domain.clock import iso
from tests.attendance_support import (
    QUICK,
    STILL,
    FakeClock,
    beat,
    click,
    end,
    link,
    meeting,
    row,
    sessions,
    sweep,
)


async def test_click_heartbeats_then_a_timeout_after_a_second(make_server: Any) -> None:
    """The real thing on the real clock: the page heartbeats, then stops; the job
    ends the session at its last heartbeat, status timeout."""
    server = await make_server(**QUICK)
    await meeting(server, title="Algebra", teacher_name="Ann")
    page = await click(server, await link(server, student="st1", name="Bob"))
    assert page.status == 200
    assert page.config is not None
    assert set(page.config) == {"sessionId", "secret", "heartbeatInterval", "zoomUrl", "meetingTitle"}
    assert page.config["heartbeatInterval"] == 0.2
    assert (page.config["zoomUrl"], page.config["meetingTitle"]) == ("https://zoom.us/j/123", "Algebra")
    listed = await row(server, page.session_id)
    assert listed["status"] == "active" and listed["studentName"] == "Bob" and listed["teacherName"] == "Ann"
    assert listed["clickedAt"] == listed["lastActivityAt"] and listed["sessionEndedAt"] is None

    last: dict[str, Any] = {}
    for _ in range(4):
        await asyncio.sleep(0.2)
        sent = time.time()  # the server takes the heartbeat's time on arrival: not before this
        status, last = await beat(server, page)
        assert status == 200, last
        assert last["status"] == "active" and last["elapsedMinutes"] == 0

    deadline = sent + 10
    while (r := await row(server, page.session_id))["status"] == "active":
        assert time.time() < deadline, r
        await asyncio.sleep(0.1)
    # Over a second after the last heartbeat (not before), within a sweep or two after that.
    assert time.time() - sent >= 1.0
    assert r["status"] == "timeout" and r["sessionEndedAt"] == last["lastActivityAt"] == r["lastActivityAt"]
    assert r["durationMinutes"] == 0
    status, body = await beat(server, page)
    assert status == 410 and body["status"] == "timeout" and body["error"]


async def test_durations_are_whole_minutes_rounded_half_up(make_server: Any) -> None:
    """28 s is 0 minutes, 40 s is 1, ended by the student ("I have left") or by the
    timeout (counted to the last heartbeat) alike; on the server's own clock."""
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)

    async def completed_after(seconds: float, student: str) -> dict[str, Any]:
        page = await click(server, await link(server, student=student))
        clock.advance(seconds)
        status, body = await end(server, page)
        assert status == 200, body
        return body

    short = await completed_after(28, "st-28")
    long = await completed_after(40, "st-40")
    assert (short["status"], short["durationMinutes"]) == ("completed", 0)
    assert (long["status"], long["durationMinutes"]) == ("completed", 1)
    assert long["sessionEndedAt"] == iso(clock.now)

    async def timed_out_after(seconds: float, student: str) -> str:
        page = await click(server, await link(server, student=student))
        clock.advance(seconds)
        status, body = await beat(server, page)
        assert status == 200 and body["elapsedMinutes"] == int(seconds // 60), body
        return page.session_id

    t28 = await timed_out_after(28, "st-t28")
    t40 = await timed_out_after(40, "st-t40")
    last_heartbeat = iso(clock.now)
    clock.advance(300)  # exactly the timeout: over
    assert await sweep(server) == 2
    a, b = await row(server, t28), await row(server, t40)
    assert (a["status"], a["durationMinutes"], b["status"], b["durationMinutes"]) == ("timeout", 0, "timeout", 1)
    assert b["sessionEndedAt"] == b["lastActivityAt"] == last_heartbeat


async def test_elapsed_and_listed_durations_are_live_while_active(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    page = await click(server, await link(server))
    clock.advance(150)
    status, body = await beat(server, page)
    assert (status, body["elapsedMinutes"]) == (200, 2)  # whole minutes since the click
    assert (await row(server, page.session_id))["durationMinutes"] == 3  # 2.5 rounds half up
    clock.advance(120)
    assert (await row(server, page.session_id))["durationMinutes"] == 5


async def test_a_second_click_reuses_the_active_session(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    url = await link(server)
    first = await click(server, url)
    clock.advance(45)
    again = await click(server, url)
    assert (again.session_id, again.secret) == (first.session_id, first.secret)
    listed = await sessions(server)
    assert listed["count"] == 1
    assert listed["results"][0]["lastActivityAt"] == iso(clock.now)  # the click shows the student is there
    # Another student's link: another session, with another secret.
    other = await click(server, await link(server, student="st2"))
    assert other.session_id != first.session_id and other.secret != first.secret
    # Once ended, the same link opens a new session.
    assert (await end(server, first))[0] == 200
    third = await click(server, url)
    assert third.session_id not in (first.session_id, other.session_id)


async def test_a_click_after_the_timeout_ends_the_old_session_and_starts_a_new_one(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    url = await link(server)
    first = await click(server, url)
    clock.advance(40)
    assert (await beat(server, first))[0] == 200
    clock.advance(400)  # no sweep ran; the session is over all the same
    second = await click(server, url)
    assert second.session_id != first.session_id
    old = await row(server, first.session_id)
    assert (old["status"], old["durationMinutes"]) == ("timeout", 1)


async def test_a_late_heartbeat_ends_the_session_as_the_sweep_would(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    page = await click(server, await link(server))
    clock.advance(90)
    assert (await beat(server, page))[0] == 200
    last = iso(clock.now)
    clock.advance(300.5)
    status, body = await beat(server, page)
    assert status == 410 and body["status"] == "timeout" and "ended" in body["error"]
    assert set(body) == {"error", "status"}
    r = await row(server, page.session_id)
    assert (r["status"], r["sessionEndedAt"], r["durationMinutes"]) == ("timeout", last, 2)
    # An ended session stays ended: heartbeats and end requests are 410 from now on.
    assert (await beat(server, page))[0] == 410
    status, body = await end(server, page)
    assert (status, body["status"]) == (410, "timeout")
    assert await sweep(server) == 0


async def test_a_late_end_request_is_a_timeout_too(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    page = await click(server, await link(server))
    clock.advance(301)
    status, body = await end(server, page)
    assert (status, body["status"]) == (410, "timeout")
    r = await row(server, page.session_id)
    assert (r["status"], r["durationMinutes"], r["sessionEndedAt"]) == ("timeout", 0, r["clickedAt"])


async def test_ending_answers_the_row_and_a_second_end_is_gone(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server, title="Geometry", teacher_id="t9", teacher_name="Tess")
    page = await click(server, await link(server, student="st7", name="Eve"))
    clicked = iso(clock.now)
    clock.advance(95)
    status, body = await end(server, page)
    assert status == 200
    assert body == {
        "id": page.session_id,
        "meetingId": "m1",
        "meetingTitle": "Geometry",
        "studentId": "st7",
        "studentName": "Eve",
        "teacherId": "t9",
        "teacherName": "Tess",
        "clickedAt": clicked,
        "lastActivityAt": iso(clock.now),
        "sessionEndedAt": iso(clock.now),
        "status": "completed",
        "durationMinutes": 2,
    }
    assert await row(server, page.session_id) == body
    status, again = await end(server, page)
    assert (status, again["status"]) == (410, "completed")
    status, late = await beat(server, page)
    assert (status, late["status"]) == (410, "completed")


async def test_an_empty_body_is_as_good_as_an_empty_object(make_server: Any) -> None:
    server = await make_server(**STILL)
    await meeting(server)
    page = await click(server, await link(server))
    headers = {"Authorization": f"Bearer {page.secret}"}
    for kw in ({}, {"data": b""}, {"json": {}}):
        async with server.http.post(f"/api/sessions/{page.session_id}/heartbeat", headers=headers, **kw) as resp:
            assert resp.status == 200, await resp.text()


async def test_a_restart_mid_session_changes_nothing(make_server: Any) -> None:
    """Sessions live in the database: a new server on the same database goes on
    with the same id and secret, and the duration counts from the first click."""
    clock = FakeClock()
    first = await make_server(clock=clock, **STILL)
    await meeting(first)
    url = await link(first)
    page = await click(first, url)
    clock.advance(20)
    assert (await beat(first, page))[0] == 200
    await first.stop()

    clock.advance(10)
    second = await make_server(clock=clock, **STILL)
    assert (await beat(second, page))[0] == 200  # the same secret works on the new server
    again = await click(second, url)
    assert (again.session_id, again.secret) == (page.session_id, page.secret)
    clock.advance(10)  # 40 s since the click
    status, body = await end(second, page)
    assert (status, body["status"], body["durationMinutes"]) == (200, "completed", 1)


async def test_health_lists_the_sweep_and_records_manual_runs(make_server: Any) -> None:
    server = await make_server(**STILL)
    status, health = await server.request("GET", "/api/health", role=None)
    assert status == 200
    assert health["jobs"]["session_timeout"] == {"last_run": None, "last_result": None}
    assert await sweep(server) == 0
    status, health = await server.request("GET", "/api/health", role=None)
    assert health["jobs"]["session_timeout"]["last_run"] is not None
    assert health["jobs"]["session_timeout"]["last_result"] == 0


async def test_metrics_count_starts_and_ends_by_status(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    done = await click(server, await link(server, student="a"))
    await click(server, await link(server, student="a"))  # reused: not a start
    await click(server, await link(server, student="b"))
    assert (await end(server, done))[0] == 200
    clock.advance(301)
    assert await sweep(server) == 1
    status, text = await server.request("GET", "/metrics", role=None)
    assert status == 200
    assert "presence_attendance_sessions_started_total 2.0" in text
    assert 'presence_attendance_sessions_ended_total{status="completed"} 1.0' in text
    assert 'presence_attendance_sessions_ended_total{status="timeout"} 1.0' in text


async def test_meetings_are_created_then_updated(make_server: Any) -> None:
    server = await make_server(**STILL)
    status, created = await server.request(
        "PUT",
        "/api/admin/meetings/m1",
        json={"title": "Algebra", "zoomUrl": "https://zoom.us/j/1", "teacherId": "t1", "startsAt": "2026-11-23T09:30Z"},
    )
    assert status == 201
    assert created["startsAt"] == "2026-11-23T09:30:00.000Z" and created["teacherName"] is None
    assert set(created) == {"id", "title", "zoomUrl", "teacherId", "teacherName", "startsAt", "createdAt", "updatedAt"}
    status, updated = await server.request(
        "PUT",
        "/api/admin/meetings/m1",
        json={"title": "Algebra II", "zoomUrl": "zoommtg://zoom.us/join?confno=1", "teacherId": "t2"},
    )
    assert status == 200
    assert (updated["title"], updated["teacherId"], updated["startsAt"]) == ("Algebra II", "t2", None)
    assert updated["createdAt"] == created["createdAt"]
    status, got = await server.request("GET", "/api/admin/meetings/m1")
    assert (status, got) == (200, updated)
    # The page shows what the meeting says now.
    page = await click(server, await link(server))
    assert page.config is not None and page.config["meetingTitle"] == "Algebra II"


async def test_a_link_says_who_it_is_for_and_until_when(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, public_url="https://school.example/", tracking_link_ttl=3600, **STILL)
    await meeting(server)
    status, body = await server.request(
        "POST", "/api/admin/meetings/m1/links", json={"studentId": "st1", "studentName": "Иван"}
    )
    assert status == 201
    assert body["url"].startswith("https://school.example/t/")
    assert body["expiresAt"] == iso(clock.now + 3600)
    page = await click(server, body["url"])
    assert (await row(server, page.session_id))["studentName"] == "Иван"


async def test_the_openapi_document_covers_every_attendance_endpoint(server: Any) -> None:
    status, doc = await server.request("GET", "/api/openapi.json", role=None)
    assert status == 200
    paths = doc["paths"]
    expected = {
        ("put", "/api/admin/meetings/{id}"): ("bearer", {"200", "201", "400", "401", "403"}),
        ("get", "/api/admin/meetings/{id}"): ("bearer", {"200", "404"}),
        ("post", "/api/admin/meetings/{id}/links"): ("bearer", {"201", "400", "404"}),
        ("post", "/api/sessions/{id}/heartbeat"): ("session", {"200", "401", "403", "404", "410"}),
        ("post", "/api/sessions/{id}/end"): ("session", {"200", "401", "403", "404", "410"}),
        ("post", "/api/admin/auto-timeout"): ("bearer", {"200", "401", "403"}),
        ("post", "/api/cron/session-timeout"): ("cron", {"200", "401", "503"}),
        ("get", "/api/admin/sessions"): ("bearer", {"200"}),
        ("get", "/api/admin/sessions/summary"): ("bearer", {"200", "400"}),
        ("get", "/api/admin/sessions/export.csv"): ("bearer", {"200", "400"}),
    }
    for (method, path), (scheme, codes) in expected.items():
        op = paths[path][method]
        assert codes <= set(op["responses"]), (method, path, op["responses"])
        assert op.get("security") == ([{scheme: []}] if scheme else None), (method, path)
        if method in ("post", "put"):
            assert op["requestBody"]["content"]["application/json"]["schema"]["type"] == "object", path
    assert paths["/api/admin/meetings/{id}"]["put"]["requestBody"]["required"] is True
    assert paths["/api/sessions/{id}/heartbeat"]["post"]["requestBody"]["required"] is False
    listed = {p["name"]: p for p in paths["/api/admin/sessions"]["get"]["parameters"]}
    assert set(listed) == {"status", "q", "limit", "offset"}
    assert listed["status"]["schema"]["enum"] == ["active", "completed", "timeout"]
    window = {p["name"]: p["required"] for p in paths["/api/admin/sessions/summary"]["get"]["parameters"]}
    assert window == {"from": True, "to": True}
    # The tracking link answers an HTML page, valid or not by its signature, which no schema
    # can say: like the other pages it is not in the REST API's document.
    assert "/t/{token}" not in paths


async def test_a_burst_of_clicks_opens_one_session(make_server: Any) -> None:
    """A student tapping the button again and again (or Telegram opening it twice)."""
    server = await make_server(**STILL)
    await meeting(server)
    url = await link(server)
    _, admins = await server.socket(server.token("admin-1", "admin"))
    pages = await asyncio.gather(*(click(server, url) for _ in range(8)))
    assert {p.status for p in pages} == {200}
    assert len({(p.session_id, p.secret) for p in pages}) == 1
    assert (await sessions(server))["count"] == 1
    await admins.next("session:started")
    await asyncio.sleep(0.3)
    assert admins.names().count("session:started") == 1


async def test_reports_never_show_an_over_session_as_active(make_server: Any) -> None:
    """No sweep has run (its period is an hour here): the admin's read writes down
    what is already true, and admins hear the end."""
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    page = await click(server, await link(server))
    _, admins = await server.socket(server.token("admin-1", "admin"))
    clock.advance(75)
    assert (await beat(server, page))[0] == 200
    clock.advance(300)
    listed = await sessions(server, "?status=active")
    assert listed["count"] == 0
    r = await row(server, page.session_id)
    assert (r["status"], r["durationMinutes"]) == ("timeout", 1)
    assert (await admins.next("session:ended"))["id"] == page.session_id


async def test_one_log_line_per_start_and_end(make_server: Any, caplog: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    with caplog.at_level("INFO", logger="presence.attendance"):
        page = await click(server, await link(server, student="st1"))
        await click(server, await link(server, student="st1"))
        clock.advance(61)
        assert (await end(server, page))[0] == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "presence.attendance"]
    assert lines == [
        f"attendance session started id={page.session_id} meeting=m1 student=st1",
        f"attendance session ended id={page.session_id} status=completed minutes=1 ended_at={iso(clock.now)}",
    ]
