"""Activity (§5): recording, the DAU/WAU/MAU figures, validation, backfill.

`users.last_activity_at` answers "active in the last N hours" by one index range
each; `user_activity_days` answers "how many were active on day D" for any
past day, by its `day` index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    SQLColumnExpression,
    Table,
    bindparam,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Date

from db.models import User, UserActivityDay
from db.upsert import insert_for
from domain.activity import Windows


@dataclass(frozen=True, slots=True)
class Activity:
    user_id: str
    at: datetime


async def record(session: AsyncSession, items: Sequence[Activity]) -> None:
    """Moves each user's `last_activity_at` forward (never back) and records the day.

    The users must exist. Does not commit: the caller's unit of work decides.
    """
    if not items:
        return
    # Rows are locked in one order (by user, then day) by every writer, so two
    # concurrent batches touching the same users wait for each other instead of
    # deadlocking on PostgreSQL.
    items = sorted(items, key=lambda a: (a.user_id, a.at))
    table = User.__table__  # Core, not ORM: an executemany, not a bulk update by primary key
    assert isinstance(table, Table)
    users = table.c
    await session.execute(
        update(table)
        .where(
            users.id == bindparam("uid"),
            or_(users.last_activity_at.is_(None), users.last_activity_at < bindparam("at")),
        )
        .values(last_activity_at=bindparam("at")),
        [{"uid": a.user_id, "at": a.at} for a in items],
    )
    days = sorted({(a.user_id, a.at.astimezone(UTC).date()) for a in items})
    for start in range(0, len(days), 500):
        chunk = [{"user_id": uid, "day": day} for uid, day in days[start : start + 500]]
        await session.execute(insert_for(session, UserActivityDay).values(chunk).on_conflict_do_nothing())


def _since(col: SQLColumnExpression[datetime | None], ts: float) -> ColumnElement[bool]:
    return col >= datetime.fromtimestamp(ts, UTC)


def _count(*where: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(User).where(*where).scalar_subquery()


@dataclass(frozen=True, slots=True)
class Figures:
    dau: int
    wau: int
    mau: int
    total_users: int
    never_active: int


async def figures(session: AsyncSession, w: Windows) -> Figures:
    """One round trip; each count is a range of `ix_users_last_activity_at`."""
    col = User.last_activity_at
    row = (
        await session.execute(
            select(
                _count(_since(col, w.dau_since)),
                _count(_since(col, w.wau_since)),
                _count(_since(col, w.mau_since)),
                _count(),
                _count(col.is_(None)),
            )
        )
    ).one()
    return Figures(*(int(v) for v in row))


async def daily(session: AsyncSession, days: Sequence[date]) -> list[tuple[date, int]]:
    """Active users per UTC day, for each of `days` (0 where nobody was)."""
    if not days:
        return []
    rows = await session.execute(
        select(UserActivityDay.day, func.count())
        .where(UserActivityDay.day >= min(days), UserActivityDay.day <= max(days))
        .group_by(UserActivityDay.day)
    )
    counts = {day: int(n) for day, n in rows}
    return [(day, counts.get(day, 0)) for day in days]


async def distinct_since(session: AsyncSession, first_day: date) -> int:
    """Distinct users with a recorded day from `first_day` on (the per-day method)."""
    sub = select(UserActivityDay.user_id).where(UserActivityDay.day >= first_day).distinct().subquery()
    return int(await session.scalar(select(func.count()).select_from(sub)) or 0)


def utc_date(session: AsyncSession, col: SQLColumnExpression[datetime | None]) -> ColumnElement[date]:
    """The UTC calendar date of a stored time (SQLite keeps naive UTC text)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", col), Date)
    return func.date(col)


@dataclass(frozen=True, slots=True)
class Problems:
    null_but_active: list[str]
    in_future: list[tuple[str, datetime]]
    behind_days: list[tuple[str, datetime, date]]

    @property
    def total(self) -> int:
        return len(self.null_but_active) + len(self.in_future) + len(self.behind_days)


