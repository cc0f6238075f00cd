"""App-user online status (§4): the touch, logout, the sweep, the admin reads.

Nothing here commits: the caller's unit of work does (`async with db.begin()`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User
from db.upsert import insert_for


@dataclass(frozen=True, slots=True)
class Status:
    user_id: str
    name: str | None
    is_online: bool
    last_seen: datetime | None


async def touch(session: AsyncSession, user_id: str, now: datetime) -> bool:
    """Writes `last_seen`, bringing the user online; True if they were offline.

    The common case (already online) is one UPDATE; only an offline user costs a
    second statement, which tells us the offline→online change happened.
    """
    online = User.is_online == true()
    kept = await session.execute(
        update(User)
        .where(User.id == user_id, online)
        .values(last_seen=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], kept).rowcount:
        return False
    came = await session.execute(
        update(User)
        .where(User.id == user_id, ~online)
        .values(is_online=True, last_seen=now)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    return came.first() is not None


async def logout(session: AsyncSession, user_id: str, now: datetime) -> bool:
    """Marks the user offline at once with `last_seen = now`; True if they were online."""
    was = await session.execute(
        update(User)
        .where(User.id == user_id, User.is_online == true())
        .values(is_online=False, last_seen=now)
        .returning(User.id)
        .execution_options(synchronize_session=False)
    )
    went_offline = was.first() is not None
    if not went_offline:
        await session.execute(
            update(User).where(User.id == user_id).values(last_seen=now).execution_options(synchronize_session=False)
        )
    return went_offline


async def sweep(session: AsyncSession, cutoff: datetime) -> list[tuple[str, datetime | None]]:
    """Marks offline every online user whose `last_seen` is older than `cutoff`.

    One statement on the `(is_online, last_seen)` index: it reads only the
    online users past the cutoff, so its cost follows the users that expire.
    """
    result = await session.execute(
        update(User)
        .where(User.is_online == true(), User.last_seen < cutoff)
        .values(is_online=False)
        .returning(User.id, User.last_seen)
        .execution_options(synchronize_session=False)
    )
    return [(row.id, row.last_seen) for row in result]


def _online_now(cutoff: datetime):  # type: ignore[no-untyped-def]
    """Online and not yet past the timeout (the sweep may not have run yet)."""
    return (User.is_online == true()) & (User.last_seen >= cutoff)


async def status(session: AsyncSession, user_id: str, cutoff: datetime) -> Status | None:
    row = (
        await session.execute(select(User.id, User.name, User.is_online, User.last_seen).where(User.id == user_id))
    ).first()
    if row is None:
        return None
    online = bool(row.is_online) and row.last_seen is not None and row.last_seen >= cutoff
    return Status(row.id, row.name, online, row.last_seen)


async def online_page(session: AsyncSession, cutoff: datetime, limit: int, offset: int) -> tuple[int, list[Status]]:
    """`(count of all online users, one page of them)`, most recently seen first."""
    count = await session.scalar(select(func.count()).select_from(User).where(_online_now(cutoff)))
    rows = await session.execute(
        select(User.id, User.name, User.last_seen)
        .where(_online_now(cutoff))
        .order_by(User.last_seen.desc(), User.id)
        .limit(limit)
        .offset(offset)
    )
    return int(count or 0), [Status(r.id, r.name, True, r.last_seen) for r in rows]


async def ensure_many(session: AsyncSession, user_ids: Iterable[str], now: datetime) -> None:
    """Creates the users not yet known (role `user`, no name, offline)."""
    rows = [
        {"id": uid, "name": None, "role": "user", "company_id": None, "created_at": now, "is_online": False}
        for uid in sorted(set(user_ids))  # one lock order for every writer (no deadlocks)
    ]
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        await session.execute(insert_for(session, User).values(chunk).on_conflict_do_nothing(index_elements=["id"]))


async def ensure_person(
    session: AsyncSession, user_id: str, name: str | None, role: str, company_id: str | None, now: datetime
) -> None:
    """The person's row exists, with the token's name when it carries one."""
    stmt = insert_for(session, User).values(
        id=user_id, name=name, role=role, company_id=company_id, created_at=now, is_online=False
    )
    if name is not None:
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"name": name})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["id"])
    await session.execute(stmt)
