"""Users of the host application, created on first sight of their token (§2)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from db.engine import SessionFactory
from db.models import User
from db.queries import users as user_queries
from db.upsert import insert_for
from domain.clock import Clock
from domain.identity import Identity
from domain.user_presence import offline_cutoff
from presence.cooldowns import CooldownStore, MemoryCooldowns

StatusListener = Callable[[str, datetime | None], Awaitable[None]]
"""Told `(user_id, last_seen)` when a user goes online or offline."""


async def _nobody(_user_id: str, _last_seen: datetime | None) -> None:
    return None


def seen_key(user_id: str) -> str:
    return f"seen:{user_id}"


KNOWN_CACHE_SIZE = 100_000


class UserDirectory:
    """Makes sure a person's user row exists, without a write per request.

    Remembers (in a bounded LRU) which users this process has already written,
    with the name it wrote, so a user's row is written once per process, and
    again only when the token's name changes.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        cooldowns: CooldownStore | None = None,
        touch_throttle: float = 10,
        offline_after: float = 1800,
        on_online: StatusListener = _nobody,
        on_offline: StatusListener = _nobody,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._known: OrderedDict[str, str | None] = OrderedDict()
        self._cooldowns: CooldownStore = cooldowns if cooldowns is not None else MemoryCooldowns()
        self._throttle = touch_throttle
        self._offline_after = offline_after
        self._on_online = on_online
        self._on_offline = on_offline

    async def seen(self, identity: Identity) -> None:
        """Every accepted request and user socket: the row exists, the user is online.

        `last_seen` is written at most once per `touch_throttle` per user (§4).
        """
        if not identity.is_person:
            return
        await self.known(identity)
        now = self._clock()
        if await self._cooldowns.claim(seen_key(identity.sub), self._throttle, now):
            await self._touch(identity.sub, now)

    async def known(self, identity: Identity) -> None:
        """The person's row exists (created on first sight, name kept current); no touch."""
        if not identity.is_person:
            return
        if identity.sub in self._known and self._known[identity.sub] == identity.name:
            self._known.move_to_end(identity.sub)
        else:
            await self.ensure(identity)

    async def _touch(self, user_id: str, now: float) -> datetime:
        at = datetime.fromtimestamp(now, UTC)
        try:
            async with self._sessions() as session:
                went_online = await user_queries.touch(session, user_id, at)
        except BaseException:
            await self._cooldowns.release(seen_key(user_id))
            raise
        if went_online:
            await self._on_online(user_id, at)
        return at

    async def heartbeat(self, identity: Identity) -> datetime | None:
        """An explicit heartbeat: `seen`, then the stored `last_seen`.

        If the row says offline although this process holds a throttle claim
        (another node logged the user out), the heartbeat writes anyway.
        """
        await self.seen(identity)
        now = self._clock()
        async with self._sessions() as session:
            current = await user_queries.status(
                session, identity.sub, datetime.fromtimestamp(offline_cutoff(now, self._offline_after), UTC)
            )
        if current is None or not current.is_online:
            await self._cooldowns.claim(seen_key(identity.sub), self._throttle, now)
            return await self._touch(identity.sub, now)
        return current.last_seen

    async def logout(self, identity: Identity) -> datetime:
        """Offline at once; the next request brings the user back online."""
        await self.known(identity)
        at = datetime.fromtimestamp(self._clock(), UTC)
        async with self._sessions() as session:
            went_offline = await user_queries.logout(session, identity.sub, at)
        await self._cooldowns.release(seen_key(identity.sub))
        if went_offline:
            await self._on_offline(identity.sub, at)
        return at

    async def sweep(self) -> int:
        """Marks offline the users not seen for `offline_after` (§4); the count."""
        cutoff = datetime.fromtimestamp(offline_cutoff(self._clock(), self._offline_after), UTC)
        async with self._sessions() as session:
            gone = await user_queries.sweep(session, cutoff)
        for user_id, last_seen in gone:
            await self._cooldowns.release(seen_key(user_id))
            await self._on_offline(user_id, last_seen)
        return len(gone)

    async def ensure(self, identity: Identity) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        async with self._sessions() as session:
            stmt = insert_for(session, User).values(
                id=identity.sub,
                name=identity.name,
                role=identity.role,
                company_id=identity.company,
                created_at=now,
                is_online=False,
            )
            if identity.name is not None:
                stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"name": identity.name})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=["id"])
            await session.execute(stmt)
            await session.commit()
        self._known[identity.sub] = identity.name
        if len(self._known) > KNOWN_CACHE_SIZE:
            self._known.popitem(last=False)
