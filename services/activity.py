"""Activity tracking (§5): `touch_last_activity`, reported events, the figures,
validation and backfill.

Every write goes through the cooldown store: at most one write per user per
PRESENCE_ACTIVITY_COOLDOWN of wall clock, except that a user's first activity
on each UTC day is always recorded (the cooldown key names the day, see
`domain.activity`). `force` bypasses the cooldown. After each write that
changed something, admins' sockets hear `activity:recorded {"users"}`, so the
console can move DAU without polling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from db.engine import SessionFactory
from db.queries import activity as queries
from db.queries import users as user_queries
from domain import activity as rules
from domain.clock import Clock, iso, to_datetime
from domain.rooms import ADMINS_ROOM
from infra.broadcast import Broadcaster
from infra.cooldowns import CooldownStore
from infra.settings import Settings

log = logging.getLogger("presence.activity")

BACKFILL_BATCH = 1000


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
    def __init__(
        self, db: SessionFactory, clock: Clock, broadcaster: Broadcaster, settings: Settings, cooldowns: CooldownStore
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._cooldowns = cooldowns
        self._cooldown = settings.activity_cooldown

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
            async with self._db.begin() as tx:
                await user_queries.ensure_many(tx, [e.user_id for e in due], to_datetime(now))
                await queries.record(tx, [queries.Activity(e.user_id, to_datetime(e.ts)) for e in due])
        except BaseException:
            for key in claimed:
                await self._cooldowns.release(key)
            raise
        try:
            await self._broadcaster.emit("activity:recorded", {"users": len(due)}, ADMINS_ROOM)
        except Exception:  # the activity is stored; a console misses one nudge
            log.warning("could not tell admins about recorded activity", exc_info=True)
        return len(due)

    async def metrics(self, detailed: bool = False) -> Metrics:
        now = self._clock()
        async with self._db() as tx:
            figures = await queries.figures(tx, rules.windows(now))
            days = await queries.daily(tx, rules.daily_range(now)) if detailed else None
        return Metrics(figures, now, days)

    async def compare_methods(self, metrics: Metrics) -> dict[str, dict[str, int]]:
        """DAU/WAU/MAU from `last_activity_at` beside the per-day record. The per-day
        method counts whole UTC days: DAU = today, WAU = the last 7 days (today
        included), MAU = the last 30; the window method counts 24 h spans."""
        today = rules.utc_day(metrics.as_of)
        async with self._db() as tx:
            per_day = {
                name: await queries.distinct_since(tx, today - timedelta(days=days - 1))
                for name, days in (("dau", 1), ("wau", 7), ("mau", 30))
            }
        f = metrics.figures
        return {"last_activity_at": {"dau": f.dau, "wau": f.wau, "mau": f.mau}, "per_day_record": per_day}

    async def problems(self, as_of: float) -> queries.Problems:
        """Users whose `last_activity_at` is null but active, in the future, or behind their newest day."""
        async with self._db() as tx:
            return await queries.problems(tx, to_datetime(as_of + rules.MAX_FUTURE))

    async def backfill_from_days(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Fills `last_activity_at` from the per-day record; how many users changed.

        Keyset passes of BACKFILL_BATCH users, each its own transaction: an
        interrupted run resumes by running again (finished batches change
        nothing the second time). `progress(done, total)` after each batch."""
        async with self._db() as tx:
            total = (await queries.figures(tx, rules.windows(self._clock()))).total_users
        changed, done, after = 0, 0, None
        while True:
            async with self._db.begin() as tx:
                ids = await queries.user_ids_after(tx, after, BACKFILL_BATCH)
                if not ids:
                    break
                not_after = to_datetime(self._clock() + rules.MAX_FUTURE)
                changed += await queries.backfill_from_days(tx, ids, not_after)
            after = ids[-1]
            done += len(ids)
            if progress is not None:
                progress(done, total)
        return changed

    async def backfill_rows(self, rows: Sequence[queries.Activity]) -> int:
        """Imports one batch of `(user_id, time)` rows in one transaction (unknown users
        are created); how many changed something."""
        async with self._db.begin() as tx:
            await user_queries.ensure_many(tx, [a.user_id for a in rows], to_datetime(self._clock()))
            return await queries.backfill_rows(tx, rows)
