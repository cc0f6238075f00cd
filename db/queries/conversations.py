"""Conversations registered by the host application (§3). Nothing here commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation
from db.upsert import insert_for


async def get(session: AsyncSession, conversation_id: str) -> Conversation | None:
    return await session.get(Conversation, conversation_id)


async def get_many(session: AsyncSession, ids: Iterable[str]) -> dict[str, Conversation]:
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Conversation] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.scalars(select(Conversation).where(Conversation.id.in_(wanted[start : start + 500])))
        found.update({c.id: c for c in rows})
    return found


async def record_departure(
    session: AsyncSession, conversation_id: str, last_seen: datetime, last_heartbeat: datetime | None
) -> None:
    """Keeps the customer's last departure (never moving it back)."""
    await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(Conversation.last_seen.is_(None), Conversation.last_seen < last_seen),
        )
        .values(last_seen=last_seen, last_heartbeat=last_heartbeat)
    )


async def register(
    session: AsyncSession,
    conversation_id: str,
    company_id: str,
    platform: str,
    session_id: str,
    customer_name: str | None,
    now: datetime,
) -> tuple[Conversation, bool] | None:
    """Creates or updates: `(conversation, created)`, or None when the stored company
    differs (a conversation never moves). Two PUTs of a new id at once: one inserts,
    the other finds that row locked and updates it after.

    `updated_at` strictly grows with every update of a row (at least one
    microsecond past the previous value, whatever the callers' clocks say): it
    is the version the presence store orders registrations by (realtime/store/base.py)."""
    inserted = await session.execute(
        insert_for(session, Conversation)
        .values(
            id=conversation_id,
            company_id=company_id,
            platform=platform,
            session_id=session_id,
            customer_name=customer_name,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Conversation.id)
    )
    created = inserted.first() is not None
    conv = await session.get(Conversation, conversation_id, with_for_update=True, populate_existing=True)
    assert conv is not None
    if created:
        return conv, True
    if conv.company_id != company_id:
        return None
    conv.platform = platform
    conv.session_id = session_id
    conv.customer_name = customer_name
    conv.updated_at = max(now, conv.updated_at + timedelta(microseconds=1))
    await session.flush()
    return conv, False
