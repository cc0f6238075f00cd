"""Attendance storage (db.queries.attendance) on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, text

from db.engine import SessionFactory
from db.models import AttendanceSession
from db.queries import attendance as q

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=300)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def meeting(
    sessions: SessionFactory, mid: str = "m1", title: str = "Algebra", teacher: str = "t1", name: str = "Ann"
) -> None:
    async with sessions.begin() as s:
        await q.upsert_meeting(
            s, mid, title=title, zoom_url="https://zoom.example/j/1", teacher_id=teacher, teacher_name=name,
            starts_at=None, now=T0,
        )  # fmt: skip


async def click(
    sessions: SessionFactory, student: str = "st1", now: datetime = T0, mid: str = "m1", name: str | None = "Bob"
) -> q.Started:
    async with sessions.begin() as s:
        return await q.find_or_start(s, mid, student, name, now, now - TIMEOUT)


async def test_meeting_is_created_then_updated(sessions: SessionFactory) -> None:
    async with sessions.begin() as s:
        first, created = await q.upsert_meeting(
            s, "m1", title="Algebra", zoom_url="https://z/1", teacher_id="t1", teacher_name=None,
            starts_at=at(3600), now=T0,
        )  # fmt: skip
        assert created and first.starts_at == at(3600) and first.created_at == T0
    async with sessions.begin() as s:
        second, created = await q.upsert_meeting(
            s, "m1", title="Algebra II", zoom_url="https://z/2", teacher_id="t2", teacher_name="Ann",
            starts_at=None, now=at(10),
        )  # fmt: skip
    assert not created
    assert (second.title, second.teacher_id, second.created_at, second.updated_at) == ("Algebra II", "t2", T0, at(10))


async def test_a_second_click_reuses_the_active_session(sessions: SessionFactory) -> None:
    await meeting(sessions)
    first = await click(sessions)
    assert first.created and first.timed_out == []
    row = first.session
    assert (row.status, row.clicked_at, row.last_activity_at, row.meeting_title) == ("active", T0, T0, "Algebra")
    again = await click(sessions, now=at(120))
    assert not again.created and again.session.id == row.id
    assert again.session.last_activity_at == at(120) and again.session.clicked_at == T0
    other = await click(sessions, student="st2", now=at(130))
    assert other.created and other.session.id != row.id


async def test_concurrent_clicks_make_one_active_session(sessions: SessionFactory) -> None:
    await meeting(sessions)
    results = await asyncio.gather(*(click(sessions, now=at(i / 1000)) for i in range(20)))
    assert len({r.session.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(AttendanceSession)) == 1


async def test_a_click_after_the_timeout_ends_the_old_session_and_starts_a_new_one(sessions: SessionFactory) -> None:
    await meeting(sessions)
    old = (await click(sessions)).session
    later = await click(sessions, now=at(300))  # exactly the timeout since the last activity
    assert later.created and later.session.id != old.id
    assert [(r.id, r.status, r.session_ended_at, r.duration_minutes) for r in later.timed_out] == [
        (old.id, "timeout", T0, 0)
    ]


async def test_the_sweep_ends_exactly_the_expired_sessions_with_exact_durations(sessions: SessionFactory) -> None:
    await meeting(sessions)
    spans = {"a": 29.999999, "b": 30, "c": 89.999999, "d": 90, "e": 3600}
    for student, span in spans.items():
        sid = (await click(sessions, student)).session.id
        async with sessions.begin() as s:
            assert await q.record_heartbeat(s, sid, at(span), at(-1)) is not None
    fresh = (await click(sessions, "fresh", now=at(3600.000001))).session.id
    async with sessions.begin() as s:
        assert await q.time_out(s, at(29)) == []  # nobody is that old
    async with sessions.begin() as s:
        ended = await q.time_out(s, at(3600))  # "e" is exactly at the cutoff: over
    assert {r.student_id: r.duration_minutes for r in ended} == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 60}
    assert all(r.status == "timeout" and r.session_ended_at == r.last_activity_at for r in ended)
    async with sessions.begin() as s:
        assert await q.time_out(s, at(3600)) == []  # each session ends once
        row = await q.get_session(s, fresh)
        assert row is not None and row.status == "active"


async def test_the_sweep_spares_sessions_with_a_recent_heartbeat(sessions: SessionFactory) -> None:
    await meeting(sessions)
    kept = (await click(sessions, "kept", now=at(1))).session.id
    gone = (await click(sessions, "gone")).session.id
    async with sessions.begin() as s:
        ended = await q.time_out(s, at(0.5))
    assert [r.id for r in ended] == [gone]
    async with sessions() as s:
        row = await q.get_session(s, kept)
    assert row is not None and row.status == "active" and row.duration_minutes is None


async def test_heartbeats_only_while_active_and_not_over(sessions: SessionFactory) -> None:
    await meeting(sessions)
    sid = (await click(sessions)).session.id
    async with sessions.begin() as s:
        row = await q.record_heartbeat(s, sid, at(200), at(200) - TIMEOUT)
        assert row is not None and row.last_activity_at == at(200)
        # A heartbeat that crossed a later one never moves the time back.
        row = await q.record_heartbeat(s, sid, at(150), at(150) - TIMEOUT)
        assert row is not None and row.last_activity_at == at(200)
        assert await q.record_heartbeat(s, "nope", at(201), at(201) - TIMEOUT) is None
    async with sessions.begin() as s:  # late: 300 s after the last heartbeat
        assert await q.record_heartbeat(s, sid, at(500), at(500) - TIMEOUT) is None
        row = await q.get_session(s, sid)
        assert row is not None and row.status == "active" and row.last_activity_at == at(200)
        ended = await q.time_out(s, at(500) - TIMEOUT, session_id=sid)
        assert [(r.status, r.session_ended_at, r.duration_minutes) for r in ended] == [("timeout", at(200), 3)]
        assert await q.record_heartbeat(s, sid, at(501), at(501) - TIMEOUT) is None


async def test_the_end_request_completes_now(sessions: SessionFactory) -> None:
    await meeting(sessions)
    sid = (await click(sessions)).session.id
    async with sessions.begin() as s:
        row = await q.complete(s, sid, at(150), at(150) - TIMEOUT)
    assert row is not None
    assert (row.status, row.session_ended_at, row.last_activity_at, row.duration_minutes) == (
        "completed", at(150), at(150), 3
    )  # fmt: skip
    async with sessions.begin() as s:
        assert await q.complete(s, sid, at(160), at(160) - TIMEOUT) is None
        assert await q.complete(s, "nope", at(160), at(160) - TIMEOUT) is None


async def test_search_is_literal_and_case_insensitive(sessions: SessionFactory) -> None:
    await meeting(sessions, "m1", title="100% Algebra", name="Ann")
    await meeting(sessions, "m2", title="Geometry", teacher="t2", name="O'Neil")
    names = {"s1": "bob_smith", "s2": "bobXsmith", "s3": "Иван Петров", "s4": "a/b", "s5": 'Zed "Z"'}
    for i, (student, name) in enumerate(names.items()):
        await click(sessions, student, now=at(i), mid="m2", name=name)
    await click(sessions, "s6", now=at(10), mid="m1", name="Carol")

    async def found(needle: str) -> list[str]:
        async with sessions() as s:
            count, rows = await q.page(s, q=needle)
        assert count == len(rows)
        return sorted(r.student_id for r in rows)

    assert await found("b_s") == ["s1"]  # `_` is not "any character"
    assert await found("%") == ["s6"]  # only the title with a percent sign
    assert await found("0% a") == ["s6"]
    assert await found("o'neil") == ["s1", "s2", "s3", "s4", "s5"]  # teacher, quote and case
    assert await found("иван") == ["s3"]  # Unicode case folding on both databases
    assert await found("/") == ["s4"]
    assert await found('"z"') == ["s5"]
    assert await found("nobody") == []


async def test_page_is_newest_click_first_with_count_and_status(sessions: SessionFactory) -> None:
    await meeting(sessions)
    for i in range(7):
        await click(sessions, f"s{i}", now=at(i))
    async with sessions.begin() as s:
        await q.time_out(s, at(2), meeting_id="m1")  # s0, s1, s2 end
    async with sessions() as s:
        count, rows = await q.page(s, limit=3, offset=1)
        assert count == 7 and [r.student_id for r in rows] == ["s5", "s4", "s3"]
        count, rows = await q.page(s, status="timeout")
        assert count == 3 and [r.student_id for r in rows] == ["s2", "s1", "s0"]


async def test_summary_and_export_cover_ended_sessions_clicked_in_the_window(sessions: SessionFactory) -> None:
    await meeting(sessions, "m1", title="Algebra", teacher="t1", name="Ann")
    await meeting(sessions, "m2", title="Geometry", teacher="t1", name="Ann")
    await meeting(sessions, "m3", title="Physics", teacher="t2", name="Ben")
    day = 86_400
    plan = [  # (student, meeting, click, minutes)
        ("before", "m1", -1, 10),
        ("a", "m1", 0, 30),
        ("b", "m2", 100, 45),
        ("c", "m3", day - 1, 60),
        ("after", "m3", day, 5),
    ]
    for student, mid, clicked, minutes in plan:
        await click(sessions, student, now=at(clicked), mid=mid)
        async with sessions.begin() as s:
            sid = (await q.find_or_start(s, mid, student, None, at(clicked), at(clicked) - TIMEOUT)).session.id
            await q.complete(s, sid, at(clicked + minutes * 60), at(clicked) - TIMEOUT)
    await click(sessions, "still-active", now=at(50), mid="m1")
    async with sessions() as s:
        summary = await q.summary(s, T0, at(day))
        exported = [r async for r in q.export_rows(s, T0, at(day), batch=2)]
    assert summary.teachers == [q.TeacherMinutes("t1", "Ann", 2, 75), q.TeacherMinutes("t2", "Ben", 1, 60)]
    assert summary.meetings == [
        q.MeetingMinutes("m1", "Algebra", 1, 30),
        q.MeetingMinutes("m2", "Geometry", 1, 45),
        q.MeetingMinutes("m3", "Physics", 1, 60),
    ]
    assert [r.student_id for r in exported] == ["a", "b", "c"]
    assert all(r.status == "completed" for r in exported)


async def test_the_sweep_reads_the_partial_index(database_url: str, sessions: SessionFactory) -> None:
    """With many active sessions and a few expiring, the planner answers the sweep
    from the index of active sessions' last activity (no scan of the table)."""
    await meeting(sessions)
    rows = [
        {"id": f"s{i}", "meeting_id": "m1", "student_id": f"st{i}", "clicked_at": T0, "status": "active",
         "last_activity_at": at(-600 if i < 5 else i)}
        for i in range(3000)
    ]  # fmt: skip
    async with sessions.begin() as s:
        await s.execute(insert(AttendanceSession), rows)
    sqlite = database_url.startswith("sqlite")
    async with sessions.begin() as s:
        await s.execute(text("ANALYZE" if sqlite else "ANALYZE attendance_sessions"))
    sql = (
        "UPDATE attendance_sessions SET status = 'timeout' WHERE attendance_sessions.status = 'active' "
        "AND attendance_sessions.last_activity_at <= '2026-11-23 08:55:00'"
    )
    async with sessions() as s:
        explained = await s.execute(text(f"EXPLAIN QUERY PLAN {sql}" if sqlite else f"EXPLAIN {sql}"))
        plan = " ".join(str(r[-1] if sqlite else r[0]) for r in explained)
    assert "ix_attendance_sessions_active_last_activity_at" in plan, plan
