"""Livestreams and their credit charges (§7).

Functions take the caller's `AsyncSession` and never commit or roll back.

A credit check (monitor, heartbeat, check_credits, end) is one unit of work:

    async with begin_write(sessions) as session:          # db.engine
        stream = await lock_for_check(session, stream_id)  # FOR UPDATE / SQLite write lock
        p = domain.credits.plan(stream.state(), now, metering)
        charged = 0
        for block in p.charges:
            result = await charge_block(session, stream.id, stream.user_id, block.number,
                                        to_datetime(block.starts_at), now_dt)
            if result.outcome != "charged":
                break                                      # "unpaid" ends the stream
            charged += 1
        ending = domain.credits.outcome(p, charged)
        ...  # end(...) or mark_warned(...)

Each block is charged exactly once: `charge_block` first moves the stream's
`credits_consumed` from `block` to `block + 1` (a compare-and-set on the stream
row: a second charger of the same block finds it moved and does nothing), then
takes the credit with `credits = credits - 1 WHERE credits >= 1`, then records the
charge, whose primary key (stream, block) is the last word. Every path locks rows
in one order, stream → user → charge, so concurrent checks, starts and grants
cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import WRITE_LOCK
from db.models import CreditMetering, Livestream, LivestreamCharge, User
from db.sql import is_literal
from db.upsert import insert_for
from domain.credits import ENDED, LIVE, SCHEDULED, EndReason, StreamState, StreamStatus

L = Livestream


@dataclass(frozen=True, slots=True)
class Stream:
    id: str
    user_id: str
    title: str
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    credits_consumed: int
    last_heartbeat_at: datetime | None
    warned_at: datetime | None
    due_at: datetime | None = None
    """When a check can next have anything to do (`domain.credits.due_at`); None unless live."""

    @property
    def last_activity(self) -> datetime | None:
        """The later of the start and the last heartbeat (None before the start)."""
        if self.started_at is None:
            return None
        if self.last_heartbeat_at is None:
            return self.started_at
        return max(self.started_at, self.last_heartbeat_at)

    def state(self) -> StreamState:
        """The stream as `domain.credits.plan` sees it (epoch seconds)."""
        return StreamState(
            status=self._status(),
            started_at=_ts(self.started_at),
            last_heartbeat=_ts(self.last_heartbeat_at),
            warned_at=_ts(self.warned_at),
            credits_consumed=self.credits_consumed,
        )

    def _status(self) -> StreamStatus:
        for status in (SCHEDULED, LIVE, ENDED):
            if self.status == status:
                return status
        raise ValueError(f"unknown stream status {self.status!r}")


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


_COLUMNS = (
    L.id,
    L.user_id,
    L.title,
    L.status,
    L.created_at,
    L.started_at,
    L.ended_at,
    L.end_reason,
    L.credits_consumed,
    L.last_heartbeat_at,
    L.warned_at,
    L.due_at,
)


def _stream(row: Any) -> Stream:
    return Stream(*row)


async def _updated(session: AsyncSession, stmt: Any) -> Stream | None:
    row = (await session.execute(stmt.returning(*_COLUMNS).execution_options(synchronize_session=False))).first()
    return None if row is None else _stream(row)


async def create(
    session: AsyncSession, user_id: str, title: str, now: datetime, stream_id: str | None = None
) -> Stream:
    """A new stream, status `scheduled`. The user must exist. `stream_id` defaults to a uuid4 hex."""
    values = {
        "id": stream_id or uuid.uuid4().hex,
        "user_id": user_id,
        "title": title,
        "status": SCHEDULED,
        "created_at": now,
        "credits_consumed": 0,
    }
    row = (await session.execute(insert(L).values(**values).returning(*_COLUMNS))).one()
    return _stream(row)


async def get(session: AsyncSession, stream_id: str) -> Stream | None:
    row = (await session.execute(select(*_COLUMNS).where(L.id == stream_id))).first()
    return None if row is None else _stream(row)


async def get_listed(session: AsyncSession, stream_id: str) -> Listed | None:
    """The stream with its owner's balance, in one read."""
    row = (
        await session.execute(select(*_COLUMNS, User.credits).join(User, User.id == L.user_id).where(L.id == stream_id))
    ).first()
    return None if row is None else _listed(row)