async def problems(session: AsyncSession, future_after: datetime, limit: int = 10_000) -> Problems:
    """Users whose `last_activity_at` is null though they have activity days, lies
    after `future_after`, or falls on a day before their newest recorded day."""
    has_days = select(UserActivityDay.user_id).where(UserActivityDay.user_id == User.id).exists()
    nulls = await session.scalars(
        select(User.id).where(User.last_activity_at.is_(None), has_days).order_by(User.id).limit(limit)
    )
    future = await session.execute(
        select(User.id, User.last_activity_at)
        .where(User.last_activity_at > future_after)
        .order_by(User.id)
        .limit(limit)
    )
    newest = (
        select(UserActivityDay.user_id, func.max(UserActivityDay.day).label("day"))
        .group_by(UserActivityDay.user_id)
        .subquery()
    )
    behind = await session.execute(
        select(User.id, User.last_activity_at, newest.c.day)
        .join(newest, newest.c.user_id == User.id)
        .where(User.last_activity_at.is_not(None), utc_date(session, User.last_activity_at) < newest.c.day)
        .order_by(User.id)
        .limit(limit)
    )
    return Problems(
        list(nulls),
        [(r[0], r[1]) for r in future if r[1] is not None],
        [(r[0], r[1], _as_date(r[2])) for r in behind],
    )


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def user_ids_after(session: AsyncSession, after: str | None, batch: int) -> list[str]:
    """The next `batch` user ids in id order (keyset pagination for resumable passes)."""
    q = select(User.id).order_by(User.id).limit(batch)
    if after is not None:
        q = q.where(User.id > after)
    return list(await session.scalars(q))


async def backfill_from_days(session: AsyncSession, user_ids: Sequence[str], not_after: datetime) -> int:
    """For these users, lifts `last_activity_at` to the start of their newest recorded
    day where it is null or on an earlier day, and records the day of each existing
    `last_activity_at` up to `not_after` (a time in the future is bad data that
    `--validate` reports; it is not copied into the per-day record). Returns how
    many users were changed. Does not commit."""
    if not user_ids:
        return 0
    newest = await session.execute(
        select(UserActivityDay.user_id, func.max(UserActivityDay.day))
        .where(UserActivityDay.user_id.in_(user_ids))
        .group_by(UserActivityDay.user_id)
    )
    current = dict((await session.execute(select(User.id, User.last_activity_at).where(User.id.in_(user_ids)))).all())
    lifts = []
    for uid, day in newest:
        start = datetime.combine(_as_date(day), time(), UTC)
        at = current.get(uid)
        if at is None or at.astimezone(UTC).date() < start.date():
            lifts.append(Activity(uid, start))
    existing = [Activity(uid, at) for uid, at in current.items() if at is not None and at <= not_after]
    changed = await _missing_days(session, existing)
    await record(session, lifts + existing)
    return len({a.user_id for a in lifts} | changed)


async def _missing_days(session: AsyncSession, items: Sequence[Activity]) -> set[str]:
    """Users among `items` whose activity day is not recorded yet."""
    if not items:
        return set()
    wanted = {(a.user_id, a.at.astimezone(UTC).date()) for a in items}
    rows = await session.execute(
        select(UserActivityDay.user_id, UserActivityDay.day).where(UserActivityDay.user_id.in_([u for u, _ in wanted]))
    )
    have = {(u, _as_date(d)) for u, d in rows}
    return {u for u, d in wanted - have}


async def backfill_rows(session: AsyncSession, items: Sequence[Activity]) -> int:
    """Imports `(user_id, time)` rows: moves times forward only and records days.
    Returns how many rows changed something. The users must exist. Does not commit."""
    if not items:
        return 0
    ids = list({a.user_id for a in items})
    current = dict((await session.execute(select(User.id, User.last_activity_at).where(User.id.in_(ids)))).all())
    missing = await _missing_days(session, items)

    def changes(a: Activity) -> bool:
        last = current.get(a.user_id)
        return last is None or last < a.at or a.user_id in missing

    changed = sum(1 for a in items if changes(a))
    await record(session, items)
    return changed
