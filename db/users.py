"""Users of the host application, created on first sight of their token (§2)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

from db.engine import SessionFactory
from db.models import User
from db.upsert import insert_for
from domain.clock import Clock
from domain.identity import Identity

KNOWN_CACHE_SIZE = 100_000


class UserDirectory:
    """Makes sure a person's user row exists, without a write per request.

    Remembers (in a bounded LRU) which users this process has already written,
    with the name it wrote, so a user's row is written once per process, and
    again only when the token's name changes.
    """

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._known: OrderedDict[str, str | None] = OrderedDict()

    async def seen(self, identity: Identity) -> None:
        if not identity.is_person:
            return
        if identity.sub in self._known and self._known[identity.sub] == identity.name:
            self._known.move_to_end(identity.sub)
            return
        await self.ensure(identity)

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