async def lock_for_check(session: AsyncSession, stream_id: str) -> Stream | None:
    """The stream, locked until the unit of work ends, so that no other check, start
    or end decides from the same state at the same time.

    PostgreSQL: `SELECT … FOR UPDATE` on the stream's row. SQLite has no row locks:
    the unit must have been opened with `db.engine.begin_write` (BEGIN IMMEDIATE,
    the whole database's write lock), which this checks.
    """
    if session.get_bind().dialect.name == "sqlite":
        sync = (await session.connection()).sync_connection
        if sync is None or not sync.get_execution_options().get(WRITE_LOCK):
            raise RuntimeError("lock_for_check on SQLite needs a unit of work opened with db.engine.begin_write")
    row = (await session.execute(select(*_COLUMNS).where(L.id == stream_id).with_for_update())).first()
    return None if row is None else _stream(row)


async def start(session: AsyncSession, stream_id: str, now: datetime) -> Stream | None:
    """`scheduled` → `live` at `now`, due at once (`due_at = now`, until the caller
    sets the exact instant with `set_due`); None if the stream is unknown or not
    scheduled (the caller answers 404 or 409). The caller then charges block 0 in
    the same unit of work and rolls it all back if that block cannot be paid (402)."""
    return await _updated(
        session,
        update(L)
        .where(L.id == stream_id, L.status == SCHEDULED)
        .values(status=LIVE, started_at=now, last_heartbeat_at=None, warned_at=None, due_at=now),
    )


# ------------------------------------------------------------------ what is due (the monitor)
async def due_ids(session: AsyncSession, now: datetime) -> list[str]:
    """Ids of the live streams whose `due_at` has come, earliest first: a range of
    the partial index `ix_livestreams_live_due_at`, so the read costs the streams
    that have something due, not every live stream."""
    return list(
        await session.scalars(select(L.id).where(is_literal(L.status, LIVE), L.due_at <= now).order_by(L.due_at, L.id))
    )


async def set_due(session: AsyncSession, stream_id: str, due_at: datetime) -> bool:
    """Stores a live stream's `due_at` (inside the unit of work that changed its
    state, under its check lock); False if it is not live."""
    done = await session.execute(
        update(L)
        .where(L.id == stream_id, L.status == LIVE)
        .values(due_at=due_at)
        .returning(L.id)
        .execution_options(synchronize_session=False)
    )
    return done.scalar() is not None


async def set_due_many(session: AsyncSession, due: list[tuple[str, datetime]]) -> None:
    """`set_due` for many locked live streams at once (one executemany)."""
    if not due:
        return
    t = Livestream.__table__
    assert isinstance(t, Table)
    await session.execute(
        update(t).where(t.c.id == bindparam("b_id"), is_literal(t.c.status, LIVE)).values(due_at=bindparam("b_due")),
        [{"b_id": stream_id, "b_due": at} for stream_id, at in due],
    )


async def lock_live_batch(session: AsyncSession, after: str, limit: int) -> list[Stream]:
    """Up to `limit` live streams with ids after `after`, in id order, locked until the
    unit ends (FOR UPDATE; SQLite: open it with `begin_write`), for `set_due` after a
    change of the metering settings. Locks are taken in id order, streams only, so a
    batch cannot deadlock with a check (stream → user → charge) or another batch."""
    rows = await session.execute(
        select(*_COLUMNS).where(is_literal(L.status, LIVE), L.id > after).order_by(L.id).limit(limit).with_for_update()
    )
    return [_stream(r) for r in rows]


MeteringStamp = tuple[float, float, float]
"""(block, warn_after, end_after) in seconds."""


async def metering_stamp(session: AsyncSession) -> MeteringStamp | None:
    """The settings the stored `due_at` were computed with (None: never recorded)."""
    row = (
        await session.execute(
            select(CreditMetering.block, CreditMetering.warn_after, CreditMetering.end_after).where(
                CreditMetering.id == 1
            )
        )
    ).first()
    return None if row is None else (float(row[0]), float(row[1]), float(row[2]))


async def set_metering_stamp(session: AsyncSession, stamp: MeteringStamp, now: datetime) -> None:
    block, warn_after, end_after = stamp
    values = {"block": block, "warn_after": warn_after, "end_after": end_after, "updated_at": now}
    await session.execute(
        insert_for(session, CreditMetering)
        .values(id=1, **values)
        .on_conflict_do_update(index_elements=["id"], set_=values)
    )


async def record_heartbeat(session: AsyncSession, stream_id: str, now: datetime) -> Stream | None:
    """The seller's heartbeat on a live stream (the time only moves forward); None
    if the stream is unknown or not live. Call it after the check, so a heartbeat
    that arrives after the inactivity end does not revive the stream."""
    return await _updated(
        session,
        update(L)
        .where(L.id == stream_id, L.status == LIVE)
        .values(last_heartbeat_at=func.coalesce(_later(L.last_heartbeat_at, now), now)),
    )


def _later(column: Any, now: datetime) -> Any:
    return case((column < now, now), else_=column)


