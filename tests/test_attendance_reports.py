"""The admin's reports of §6: the session list, minutes per teacher and meeting,
and the payroll CSV (RFC 4180, formulas neutralised, streamed)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from db.models import AttendanceSession
from domain.attendance import PAYROLL_HEADER
from domain.clock import iso, to_datetime
from presence.app import RUNTIME
from tests.attendance_support import STILL, FakeClock, beat, click, end, link, meeting, sessions
from tests.conftest import Server

DAY1 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()
DAY2 = DAY1 + 86_400
DAY3 = DAY2 + 86_400
WINDOW = "from=2026-11-23&to=2026-11-25"  # day 1 and day 2
HOSTILE_TITLE = '=HYPERLINK("http://evil.example","click"), "quoted"\nnext line'


async def attend(server: Server, clock: FakeClock, meeting_id: str, student: str, seconds: float, name: str) -> str:
    """A session the student ends after `seconds`, heartbeating (every 200 s) meanwhile."""
    page = await click(server, await link(server, meeting_id, student, name))
    left = seconds
    while left > 200:
        clock.advance(200)
        left -= 200
        assert (await beat(server, page))[0] == 200
    clock.advance(left)
    status, body = await end(server, page)
    assert status == 200, body
    return page.session_id


async def a_month(make_server: Any) -> tuple[Server, FakeClock, dict[str, str]]:
    """Two teachers, three meetings, sessions on three days (one still active)."""
    clock = FakeClock(DAY1)
    server = await make_server(clock=clock, **STILL)
    await meeting(server, "m1", title="Algebra", teacher_id="t1", teacher_name="Ann")
    await meeting(server, "m2", title=HOSTILE_TITLE, teacher_id="t1", teacher_name="Ann")
    await meeting(server, "m3", title="Geometry", teacher_id="t2", teacher_name="-Bob")
    ids = {
        "a": await attend(server, clock, "m1", "st1", 600, "@Carl"),  # 10 min
        "b": await attend(server, clock, "m2", "st2", 90, "+Dee"),  # 2 min (90 s rounds half up)
        "c": await attend(server, clock, "m3", "st3", 29, "Eve"),  # 0 min
    }
    clock.now = DAY2
    ids["d"] = await attend(server, clock, "m3", "st1", 3600, "@Carl")  # 60 min
    page = await click(server, await link(server, "m1", "st4", "Fay"))  # clicked day 2, times out
    clock.advance(100)
    assert (await beat(server, page))[0] == 200
    ids["e"] = page.session_id
    clock.advance(400)  # over: written down by the first report, no sweep needed
    clock.now = DAY3
    ids["f"] = await attend(server, clock, "m1", "st1", 300, "@Carl")  # outside the window
    await click(server, await link(server, "m1", "st5", "Gus"))  # active: never in a report
    return server, clock, ids


async def test_summary_sums_ended_sessions_per_teacher_and_meeting(make_server: Any) -> None:
    server, _, _ = await a_month(make_server)
    status, body = await server.request("GET", f"/api/admin/sessions/summary?{WINDOW}")
    assert status == 200, body
    assert body == {
        "from": "2026-11-23",
        "to": "2026-11-25",
        "teachers": [
            {"teacherId": "t1", "teacherName": "Ann", "sessions": 3, "minutes": 10 + 2 + 2},
            {"teacherId": "t2", "teacherName": "-Bob", "sessions": 2, "minutes": 0 + 60},
        ],
        "meetings": [
            {"meetingId": "m1", "meetingTitle": "Algebra", "sessions": 2, "minutes": 10 + 2},
            {"meetingId": "m2", "meetingTitle": HOSTILE_TITLE, "sessions": 1, "minutes": 2},
            {"meetingId": "m3", "meetingTitle": "Geometry", "sessions": 2, "minutes": 60},
        ],
    }
    status, one_day = await server.request("GET", "/api/admin/sessions/summary?from=2026-11-24&to=2026-11-24")
    assert status == 200 and one_day["teachers"] == [] and one_day["meetings"] == []


async def test_the_payroll_csv(make_server: Any) -> None:
    server, _, ids = await a_month(make_server)
    async with server.http.get(f"/api/admin/sessions/export.csv?{WINDOW}", headers=server.auth()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="sessions-2026-11-23-to-2026-11-25.csv"'
        raw = await resp.read()
    text = raw.decode("utf-8")
    assert text.startswith(",".join(PAYROLL_HEADER) + "\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(PAYROLL_HEADER)
    by_id = {r[0]: dict(zip(PAYROLL_HEADER, r, strict=True)) for r in rows[1:]}
    assert [r[0] for r in rows[1:]] == [ids[k] for k in "abcde"]  # oldest click first
    b = by_id[ids["b"]]
    # RFC 4180: the comma, quotes and newline of the title survive; the formula is neutralised.
    assert b["meeting_title"] == "'" + HOSTILE_TITLE
    assert b["student_name"] == "'+Dee" and b["duration_minutes"] == "2" and b["status"] == "completed"
    assert by_id[ids["a"]]["student_name"] == "'@Carl" and by_id[ids["c"]]["teacher_name"] == "'-Bob"
    e = by_id[ids["e"]]
    assert (e["status"], e["duration_minutes"], e["ended_at"]) == ("timeout", "2", iso(DAY2 + 3700))
    assert by_id[ids["a"]]["clicked_at"] == iso(DAY1) and by_id[ids["a"]]["ended_at"] == iso(DAY1 + 600)
    assert '"\'=HYPERLINK(""http://evil.example"",""click""), ""quoted""\nnext line"' in text


async def test_an_empty_window_is_a_header_alone(make_server: Any) -> None:
    server = await make_server(**STILL)
    status, body = await server.request("GET", "/api/admin/sessions/export.csv?from=2026-01-01&to=2026-01-01")
    assert status == 200 and body == ",".join(PAYROLL_HEADER) + "\r\n"


async def test_the_csv_streams_many_sessions(make_server: Any) -> None:
    """More rows than one database batch and one response chunk: all there, in order."""
    server = await make_server(**STILL)
    await meeting(server, "m1", title="x" * 400)
    expected = [f"s{n:05d}" for n in range(2500)]
    clicked = [to_datetime(DAY1 + n // 2) for n in range(2500)]  # pairs share a click time: ties by id
    async with server.app[RUNTIME].db.begin() as tx:
        await tx.execute(
            insert(AttendanceSession),
            [
                {
                    "id": sid,
                    "meeting_id": "m1",
                    "student_id": sid,
                    "student_name": None,
                    "clicked_at": at,
                    "last_activity_at": at,
                    "session_ended_at": at,
                    "status": "timeout",
                    "duration_minutes": 0,
                }
                for sid, at in zip(expected, clicked, strict=True)
            ],
        )
    async with server.http.get(f"/api/admin/sessions/export.csv?{WINDOW}", headers=server.auth()) as resp:
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        rows = list(csv.reader(io.StringIO((await resp.read()).decode(), newline="")))
    assert [r[0] for r in rows[1:]] == expected


async def test_the_list_is_newest_first_with_filters_and_pages(make_server: Any) -> None:
    server, _, ids = await a_month(make_server)
    everything = await sessions(server)
    assert everything["count"] == 7
    order = [r["id"] for r in everything["results"]]
    assert order[1:] == [ids[k] for k in "fedcba"]  # the active one clicked last is first
    active = await sessions(server, "?status=active")
    assert active["count"] == 1 and active["results"][0]["studentName"] == "Gus"
    timeouts = await sessions(server, "?status=timeout")
    assert [r["id"] for r in timeouts["results"]] == [ids["e"]]
    page = await sessions(server, "?limit=2&offset=2")
    assert page["count"] == 7 and [r["id"] for r in page["results"]] == order[2:4]
    carl = await sessions(server, "?q=%40carl&status=completed")
    assert carl["count"] == 3
