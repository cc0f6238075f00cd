"""Activity tracking (§5): `touch_last_activity`, reported events, the figures.

Every write goes through the cooldown store: at most one write per user per
`PRESENCE_ACTIVITY_COOLDOWN` of wall clock, except that a user's first activity
on each UTC day is always recorded (the cooldown key names the day, see
`domain.activity`). `force` bypasses the cooldown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from db.engine import SessionFactory
from db.queries import activity as queries
from db.queries import users as user_queries
from domain import activity as rules
from domain.clock import Clock, iso
from presence.cooldowns import CooldownStore

log = logging.getLogger("presence.activity")


@dataclass(frozen=True, slots=True)
class Event:
    user_id: str
    ts: float


@dataclass(frozen=True, slots=True)
class Metrics:
    figures: queries.Figures
    as_of: float
    daily: list[tuple[date, int]] | None = None

    def as_json(self) -> dict[str, Any]:
        f = self.figures
        body: dict[str, Any] = {
            "dau": f.dau,
            "wau": f.wau,
            "mau": f.mau,
            "stickiness": rules.stickiness(f.dau, f.mau),
            "total_users": f.total_users,
            "never_active": f.never_active,
            "as_of": iso(self.as_of),
        }
        if self.daily is not None:
            body["daily"] = [{"date": d.isoformat(), "active": n} for d, n in self.daily]
        return body


class ActivityTracker:
    def __init__(self, sessions: SessionFactory, cooldowns: CooldownStore, cooldown: float, clock: Clock) -> None:
        self._sessions = sessions
        self._cooldowns = cooldowns
        self._cooldown = cooldown
        self._clock = clock

    async def touch_last_activity(self, user_id: str, ts: float | None = None, force: bool = False) -> bool:
        """Records that the user was active at `ts` (default now); True if written.

        Creates the user if unknown. `last_activity_at` only moves forward.
        """
        return bool(await self.record([Event(user_id, self._clock() if ts is None else ts)], force=force))

    async def record(self, events: Sequence[Event], force: bool = False) -> int:
        """Writes the events the cooldown lets through, in one transaction; how many were written.

        Of several events of one user on one UTC day, the latest stands for them.
        """
        latest: dict[str, Event] = {}
        for e in events:
            key = rules.cooldown_key(e.user_id, e.ts)
            if key not in latest or latest[key].ts < e.ts:
                latest[key] = e
        now = self._clock()
        claimed: list[str] = []
        due: list[Event] = []
        for key, e in latest.items():
            if await self._cooldowns.claim(key, self._cooldown, now) or force:
                claimed.append(key)
                due.append(e)
        if not due:
            return 0
        try:
            async with self._sessions() as session:
                await user_queries.ensure_many(session, [e.user_id for e in due], datetime.fromtimestamp(now, UTC))
                await queries.record(
                    session, [queries.Activity(e.user_id, datetime.fromtimestamp(e.ts, UTC)) for e in due]
                )
                await session.commit()
        except BaseException:
            for key in claimed:
                await self._cooldowns.release(key)
            raise
        return len(due)

    async def metrics(self, detailed: bool = False) -> Metrics:
        now = self._clock()
        async with self._sessions() as session:
            figures = await queries.figures(session, rules.windows(now))
            days = await queries.daily(session, rules.daily_range(now)) if detailed else None
        return Metrics(figures, now, days)
