"""Attendance sessions (§6): meetings, the click, heartbeats, ends, the sweep, reports.

Every function takes the caller's `AsyncSession` and never commits or rolls back:
the service's unit of work (`async with sessions.begin() as session:`) decides.
Times are aware UTC datetimes. Each writing function *writes first* (a guarded
UPDATE or an INSERT … ON CONFLICT), so on SQLite it takes the write lock before
reading anything and needs no `begin_write`.

Durations are decided by `domain.attendance.duration_minutes` alone: an ending
UPDATE returns each row's click and end, and a second statement in the same
transaction stores the minutes. Computing them in SQL instead would need two
dialects' date arithmetic (PostgreSQL `extract(epoch …)`, SQLite `julianday`, a
float accurate to ~50 µs) to agree with `Math.round` at exactly 30 s; the
two-statement way is exact by construction and its cost still follows the rows
that end (the second statement is an update by primary key per ended row).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AttendanceSession, Meeting, status_is
from db.sql import contains_text, is_literal
from db.upsert import insert_for
from domain.attendance import ACTIVE, COMPLETED, ENDED_STATUSES, TIMEOUT, duration_minutes

S = AttendanceSession
MAX_FIND_ATTEMPTS = 5
"""find_or_start retries when the session it found ends between two statements."""


# ------------------------------------------------------------------ meetings
@dataclass(frozen=True, slots=True)
class MeetingRow:
    id: str
    title: str
    zoom_url: str
    teacher_id: str
    teacher_name: str | None
    starts_at: datetime | None
    created_at: datetime
    updated_at: datetime


async def upsert_meeting(
    session: AsyncSession,
    meeting_id: str,
    *,
    title: str,
    zoom_url: str,
    teacher_id: str,
    teacher_name: str | None,
    starts_at: datetime | None,
    now: datetime,
) -> tuple[MeetingRow, bool]:
    """Stores the meeting; `(meeting, True)` when it is new (201), else updated (200)."""
    fields = {
        "title": title,
        "zoom_url": zoom_url,
        "teacher_id": teacher_id,
        "teacher_name": teacher_name,
        "starts_at": starts_at,
        "updated_at": now,
    }
    inserted = await session.execute(
        insert_for(session, Meeting)
        .values(id=meeting_id, created_at=now, **fields)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Meeting.id)
    )
    created = inserted.first() is not None
    if not created:
        await session.execute(
            update(Meeting)
            .where(Meeting.id == meeting_id)
            .values(**fields)
            .execution_options(synchronize_session=False)
        )
    meeting = await get_meeting(session, meeting_id)
    assert meeting is not None
    return meeting, created


async def get_meeting(session: AsyncSession, meeting_id: str) -> MeetingRow | None:
    row = (await session.execute(select(*_MEETING_COLUMNS).where(Meeting.id == meeting_id))).first()
    return MeetingRow(*row) if row is not None else None


_MEETING_COLUMNS = (
    Meeting.id,
    Meeting.title,
    Meeting.zoom_url,
    Meeting.teacher_id,
    Meeting.teacher_name,
    Meeting.starts_at,
    Meeting.created_at,
    Meeting.updated_at,
)


# ------------------------------------------------------------------ sessions
@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session with its meeting's title and teacher: the row of `GET /api/admin/sessions`."""

    id: str
    meeting_id: str
    meeting_title: str
    teacher_id: str
    teacher_name: str | None
    student_id: str
    student_name: str | None
    clicked_at: datetime
    last_activity_at: datetime
    session_ended_at: datetime | None
    status: str
    duration_minutes: int | None


_ROW_COLUMNS = (
    S.id,
    S.meeting_id,
    Meeting.title,
    Meeting.teacher_id,
    Meeting.teacher_name,
    S.student_id,
    S.student_name,
    S.clicked_at,
    S.last_activity_at,
    S.session_ended_at,
    S.status,
    S.duration_minutes,
)


def _rows() -> Any:  # a Select of the SessionRow columns
    return select(*_ROW_COLUMNS).join(Meeting, Meeting.id == S.meeting_id)


def _row(r: Any) -> SessionRow:
    return SessionRow(*r)


def _active() -> ColumnElement[bool]:
    return is_literal(S.status, ACTIVE)


def _not_over(cutoff: datetime) -> ColumnElement[bool]:
    """Active and not past the timeout (`domain.attendance.is_over` is false)."""
    return and_(_active(), S.last_activity_at > cutoff)


def _moved_forward(now: datetime) -> ColumnElement[datetime]:
    """`last_activity_at` moved to `now`, never back (two heartbeats can cross)."""
    return case((S.last_activity_at < now, now), else_=S.last_activity_at)


async def get_session(session: AsyncSession, session_id: str) -> SessionRow | None:
    row = (await session.execute(_rows().where(S.id == session_id))).first()
    return _row(row) if row is not None else None


