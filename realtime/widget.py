"""Chat-widget customer presence over Socket.IO (SPEC.md §3).

Widget sockets bind to a conversation with `widget:online`, keep their lease
with heartbeats, and leave by `widget:offline`, by disconnecting, or by letting
the lease expire (the sweep). The rules are `domain.widget_presence`; the state
is in the `PresenceStore`; this module checks input, calls the store and tells
the agents in room `conversation:{id}` what changed.

Widget sockets are not put in the Socket.IO room: customer events are for
agents, and a customer's other tabs need not hear them. `socketsInRoom` counts
both (agents on every node, from the store, plus the customer's devices).
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from db.engine import SessionFactory
from db.models import Conversation
from db.queries import conversations
from domain.clock import Clock
from domain.ids import MAX_ID_LENGTH
from presence.metrics import Metrics
from presence.settings import Settings
from realtime.connections import Binding, SocketInfo
from realtime.customer_feed import CustomerFeed
from realtime.gateway import Ack, Refused, SocketGateway
from realtime.lease_sweep import LeaseSweep
from realtime.snapshots import snapshot_json
from realtime.store.base import PresenceStore
from realtime.tasks import TaskSet

log = logging.getLogger("presence.widget")

NOT_BOUND = "Send widget:online for this conversation first"


def widget_payload(data: Any, flag: str | None = None) -> tuple[str, str, bool | None]:
    """`(conversationId, sessionId, flag)` from an event payload, or `Refused` saying what is wrong."""
    if not isinstance(data, dict):
        raise Refused("The payload must be an object {conversationId, sessionId}")
    conversation_id, session_id = data.get("conversationId"), data.get("sessionId")
    for name, value in (("conversationId", conversation_id), ("sessionId", session_id)):
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise Refused(f"{name} is required and must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    value: bool | None = None
    if flag is not None:
        value = data.get(flag)
        if not isinstance(value, bool):
            raise Refused(f"{flag} is required and must be true or false")
    return conversation_id, session_id, value  # type: ignore[return-value]


class WidgetPresence:
    def __init__(
        self,
        gateway: SocketGateway,
        store: PresenceStore,
        sessions: SessionFactory,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        node_id: str,
    ) -> None:
        self.sio: socketio.AsyncServer = gateway.sio
        self.store = store
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._node = node_id
        self._timers = TaskSet()
        self._connections = gateway.connections
        self.feed = CustomerFeed(self.sio, sessions)
        self.sweep = LeaseSweep(store, self.feed, self._connections, self.sio, settings, clock, metrics)
        gateway.on("widget:online", self.online)
        gateway.on("widget:heartbeat", self.heartbeat)
        gateway.on("widget:offline", self.offline)
        gateway.on("widget:typing", self.typing)
        gateway.on("widget:visibility", self.visibility)
        gateway.on_disconnect(self.socket_closed)
        gateway.on_connect(self.socket_opened)

    # ------------------------------------------------------------ widget events
    async def online(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conversation_id, session_id, _ = widget_payload(data)
        async with self._sessions() as session:
            conv = await conversations.get(session, conversation_id)
        if conv is None:
            raise Refused("Unknown conversation")
        if conv.platform != "WIDGET":
            raise Refused(f"Only WIDGET conversations have presence; this one is {conv.platform}")
        if conv.session_id != session_id:
            raise Refused("sessionId does not belong to this conversation")
        if info.binding is not None and info.binding.conversation_id != conversation_id:
            await self._drop(sid, info, "closed")
        now = self._clock()
        outcome = await self.store.bind(conversation_id, session_id, sid, self._node, now)
        info.binding = Binding(conversation_id, session_id)
        self._metrics.heartbeats.labels("widget").inc()
        await self.feed.tell(outcome)
        # Double-check after the write, against the two things that may have
        # changed while we awaited: the socket closed (its disconnect found no
        # binding to drop), or a PUT replaced the session (its end_session ran
        # before this bind existed). Either way this lease must not stay.
        if self._connections.get(sid) is not info:
            await self._drop(sid, info, "disconnected")
            raise Refused("This socket closed while coming online")
        async with self._sessions() as session:
            current = await conversations.get(session, conversation_id)
        if current is None or current.session_id != session_id or current.platform != "WIDGET":
            await self._drop(sid, info, "closed")
            raise Refused("sessionId does not belong to this conversation")
        log.debug("widget online conversation=%s sid=%s devices=%d", conversation_id, sid, outcome.presence.devices)
        return {"ok": True, "heartbeatInterval": self._settings.widget_heartbeat_interval}

    async def heartbeat(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        binding = self._bound(info, data)
        outcome = await self.store.heartbeat(binding.conversation_id, sid, self._clock())
        if outcome is None:
            info.binding = None  # the lease expired meanwhile: no ghost comes back
            raise Refused("This socket's lease has expired; send widget:online again")
        self._metrics.heartbeats.labels("widget").inc()
        await self.feed.tell(outcome)
        return {"ok": True, "heartbeatInterval": self._settings.widget_heartbeat_interval}

    async def offline(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        self._bound(info, data)
        await self._drop(sid, info, "closed")
        if info.identity is None:
            self._watch_unbound(sid)
        return {"ok": True}

    async def typing(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        binding = self._bound(info, data, "isTyping")
        p = await self.store.snapshot(binding.conversation_id)
        if p is None or sid not in p.sockets:
            info.binding = None
            raise Refused("This socket's lease has expired; send widget:online again")
        await self.feed.emit("customer:typing", p, self._clock(), p.devices, isTyping=bool(data["isTyping"]))
        return {"ok": True}

    async def visibility(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        binding = self._bound(info, data, "hidden")
        outcome = await self.store.set_hidden(binding.conversation_id, sid, bool(data["hidden"]), self._clock())
        if outcome is None:
            info.binding = None
            raise Refused("This socket's lease has expired; send widget:online again")
        await self.feed.tell(outcome)
        return {"ok": True, "away": outcome.presence.away}

    async def socket_opened(self, sid: str, info: SocketInfo) -> None:
        if info.identity is None:
            self._watch_unbound(sid)

    def _watch_unbound(self, sid: str) -> None:
        """A widget socket that holds no lease for PRESENCE_WIDGET_OFFLINE_AFTER (never
        said widget:online, or said widget:offline and stayed) is disconnected: no
        socket lingers on the server unaccounted for."""

        async def check() -> None:
            info = self._connections.get(sid)
            if info is not None and info.identity is None and info.binding is None:
                log.debug("disconnecting unbound widget socket %s", sid)
                await self.sio.disconnect(sid)

        self._timers.later(self._settings.widget_offline_after, check, name=f"unbound:{sid}")

    async def socket_closed(self, sid: str, info: SocketInfo) -> None:
        if info.binding is not None:
            await self._drop(sid, info, "disconnected")

    def _bound(self, info: SocketInfo, data: Any, flag: str | None = None) -> Binding:
        conversation_id, session_id, _ = widget_payload(data, flag)
        b = info.binding
        if b is None or b.conversation_id != conversation_id or b.session_id != session_id:
            raise Refused(NOT_BOUND)
        return b

    async def _drop(self, sid: str, info: SocketInfo, reason: str) -> None:
        binding, info.binding = info.binding, None
        if binding is None:
            return
        grace = self._settings.widget_offline_grace
        outcome = await self.store.drop(binding.conversation_id, sid, self._clock(), reason, grace)  # type: ignore[arg-type]
        if outcome is None:
            return
        await self.feed.tell(outcome)
        if outcome.presence.pending is not None:
            conversation_id = binding.conversation_id
            # Settle on time here; the sweep settles it too if this node dies first.
            self._timers.later(grace + 0.01, lambda: self._settle(conversation_id), name=f"grace:{conversation_id}")

    async def void_other_sessions(self, conv: Conversation) -> int:
        """After a PUT: sockets bound under a session that is no longer the
        conversation's (or to a conversation no longer WIDGET) are dropped and
        disconnected, and agents told `closed` at once. How many were dropped."""
        p = await self.store.snapshot(conv.id)
        if p is None or (p.session_id == conv.session_id and conv.platform == "WIDGET"):
            return 0
        return await self.end_session(conv.id)

    async def end_session(self, conversation_id: str) -> int:
        """Drops and disconnects every socket of the conversation; agents told `closed` at once."""
        p = await self.store.snapshot(conversation_id)
        if p is None:
            return 0
        now = self._clock()
        sids = list(p.sockets)
        for sid in sids:
            outcome = await self.store.drop(conversation_id, sid, now, "closed", 0)
            info = self._connections.get(sid)
            if info is not None:
                info.binding = None
            if outcome is not None:
                await self.feed.tell(outcome)
            await self.sio.disconnect(sid)
        current = await self.store.snapshot(conversation_id)
        if current is not None and current.pending is not None:  # a pending departure ends now too
            settled = await self.store.settle(conversation_id, max(now, current.pending.deadline))
            if settled is not None:
                await self.feed.tell(settled)
        return len(sids)

    async def reclaim(self) -> None:
        """This node was taken for dead and its sockets dropped (`node_lost`) while
        they are in fact alive: bind them again (agents hear them come back online)."""
        now = self._clock()
        for sid, info in self._connections.items():
            b = info.binding
            if b is not None:
                await self.feed.tell(await self.store.bind(b.conversation_id, b.session_id, sid, self._node, now))

    async def _settle(self, conversation_id: str) -> None:
        outcome = await self.store.settle(conversation_id, self._clock())
        if outcome is not None:
            await self.feed.tell(outcome)

    # ------------------------------------------------------------ snapshots
    async def snapshot(self, conv: Conversation) -> dict[str, Any]:
        """The presence snapshot of §3 (also the REST answer)."""
        agents = await self.store.room_size(conv.id)
        if conv.platform != "WIDGET":
            return snapshot_json(conv, None, supported=False, agents=agents)
        return snapshot_json(conv, await self.store.snapshot(conv.id), supported=True, agents=agents)

    async def snapshots(self, convs: list[Conversation]) -> dict[str, dict[str, Any]]:
        """Snapshots of many conversations in two store round trips (the batch endpoint)."""
        ids = [c.id for c in convs]
        states = await self.store.snapshots([c.id for c in convs if c.platform == "WIDGET"])
        agents = await self.store.room_sizes(ids)
        return {
            c.id: snapshot_json(c, states.get(c.id), supported=c.platform == "WIDGET", agents=agents[c.id])
            for c in convs
        }

    async def close(self) -> None:
        await self._timers.close()
