"""The admin console's overview (SPEC §9): what is live now, counted on indexes.

Every statement here reads a short range of an index, whatever the history:

- users online now: `ix_users_online_last_seen` (is_online, last_seen), the
  range `is_online AND last_seen >= cutoff`; its count costs the online users,
  the list of the latest `limit` reads that range backwards and stops;
- live attendance sessions: the partial index of active sessions'
  `last_activity_at` (`ix_attendance_sessions_active_last_activity_at`), the
  range not yet over; so its cost follows the live sessions, not the history;
- live streams: `ix_livestreams_status_created_at`, the range `status = 'live'`.

Functions take the caller's `AsyncSession` and never commit or roll back.
Statuses of partial indexes are written as literals (`db.sql.is_literal`).
`statements()` hands the exact SQL to the tests that read the query plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AttendanceSession, Livestream, Meeting, User
from db.sql import is_literal
from domain.attendance import ACTIVE
from domain.credits import LIVE

S = AttendanceSession
L = Livestream


@dataclass(frozen=True, slots=True)
class OnlineUser:
    user_id: str
    name: str | None
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: str
    meeting_id: str
    meeting_title: str
    teacher_name: str | None
    student_id: str
    student_name: str | None
    clicked_at: datetime
    last_activity_at: datetime


@dataclass(frozen=True, slots=True)
class LiveStream:
    id: str
    user_id: str
    owner_name: str | None
    title: str
    started_at: datetime | None
    credits_consumed: int
    remaining_credits: int


def _users_online(cutoff: datetime) -> Any:
    return (User.is_online == true()) & (User.last_seen >= cutoff)


def _sessions_live(cutoff: datetime) -> Any:
    return is_literal(S.status, ACTIVE) & (S.last_activity_at > cutoff)


def _streams_live() -> Any:
    return is_literal(L.status, LIVE)


def count_users_online(cutoff: datetime) -> Select[Any]:
    return select(func.count()).select_from(User).where(_users_online(cutoff))


def count_sessions_live(cutoff: datetime) -> Select[Any]:
    return select(func.count()).select_from(S).where(_sessions_live(cutoff))


def count_streams_live() -> Select[Any]:
    return select(func.count()).select_from(L).where(_streams_live())


def statements(cutoff_users: datetime, cutoff_sessions: datetime) -> dict[str, tuple[Select[Any], str]]:
    """Each count with the index it must read (for the query-plan tests)."""
    return {
        "users": (count_users_online(cutoff_users), "ix_users_online_last_seen"),
        "sessions": (count_sessions_live(cutoff_sessions), "ix_attendance_sessions_active_last_activity_at"),
        "streams": (count_streams_live(), "ix_livestreams_status_created_at"),
    }


async def users_online(session: AsyncSession, cutoff: datetime, limit: int) -> tuple[int, list[OnlineUser]]:
    """`(how many users are online now, the `limit` most recently seen)`."""
    count = await session.scalar(count_users_online(cutoff))
    rows = await session.execute(
        select(User.id, User.name, User.last_seen)
        .where(_users_online(cutoff))
        .order_by(User.last_seen.desc(), User.id)
        .limit(limit)
    )
    return int(count or 0), [OnlineUser(*r) for r in rows]


async def sessions_live(session: AsyncSession, cutoff: datetime, limit: int) -> tuple[int, list[LiveSession]]:
    """`(how many attendance sessions are live, the `limit` most recently heard from)`:
    active and not over (`last_activity_at > now - PRESENCE_SESSION_TIMEOUT_AFTER`),
    whether or not the sweep has run."""
    count = await session.scalar(count_sessions_live(cutoff))
    rows = await session.execute(
        select(
            S.id,
            S.meeting_id,
            Meeting.title,
            Meeting.teacher_name,
            S.student_id,
            S.student_name,
            S.clicked_at,
            S.last_activity_at,
        )
        .join(Meeting, Meeting.id == S.meeting_id)
        .where(_sessions_live(cutoff))
        .order_by(S.last_activity_at.desc(), S.id)
        .limit(limit)
    )
    return int(count or 0), [LiveSession(*r) for r in rows]


async def streams_live(session: AsyncSession, limit: int) -> tuple[int, list[LiveStream]]:
    """`(how many streams are live, the `limit` newest of them with their owner's balance)`."""
    count = await session.scalar(count_streams_live())
    rows = await session.execute(
        select(L.id, L.user_id, User.name, L.title, L.started_at, L.credits_consumed, User.credits)
        .join(User, User.id == L.user_id)
        .where(_streams_live())
        .order_by(L.created_at.desc(), L.id)
        .limit(limit)
    )
    return int(count or 0), [LiveStream(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6])) for r in rows]
