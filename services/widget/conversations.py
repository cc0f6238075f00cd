"""Conversations (§3): registered by the host application, read by agents.

`register` is `PUT /api/conversations/{id}`; `visible` is the tenancy rule
(an agent sees its own company's conversations, an admin or service every
one); `snapshot` / `snapshots` are the presence answers of the join ack and
of REST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.engine import SessionFactory
from db.models import Conversation
from db.queries import conversations
from domain.clock import Clock, to_datetime
from domain.identity import Identity
from realtime.store.base import PresenceStore
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.widget.registrations import conversation_of
from services.widget.service import WidgetPresence
from services.widget.snapshots import snapshot_json

PLATFORMS = ("WIDGET", "FACEBOOK", "INSTAGRAM")
BATCH_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Registered:
    conversation: Conversation
    created: bool


def sees_every_company(identity: Identity) -> bool:
    return identity.role in ("admin", "service")


class Conversations:
    def __init__(self, db: SessionFactory, clock: Clock, store: PresenceStore, widget: WidgetPresence) -> None:
        self._db = db
        self._clock = clock
        self._store = store
        self._widget = widget

    async def register(
        self, conversation_id: str, company_id: str, platform: str, session_id: str, customer_name: str | None
    ) -> Registered:
        """Creates or updates; a conversation never moves to another company (409).

        Sockets bound under a session that is no longer the conversation's are
        dropped afterwards; idempotent, so a retried PUT finishes what a failed
        one started."""
        async with self._db.begin() as tx:
            result = await conversations.register(
                tx, conversation_id, company_id, platform, session_id, customer_name, to_datetime(self._clock())
            )
        if result is None:
            raise Conflict("A conversation cannot move to another company", details={"companyId": "immutable"})
        conv, created = result
        if self._widget.registry is not None:
            # Before voiding: every later widget:online, on any node, is checked against this row.
            await self._widget.registry.publish(conv)
        await self._widget.void_other_sessions(conv)
        return Registered(conv, created)

    async def visible(
        self, identity: Identity, conversation_id: str, refuse: type[ServiceError] | None = None
    ) -> Conversation:
        """The conversation, if the caller may see it. `refuse` replaces NotFound and
        Forbidden with one kind (a socket ack has no status code). Read from the presence
        store's copy when there is one (the company never changes; the name and platform
        are the latest PUT's)."""
        registry = self._widget.registry
        conv: Conversation | None
        if registry is not None:
            registration = await registry.get(conversation_id)
            conv = None if registration is None else conversation_of(registration)
        else:
            async with self._db() as tx:
                conv = await conversations.get(tx, conversation_id)
        if conv is None:
            raise (refuse or NotFound)("Unknown conversation")
        if not sees_every_company(identity) and identity.company != conv.company_id:
            raise (refuse or Forbidden)("This conversation belongs to another company")
        return conv

    async def presence(self, identity: Identity, conversation_id: str) -> dict[str, Any]:
        return await self.snapshot(await self.visible(identity, conversation_id))

    async def batch(self, identity: Identity, ids: list[str]) -> tuple[dict[str, Any], list[str]]:
        """Snapshots of the conversations the caller may see; the rest listed as missing."""
        async with self._db() as tx:
            found = await conversations.get_many(tx, ids)
        visible: list[Conversation] = []
        missing: list[str] = []
        for conversation_id in dict.fromkeys(ids):
            conv = found.get(conversation_id)
            if conv is None or (not sees_every_company(identity) and conv.company_id != identity.company):
                missing.append(conversation_id)
            else:
                visible.append(conv)
        return await self.snapshots(visible), missing

    async def snapshot(self, conv: Conversation) -> dict[str, Any]:
        """The presence snapshot of §3 (also the REST answer)."""
        agents = await self._store.room_size(conv.id)
        if conv.platform != "WIDGET":
            return snapshot_json(conv, None, supported=False, agents=agents)
        return snapshot_json(conv, await self._store.snapshot(conv.id), supported=True, agents=agents)

    async def snapshots(self, convs: list[Conversation]) -> dict[str, dict[str, Any]]:
        """Snapshots of many conversations in two store round trips (the batch endpoint)."""
        ids = [c.id for c in convs]
        states = await self._store.snapshots([c.id for c in convs if c.platform == "WIDGET"])
        agents = await self._store.room_sizes(ids)
        return {
            c.id: snapshot_json(c, states.get(c.id), supported=c.platform == "WIDGET", agents=agents[c.id])
            for c in convs
        }