async def mark_warned(session: AsyncSession, stream_id: str, now: datetime) -> bool:
    """Records the inactivity warning of the current quiet stretch; False if not live."""
    return (
        await _updated(session, update(L).where(L.id == stream_id, L.status == LIVE).values(warned_at=now))
    ) is not None


async def end(
    session: AsyncSession,
    stream_id: str,
    at: datetime,
    reason: EndReason,
    from_statuses: Iterable[str] = (LIVE,),
) -> Stream | None:
    """Ends the stream at `at` (which may be in the past: `inactivity` ends at last
    activity + END_AFTER, `credits_exhausted` when the unpaid block started); None if
    its status is not one of `from_statuses` (default: only a live stream ends)."""
    return await _updated(
        session,
        update(L)
        .where(L.id == stream_id, L.status.in_(list(from_statuses)))
        .values(status=ENDED, ended_at=at, end_reason=reason),
    )


# ------------------------------------------------------------------ charges
ChargeOutcome = Literal["charged", "unpaid", "stale"]


@dataclass(frozen=True, slots=True)
class Charge:
    """What `charge_block` did.

    - `charged`: one credit taken, the charge recorded; `remaining_credits` after it;
    - `unpaid`: the balance is 0 (or the user unknown): nothing was written; the
      caller ends the stream (`credits_exhausted`); `remaining_credits` is 0;
    - `stale`: the stream is not live or this block is not its next one (someone
      else charged it): nothing was written; the caller's plan is out of date.
    """

    outcome: ChargeOutcome
    remaining_credits: int | None


async def charge_block(
    session: AsyncSession,
    stream_id: str,
    user_id: str,
    block: int,
    block_starts_at: datetime,
    now: datetime,
) -> Charge:
    """Charges one credit for block `block` of a live stream, exactly once.

    1. `credits_consumed: block → block + 1` where the stream is live and `block` is
       its next block (compare-and-set; a concurrent charger of the same block
       finds nothing to change: `stale`);
    2. `credits = credits - 1 WHERE credits >= 1` on the owner (none left:
       step 1 is undone in the same transaction: `unpaid`, nothing stays);
    3. the charge row; its primary key (stream, block) refuses a second one.
    """
    claimed = await session.execute(
        update(L)
        .where(L.id == stream_id, L.status == LIVE, L.credits_consumed == block)
        .values(credits_consumed=L.credits_consumed + 1)
        .returning(L.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.scalar() is None:
        return Charge("stale", None)
    paid = await session.execute(
        update(User)
        .where(User.id == user_id, User.credits >= 1)
        .values(credits=User.credits - 1)
        .returning(User.credits)
        .execution_options(synchronize_session=False)
    )
    remaining = paid.scalar()
    if remaining is None:
        await session.execute(
            update(L)
            .where(L.id == stream_id, L.credits_consumed == block + 1)
            .values(credits_consumed=block)
            .execution_options(synchronize_session=False)
        )
        return Charge("unpaid", 0)
    await session.execute(
        insert(LivestreamCharge).values(
            livestream_id=stream_id,
            block=block,
            user_id=user_id,
            credits=1,
            charged_at=now,
            block_starts_at=block_starts_at,
        )
    )
    return Charge("charged", int(remaining))


@dataclass(frozen=True, slots=True)
class ChargeRow:
    block: int
    credits: int
    charged_at: datetime
    block_starts_at: datetime


async def statement(session: AsyncSession, stream_id: str) -> list[ChargeRow]:
    """The stream's charges, oldest block first (its `credits_consumed` equals their number)."""
    rows = await session.execute(
        select(
            LivestreamCharge.block,
            LivestreamCharge.credits,
            LivestreamCharge.charged_at,
            LivestreamCharge.block_starts_at,
        )
        .where(LivestreamCharge.livestream_id == stream_id)
        .order_by(LivestreamCharge.block)
    )
    return [ChargeRow(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]


@dataclass(frozen=True, slots=True)
class Listed:
    stream: Stream
    remaining_credits: int


async def page(
    session: AsyncSession, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[Listed]]:
    """`(count, one page)` of streams with their owner's balance, newest first; all
    statuses, or one (`ix_livestreams_status_created_at`)."""
    where = [L.status == status] if status else []
    count = await session.scalar(select(func.count()).select_from(L).where(*where))
    rows = await session.execute(
        select(*_COLUMNS, User.credits)
        .join(User, User.id == L.user_id)
        .where(*where)
        .order_by(L.created_at.desc(), L.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(count or 0), [_listed(r) for r in rows]


def _listed(row: Any) -> Listed:
    return Listed(_stream(row[:-1]), int(row[-1]))