async def get_sessions(session: AsyncSession, session_ids: Sequence[str]) -> list[SessionRow]:
    """These sessions (unknown ids left out), oldest click first."""
    found: list[SessionRow] = []
    ids = list(dict.fromkeys(session_ids))
    for start in range(0, len(ids), 500):
        rows = await session.execute(_rows().where(S.id.in_(ids[start : start + 500])))
        found.extend(_row(r) for r in rows)
    return sorted(found, key=lambda r: (r.clicked_at, r.id))


@dataclass(frozen=True, slots=True)
class Started:
    """What a click did: the student's active session (`created` False: a second click
    reused it, same id, so the same secret), and any session of theirs for this
    meeting that was already over and has just been timed out (tell admins)."""

    session: SessionRow
    created: bool
    timed_out: list[SessionRow]


async def find_or_start(
    session: AsyncSession,
    meeting_id: str,
    student_id: str,
    student_name: str | None,
    now: datetime,
    cutoff: datetime,
    new_id: str | None = None,
) -> Started:
    """The click (§6): the student's active session for the meeting, or a new one
    `{clicked_at = last_activity_at = now, active}`. Race-safe: the partial unique
    index allows one active session per (meeting, student); concurrent clicks all
    INSERT … ON CONFLICT DO NOTHING on it, and the losers find the winner's row.

    A session of theirs that is over (`last_activity_at <= cutoff`) but not yet
    swept is timed out first, so a click never revives a finished session. A reused
    session's `last_activity_at` moves to `now` (the click shows the student is
    there). The meeting must exist. `new_id` defaults to a uuid4 hex.
    """
    timed_out = await time_out(session, cutoff, meeting_id=meeting_id, student_id=student_id)
    for _ in range(MAX_FIND_ATTEMPTS):
        candidate = new_id or uuid.uuid4().hex
        inserted = await session.execute(
            insert_for(session, S)
            .values(
                id=candidate,
                meeting_id=meeting_id,
                student_id=student_id,
                student_name=student_name,
                clicked_at=now,
                last_activity_at=now,
                status=ACTIVE,
            )
            .on_conflict_do_nothing(index_elements=["meeting_id", "student_id"], index_where=status_is(ACTIVE))
            .returning(S.id)
        )
        created_id = inserted.scalar()
        if created_id is not None:
            return Started(await _must_get(session, created_id), True, timed_out)
        reused = await session.execute(
            update(S)
            .where(S.meeting_id == meeting_id, S.student_id == student_id, _active())
            .values(last_activity_at=_moved_forward(now))
            .returning(S.id)
            .execution_options(synchronize_session=False)
        )
        reused_id = reused.scalar()
        if reused_id is not None:
            return Started(await _must_get(session, reused_id), False, timed_out)
        # The active session ended between the two statements: try again.
    raise RuntimeError(f"no stable active session for meeting {meeting_id!r}, student {student_id!r}")


async def _must_get(session: AsyncSession, session_id: str) -> SessionRow:
    row = await get_session(session, session_id)
    if row is None:
        raise RuntimeError(f"session {session_id!r} vanished inside its own transaction")
    return row


async def record_heartbeat(
    session: AsyncSession, session_id: str, now: datetime, cutoff: datetime
) -> SessionRow | None:
    """Moves `last_activity_at` to `now` if the session is active and not over
    (`cutoff = now - timeout`); None otherwise: unknown, ended, or over. The caller
    tells those apart with `get_session` (and ends an over one with `time_out`)."""
    touched = await session.execute(
        update(S)
        .where(S.id == session_id, _not_over(cutoff))
        .values(last_activity_at=_moved_forward(now))
        .returning(S.id)
        .execution_options(synchronize_session=False)
    )
    if touched.scalar() is None:
        return None
    return await _must_get(session, session_id)


async def complete(session: AsyncSession, session_id: str, now: datetime, cutoff: datetime) -> SessionRow | None:
    """The student's end request: if active and not over, ends it now, status
    `completed`, counted from the click to `now`. None otherwise (see `record_heartbeat`)."""
    ended = await session.execute(
        update(S)
        .where(S.id == session_id, _not_over(cutoff))
        .values(status=COMPLETED, session_ended_at=now, last_activity_at=_moved_forward(now))
        .returning(S.id, S.clicked_at, S.session_ended_at)
        .execution_options(synchronize_session=False)
    )
    row = ended.first()
    if row is None:
        return None
    await _store_durations(session, [(row[0], row[1], now)])
    return await _must_get(session, session_id)


