"""Conversations registered by the host application (§3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Conversation


class CompanyChange(Exception):
    """A conversation cannot move to another company."""


@dataclass(frozen=True, slots=True)
class Registered:
    conversation: Conversation
    created: bool


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
    """Keeps the customer's last departure (never moving it back). Commits."""
    await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(Conversation.last_seen.is_(None), Conversation.last_seen < last_seen),
        )
        .values(last_seen=last_seen, last_heartbeat=last_heartbeat)
    )
    await session.commit()


async def register(
    session: AsyncSession,
    conversation_id: str,
    company_id: str,
    platform: str,
    session_id: str,
    customer_name: str | None,
    now: datetime,
) -> Registered:
    """Creates or updates; `CompanyChange` if the stored company differs. Commits."""
    for attempt in range(2):
        existing = await session.get(Conversation, conversation_id, with_for_update=True)
        if existing is not None:
            if existing.company_id != company_id:
                await session.rollback()
                raise CompanyChange
            existing.platform = platform
            existing.session_id = session_id
            existing.customer_name = customer_name
            existing.updated_at = now
            await session.commit()
            return Registered(existing, created=False)
        conv = Conversation(
            id=conversation_id,
            company_id=company_id,
            platform=platform,
            session_id=session_id,
            customer_name=customer_name,
            created_at=now,
            updated_at=now,
        )
        session.add(conv)
        try:
            await session.commit()
        except IntegrityError:
            # Two PUTs of a new id at once: the other one created it; update that.
            await session.rollback()
            if attempt:
                raise
            continue
        return Registered(conv, created=True)
    raise AssertionError("unreachable")
