"""The admin console's overview (SPEC §9): what is live now, cheaply, and a nudge
to admins when customers come or go.

What one overview costs (`GET /api/admin/overview`):

- customers online now: `PresenceStore.online(limit)`, O(1) for the count
  (memory: `len` of a dict; Redis: ZCARD) and O(limit) for the latest arrivals
  (ZREVRANGE), then one primary-key lookup of their names in `conversations`;
- users online now, live attendance sessions, live streams: three indexed counts
  and three short lists (`db.queries.overview`), each the range of an index that
  holds only what is live. They are read at most once per COUNTS_MAX_AGE per
  node, however many admins look (one reader at a time; the others wait for its
  answer), so a hundred open consoles cost the database what one does.

Realtime: every node hears every presence change (the store's ordered stream);
when one brings a customer online or takes one offline, this node tells its own
admin sockets `overview:changed {"customers": {"online"}, "as_of"}` (local emit:
each node tells its own sockets, so nobody hears it twice), at most once per
CHANGED_EVERY. A flood of 10,000 widgets arriving costs one ZCARD and one emit
per second per node; heartbeats (most changes) cost one loop over their notices.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from db.engine import SessionFactory
from db.queries import conversations
from db.queries import overview as queries
from domain.attendance import sweep_cutoff
from domain.clock import Clock, iso, iso_dt, to_datetime
from domain.rooms import ADMINS_ROOM
from domain.user_presence import offline_cutoff
from infra.broadcast import Broadcaster
from infra.settings import Settings
from infra.tasks import TaskSet
from realtime.store.base import Change, PresenceStore

log = logging.getLogger("presence.overview")

COUNTS_MAX_AGE = 1.0
"""Seconds the database part of the overview is reused for, per node."""
CHANGED_EVERY = 1.0
"""At most one `overview:changed` per this many seconds per node."""
RECENT_DEFAULT = 10
RECENT_MAX = 50


@dataclass(frozen=True, slots=True)
class Live:
    """The database part of the overview, as read at `read_at`."""

    read_at: float
    users: tuple[int, list[queries.OnlineUser]]
    sessions: tuple[int, list[queries.LiveSession]]
    streams: tuple[int, list[queries.LiveStream]]


@dataclass(frozen=True, slots=True)
class Customer:
    conversation_id: str
    customer_name: str | None
    company_id: str | None
    online_since: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    as_of: float
    customers_online: int
    customers: list[Customer]
    live: Live
    limit: int

    def as_json(self) -> dict[str, Any]:
        """Each part keeps the field names of its capability's own REST answers
        (§3 and §6 camelCase, §4 and §7 snake_case)."""
        n = self.limit
        users_online, users = self.live.users
        sessions_live, sessions = self.live.sessions
        streams_live, streams = self.live.streams
        return {
            "as_of": iso(self.as_of),
            "customers": {
                "online": self.customers_online,
                "recent": [
                    {
                        "conversationId": c.conversation_id,
                        "customerName": c.customer_name,
                        "companyId": c.company_id,
                        "onlineSince": iso(c.online_since),
                    }
                    for c in self.customers[:n]
                ],
            },
            "users": {
                "online": users_online,
                "recent": [{"user_id": u.user_id, "name": u.name, "last_seen": iso_dt(u.last_seen)} for u in users[:n]],
            },
            "sessions": {
                "live": sessions_live,
                "recent": [
                    {
                        "id": s.id,
                        "meetingId": s.meeting_id,
                        "meetingTitle": s.meeting_title,
                        "teacherName": s.teacher_name,
                        "studentId": s.student_id,
                        "studentName": s.student_name,
                        "clickedAt": iso_dt(s.clicked_at),
                        "lastActivityAt": iso_dt(s.last_activity_at),
                    }
                    for s in sessions[:n]
                ],
            },
            "streams": {
                "live": streams_live,
                "recent": [
                    {
                        "id": s.id,
                        "title": s.title,
                        "user_id": s.user_id,
                        "owner_name": s.owner_name,
                        "started_at": iso_dt(s.started_at),
                        "credits_consumed": s.credits_consumed,
                        "remaining_credits": s.remaining_credits,
                    }
                    for s in streams[:n]
                ],
            },
        }


class Overview:
    def __init__(
        self,
        db: SessionFactory,
        clock: Clock,
        broadcaster: Broadcaster,
        settings: Settings,
        store: PresenceStore,
        *,
        counts_max_age: float = COUNTS_MAX_AGE,
        changed_every: float = CHANGED_EVERY,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._settings = settings
        self._store = store
        self._max_age = counts_max_age
        self._every = changed_every
        self._live: Live | None = None
        self._reading = asyncio.Lock()
        self._tasks = TaskSet()
        self._nudge_due = False
        self._last_nudge = float("-inf")
        store.listen(self._presence_changed)

    async def snapshot(self, limit: int = RECENT_DEFAULT) -> Snapshot:
        """Customers online (fresh from the store), and the database's figures (at
        most COUNTS_MAX_AGE old), with up to `limit` names of each (at most RECENT_MAX)."""
        limit = max(0, min(limit, RECENT_MAX))
        now = self._clock()
        online = await self._store.online(limit)
        live = await self._read_live()
        async with self._db() as tx:
            found = await conversations.get_many(tx, [c for c, _ in online.recent]) if online.recent else {}
        customers = []
        for conversation_id, since in online.recent:
            conv = found.get(conversation_id)
            customers.append(
                Customer(
                    conversation_id,
                    conv.customer_name if conv is not None else None,
                    conv.company_id if conv is not None else None,
                    since,
                )
            )
        return Snapshot(now, online.count, customers, live, limit)

    async def _read_live(self) -> Live:
        cached = self._live
        if cached is not None and self._clock() - cached.read_at < self._max_age:
            return cached
        async with self._reading:  # one reader at a time: the others get its answer
            cached = self._live
            if cached is not None and self._clock() - cached.read_at < self._max_age:
                return cached
            started = self._clock()
            s = self._settings
            async with self._db() as tx:
                users = await queries.users_online(
                    tx, to_datetime(offline_cutoff(started, s.user_offline_after)), RECENT_MAX
                )
                sessions = await queries.sessions_live(
                    tx, to_datetime(sweep_cutoff(started, s.session_timeout_after)), RECENT_MAX
                )
                streams = await queries.streams_live(tx, RECENT_MAX)
            self._live = Live(started, users, sessions, streams)
            return self._live

    # ------------------------------------------------------------ realtime
    def _presence_changed(self, change: Change) -> None:
        """The store's listener (every change on every node, in order; must not block)."""
        if self._nudge_due:
            return
        if not any(n.kind in ("online", "offline") for n in change.notices):
            return  # heartbeats, typing, visibility: the count did not move
        self._nudge_due = True
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_nudge + self._every - loop.time())
        self._tasks.later(delay, self._nudge, name="overview:changed")

    async def _nudge(self) -> None:
        self._nudge_due = False  # a change from now on schedules the next nudge
        self._last_nudge = asyncio.get_running_loop().time()
        try:
            online = await self._store.online(0)
            payload = {"customers": {"online": online.count}, "as_of": iso(self._clock())}
            await self._broadcaster.emit_local("overview:changed", payload, ADMINS_ROOM)
        except Exception:  # the console re-reads the overview on its next nudge or reconnect
            log.warning("could not tell admins that customers changed", exc_info=True)

    async def close(self) -> None:
        await self._tasks.close()