async def time_out(
    session: AsyncSession,
    cutoff: datetime,
    *,
    session_id: str | None = None,
    meeting_id: str | None = None,
    student_id: str | None = None,
) -> list[SessionRow]:
    """The sweep: ends every active session whose `last_activity_at` is at or before
    `cutoff` (`now - PRESENCE_SESSION_TIMEOUT_AFTER`): `session_ended_at =
    last_activity_at`, status `timeout`, the minutes from click to last heartbeat.
    Returns them, oldest click first. The filters narrow it to one session (a late
    heartbeat or end request) or one student's session for a meeting (a click).

    ONE UPDATE on the partial index of active sessions' `last_activity_at`, so its
    cost follows the sessions that expire, not the history; concurrent sweeps each
    end a session once (the second finds it no longer active).
    """
    where = [_active(), S.last_activity_at <= cutoff]
    if session_id is not None:
        where.append(S.id == session_id)
    if meeting_id is not None:
        where.append(S.meeting_id == meeting_id)
    if student_id is not None:
        where.append(S.student_id == student_id)
    ended = await session.execute(
        update(S)
        .where(*where)
        .values(status=TIMEOUT, session_ended_at=S.last_activity_at)
        .returning(S.id, S.clicked_at, S.last_activity_at)
        .execution_options(synchronize_session=False)
    )
    rows = [(r[0], r[1], r[2]) for r in ended]
    if not rows:
        return []
    await _store_durations(session, rows)
    return await get_sessions(session, [r[0] for r in rows])


async def _store_durations(session: AsyncSession, ended: Sequence[tuple[str, datetime, datetime]]) -> None:
    """`duration_minutes` of just-ended sessions, by the domain rule, in id order
    (one lock order for every writer)."""
    params = [
        {"id": sid, "duration_minutes": duration_minutes(clicked.timestamp(), end.timestamp())}
        for sid, clicked, end in sorted(ended)
    ]
    await session.execute(update(S), params)  # an executemany UPDATE … WHERE id = ?


# ------------------------------------------------------------------ reads for admins
def _search(session: AsyncSession, status: str | None, q: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if status:
        where.append(S.status == status)
    if q:
        where.append(
            or_(
                contains_text(session, S.student_name, q),
                contains_text(session, Meeting.title, q),
                contains_text(session, Meeting.teacher_name, q),
            )
        )
    return where


async def page(
    session: AsyncSession, *, status: str | None = None, q: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[SessionRow]]:
    """`(count, one page)` of sessions, newest click first. `status` filters exactly;
    `q` is a case-insensitive literal substring of the student's name, the meeting's
    title or the teacher's name (`%`, `_`, quotes match themselves). The caller
    bounds `limit` (SPEC: default 50, at most 500)."""
    where = _search(session, status, q)
    count = await session.scalar(
        select(func.count()).select_from(S).join(Meeting, Meeting.id == S.meeting_id).where(*where)
    )
    rows = await session.execute(
        _rows().where(*where).order_by(S.clicked_at.desc(), S.id.desc()).limit(limit).offset(offset)
    )
    return int(count or 0), [_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class TeacherMinutes:
    teacher_id: str
    teacher_name: str | None
    sessions: int
    minutes: int


@dataclass(frozen=True, slots=True)
class MeetingMinutes:
    meeting_id: str
    meeting_title: str
    sessions: int
    minutes: int


@dataclass(frozen=True, slots=True)
class Summary:
    teachers: list[TeacherMinutes]
    meetings: list[MeetingMinutes]


def _ended_clicked_in(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [S.status.in_(ENDED_STATUSES), S.clicked_at >= start, S.clicked_at < end]


async def summary(session: AsyncSession, start: datetime, end: datetime) -> Summary:
    """Minutes and sessions per teacher and per meeting: ended sessions whose click is
    in `[start, end)`; minutes are the sum of their durations. Ordered by id."""
    minutes = func.coalesce(func.sum(S.duration_minutes), 0)
    joined = select().select_from(S).join(Meeting, Meeting.id == S.meeting_id).where(*_ended_clicked_in(start, end))
    teachers = await session.execute(
        joined.add_columns(Meeting.teacher_id, func.max(Meeting.teacher_name), func.count(), minutes)
        .group_by(Meeting.teacher_id)
        .order_by(Meeting.teacher_id)
    )
    meetings = await session.execute(
        joined.add_columns(Meeting.id, Meeting.title, func.count(), minutes)
        .group_by(Meeting.id, Meeting.title)
        .order_by(Meeting.id)
    )
    return Summary(
        [TeacherMinutes(r[0], r[1], int(r[2]), int(r[3])) for r in teachers],
        [MeetingMinutes(r[0], r[1], int(r[2]), int(r[3])) for r in meetings],
    )


async def export_rows(
    session: AsyncSession, start: datetime, end: datetime, batch: int = 1000
) -> AsyncIterator[SessionRow]:
    """The payroll export's rows: ended sessions clicked in `[start, end)`, oldest
    click first, read `batch` at a time (keyset pages on the `clicked_at` index), so
    a year of sessions never sits in memory at once."""
    after: tuple[datetime, str] | None = None
    while True:
        q = _rows().where(*_ended_clicked_in(start, end))
        if after is not None:
            clicked, sid = after
            q = q.where(or_(S.clicked_at > clicked, and_(S.clicked_at == clicked, S.id > sid)))
        rows = [_row(r) for r in await session.execute(q.order_by(S.clicked_at, S.id).limit(batch))]
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = (rows[-1].clicked_at, rows[-1].id)
