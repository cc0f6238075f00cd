"""Users' livestream credits (§7): grants, the balance, and its ledger.

`users.credits` is only ever changed by guarded UPDATEs (`credits = credits + n`
here, `credits = credits - 1 WHERE credits >= 1` in db/queries/livestreams.py),
never read-modify-written, and a CHECK keeps it at zero or more. Every change has
its ledger row (a grant or a charge), so `balance == granted - charged` holds.
Functions never commit or roll back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CreditGrant, LivestreamCharge, User
from db.queries.users import ensure_many
from domain.credits import MAX_CREDITS, grant_error


async def grant(
    session: AsyncSession, user_id: str, amount: int, now: datetime, granted_by: str | None = None
) -> int | None:
    """Adds `amount` credits to the user (creating the user, role `user`, if unseen)
    and records the grant; returns the new balance, or None when the balance would
    pass `MAX_CREDITS` (nothing is granted then). Raises ValueError for an amount
    that is not a positive integer (`domain.credits.grant_error`)."""
    problem = grant_error(amount)
    if problem:
        raise ValueError(problem)
    await ensure_many(session, [user_id], now)
    added = await session.execute(
        update(User)
        .where(User.id == user_id, User.credits <= MAX_CREDITS - amount)
        .values(credits=User.credits + amount)
        .returning(User.credits)
        .execution_options(synchronize_session=False)
    )
    remaining = added.scalar()
    if remaining is None:
        return None
    await session.execute(
        insert(CreditGrant).values(user_id=user_id, amount=amount, granted_at=now, granted_by=granted_by)
    )
    return int(remaining)


async def balance(session: AsyncSession, user_id: str) -> int | None:
    """The user's remaining credits; None for an unknown user."""
    value = await session.scalar(select(User.credits).where(User.id == user_id))
    return None if value is None else int(value)


async def balances(session: AsyncSession, user_ids: list[str]) -> dict[str, int]:
    """Remaining credits of each known user among `user_ids`."""
    found: dict[str, int] = {}
    ids = list(dict.fromkeys(user_ids))
    for start in range(0, len(ids), 500):
        rows = await session.execute(select(User.id, User.credits).where(User.id.in_(ids[start : start + 500])))
        found.update({uid: int(credits) for uid, credits in rows})
    return found


@dataclass(frozen=True, slots=True)
class Ledger:
    granted: int
    charged: int
    balance: int

    @property
    def balanced(self) -> bool:
        """The balance is exactly what was granted minus what was charged."""
        return self.balance == self.granted - self.charged


async def ledger(session: AsyncSession, user_id: str) -> Ledger:
    """The user's credits granted, charged, and remaining (0s for an unknown user)."""
    granted = await session.scalar(
        select(func.coalesce(func.sum(CreditGrant.amount), 0)).where(CreditGrant.user_id == user_id)
    )
    charged = await session.scalar(
        select(func.coalesce(func.sum(LivestreamCharge.credits), 0)).where(LivestreamCharge.user_id == user_id)
    )
    return Ledger(int(granted or 0), int(charged or 0), await balance(session, user_id) or 0)
