"""Helpers for the §4/§5 tests: direct database access and statement counting."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import create_engine, create_session_factory
from db.models import User, UserActivityDay


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[Any]:
    """A session factory on the test database, disposed afterwards."""
    engine = create_engine(url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def add_user(
    session: AsyncSession,
    user_id: str,
    *,
    online: bool = False,
    last_seen: datetime | None = None,
    last_activity_at: datetime | None = None,
    days: tuple[date, ...] = (),
) -> None:
    session.add(
        User(
            id=user_id,
            name=None,
            role="user",
            created_at=datetime.now(UTC),
            is_online=online,
            last_seen=last_seen,
            last_activity_at=last_activity_at,
        )
    )
    await session.flush()
    for d in days:
        session.add(UserActivityDay(user_id=user_id, day=d))
    await session.commit()


async def user_row(session: AsyncSession, user_id: str) -> User | None:
    return await session.scalar(select(User).where(User.id == user_id).execution_options(populate_existing=True))


async def days_of(session: AsyncSession, user_id: str) -> list[date]:
    rows = await session.scalars(
        select(UserActivityDay.day).where(UserActivityDay.user_id == user_id).order_by(UserActivityDay.day)
    )
    return [d if isinstance(d, date) else date.fromisoformat(d) for d in rows]


@contextlib.contextmanager
def count_statements(engine: AsyncEngine, prefix: str) -> Iterator[list[str]]:
    """Every statement the engine sends whose SQL starts with `prefix` (case-insensitive)."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(prefix.upper()):
            seen.append(statement)

    event.listen(engine.sync_engine, "after_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", listener)


async def next_about(log: Any, event: str, user_id: str) -> dict[str, Any]:
    """The next `event` about `user_id`, skipping those about others (the admin itself)."""
    while True:
        data = await log.next(event)
        if data["user_id"] == user_id:
            return data
