"""App-user online status and last seen (SPEC.md §2, §4).

A person's row is created on first sight of their token in an accepted
request; every accepted request or user socket keeps them online, writing
`last_seen` at most once per PRESENCE_USER_TOUCH_THROTTLE; the sweep marks
offline whoever has been quiet for PRESENCE_USER_OFFLINE_AFTER. Admins'
sockets (room `admins`) hear `user:online` / `user:offline`.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from db.engine import SessionFactory
from db.queries import users as queries
from domain.clock import Clock, iso_dt, to_datetime
from domain.identity import Identity
from domain.rooms import ADMINS_ROOM
from domain.user_presence import offline_cutoff
from infra.broadcast import Broadcaster
from infra.cooldowns import CooldownStore
from infra.settings import Settings
from services.errors import NotFound

KNOWN_CACHE_SIZE = 100_000


def seen_key(user_id: str) -> str:
    return f"seen:{user_id}"


class UserStatus:
    """Also makes sure a person's user row exists, without a write per request:
    it remembers (in a bounded LRU) which users this process has written, with
    the name it wrote, so a row is written once per process, and again only
    when the token's name changes."""

    def __init__(
        self, db: SessionFactory, clock: Clock, broadcaster: Broadcaster, settings: Settings, cooldowns: CooldownStore
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._cooldowns = cooldowns
        self._throttle = settings.user_touch_throttle
        self._offline_after = settings.user_offline_after
        self._known: OrderedDict[str, str | None] = OrderedDict()

    def _cutoff(self, now: float) -> datetime:
        return to_datetime(offline_cutoff(now, self._offline_after))

    async def seen(self, identity: Identity) -> None:
        """Every accepted request and user socket: the row exists, the user is online.

        `last_seen` is written at most once per PRESENCE_USER_TOUCH_THROTTLE per user (§4).
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
            return
        async with self._db.begin() as tx:
            await queries.ensure_person(
                tx, identity.sub, identity.name, identity.role, identity.company, to_datetime(self._clock())
            )
        self._known[identity.sub] = identity.name
        if len(self._known) > KNOWN_CACHE_SIZE:
            self._known.popitem(last=False)

    async def _touch(self, user_id: str, now: float) -> datetime:
        at = to_datetime(now)
        try:
            async with self._db.begin() as tx:
                went_online = await queries.touch(tx, user_id, at)
        except BaseException:
            await self._cooldowns.release(seen_key(user_id))
            raise
        if went_online:
            await self._tell("user:online", user_id, at)
        return at

    async def heartbeat(self, identity: Identity) -> datetime | None:
        """An explicit heartbeat: `seen`, then the stored `last_seen`.

        If the row says offline although this process holds a throttle claim
        (another node logged the user out), the heartbeat writes anyway.
        """
        await self.seen(identity)
        now = self._clock()
        async with self._db() as tx:
            current = await queries.status(tx, identity.sub, self._cutoff(now))
        if current is None or not current.is_online:
            await self._cooldowns.claim(seen_key(identity.sub), self._throttle, now)
            return await self._touch(identity.sub, now)
        return current.last_seen

    async def logout(self, identity: Identity) -> datetime:
        """Offline at once; the next request brings the user back online."""
        await self.known(identity)
        at = to_datetime(self._clock())
        async with self._db.begin() as tx:
            went_offline = await queries.logout(tx, identity.sub, at)
        await self._cooldowns.release(seen_key(identity.sub))
        if went_offline:
            await self._tell("user:offline", identity.sub, at)
        return at

    async def sweep(self) -> int:
        """Marks offline the users not seen for PRESENCE_USER_OFFLINE_AFTER (§4); the count.
        The job `users_offline` and `presence check-offline-users`."""
        async with self._db.begin() as tx:
            gone = await queries.sweep(tx, self._cutoff(self._clock()))
        for user_id, last_seen in gone:
            await self._cooldowns.release(seen_key(user_id))
            await self._tell("user:offline", user_id, last_seen)
        return len(gone)

    async def status_of(self, user_id: str) -> queries.Status:
        async with self._db() as tx:
            found = await queries.status(tx, user_id, self._cutoff(self._clock()))
        if found is None:
            raise NotFound("Unknown user")
        return found

    async def online_page(self, limit: int, offset: int) -> tuple[int, list[queries.Status]]:
        """`(how many users are online, one page of them)`, most recently seen first."""
        async with self._db() as tx:
            return await queries.online_page(tx, self._cutoff(self._clock()), limit, offset)

    async def _tell(self, event: str, user_id: str, last_seen: datetime | None) -> None:
        await self._broadcaster.emit(event, {"user_id": user_id, "last_seen": iso_dt(last_seen)}, ADMINS_ROOM)
