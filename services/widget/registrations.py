"""The presence store's copy of each conversation (`Registration`, realtime/store/base.py):
what widget:online and conversation:join read instead of the database.

A PUT `publish`es the row it committed (before voiding the old session's sockets);
a store that does not know a conversation is filled from the database
(`read_through`), and a fill never replaces a newer PUT's copy (versions: the
row's `updated_at`, which grows with every PUT). Why that keeps widget:online
correct across nodes without a second database read: realtime/store/base.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db.engine import SessionFactory
from db.models import Conversation
from db.queries import conversations
from domain.clock import to_datetime
from realtime.store.base import PresenceStore, Registration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _seconds(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def registration_of(conv: Conversation) -> Registration:
    return Registration(
        conversation_id=conv.id,
        version=(conv.updated_at - EPOCH) // MICROSECOND,
        company_id=conv.company_id,
        platform=conv.platform,
        session_id=conv.session_id,
        customer_name=conv.customer_name,
        last_seen=_seconds(conv.last_seen),
        last_heartbeat=_seconds(conv.last_heartbeat),
    )


def conversation_of(r: Registration) -> Conversation:
    """A detached row with what the registration knows (for the tenancy check and snapshots)."""
    return Conversation(
        id=r.conversation_id,
        company_id=r.company_id,
        platform=r.platform,
        session_id=r.session_id,
        customer_name=r.customer_name,
        updated_at=EPOCH + r.version * MICROSECOND,
        last_seen=None if r.last_seen is None else to_datetime(r.last_seen),
        last_heartbeat=None if r.last_heartbeat is None else to_datetime(r.last_heartbeat),
    )


class Registry:
    def __init__(self, db: SessionFactory, store: PresenceStore) -> None:
        self._db = db
        self._store = store

    async def publish(self, conv: Conversation) -> None:
        """After a PUT's commit: the store's copy becomes this row (unless a later PUT's is there)."""
        await self._store.register(registration_of(conv))

    async def get(self, conversation_id: str) -> Registration | None:
        """The store's copy, or the database's row put there first; None: no such conversation."""
        return await self._store.registration(conversation_id) or await self.read_through(conversation_id)

    async def read_through(self, conversation_id: str) -> Registration | None:
        """Reads the row and offers it to the store; the store's copy afterwards (the row's,
        or a newer PUT's that won). None: no such conversation."""
        async with self._db() as tx:
            conv = await conversations.get(tx, conversation_id)
        if conv is None:
            return None
        mine = registration_of(conv)
        if await self._store.register(mine):
            return mine
        return await self._store.registration(conversation_id) or mine
