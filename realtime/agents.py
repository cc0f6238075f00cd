"""Agents follow conversations: `conversation:join` / `conversation:leave` (§3).

An agent joins only conversations of its own company; an admin joins any. The
ack carries the presence snapshot, so a dashboard needs no second request.
"""

from __future__ import annotations

from typing import Any

from db.engine import SessionFactory
from db.models import Conversation
from db.queries import conversations
from domain.ids import MAX_ID_LENGTH
from realtime.connections import SocketInfo
from realtime.customer_feed import conversation_room
from realtime.gateway import Ack, Refused, SocketGateway
from realtime.widget import WidgetPresence

AGENT_ROLES = ("agent", "admin")


class AgentRooms:
    def __init__(self, gateway: SocketGateway, widget: WidgetPresence, sessions: SessionFactory, node_id: str):
        self.sio = gateway.sio
        self._gateway = gateway
        self._widget = widget
        self._sessions = sessions
        self._node = node_id
        gateway.on("conversation:join", self.join, roles=AGENT_ROLES)
        gateway.on("conversation:leave", self.leave, roles=AGENT_ROLES)
        gateway.on_disconnect(self.socket_closed)

    async def _conversation(self, info: SocketInfo, data: Any) -> Conversation:
        if not isinstance(data, dict):
            raise Refused("The payload must be an object {conversationId}")
        conversation_id = data.get("conversationId")
        if not isinstance(conversation_id, str) or not conversation_id or len(conversation_id) > MAX_ID_LENGTH:
            raise Refused(
                f"conversationId is required and must be a non-empty string of at most {MAX_ID_LENGTH} characters"
            )
        async with self._sessions() as session:
            conv = await conversations.get(session, conversation_id)
        if conv is None:
            raise Refused("Unknown conversation")
        identity = info.identity
        assert identity is not None  # the gateway admits token holders only
        if identity.role != "admin" and identity.company != conv.company_id:
            raise Refused("This conversation belongs to another company")
        return conv

    async def join(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conv = await self._conversation(info, data)
        if conv.id not in info.rooms:
            await self.sio.enter_room(sid, conversation_room(conv.id))
            await self._widget.store.join_room(conv.id, sid, self._node)
            info.rooms.add(conv.id)
        return {"ok": True, "presence": await self._widget.snapshot(conv)}

    async def leave(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conv = await self._conversation(info, data)
        if conv.id in info.rooms:
            await self.sio.leave_room(sid, conversation_room(conv.id))
            await self._widget.store.leave_room(conv.id, sid)
            info.rooms.discard(conv.id)
        return {"ok": True, "presence": await self._widget.snapshot(conv)}

    async def reclaim(self) -> None:
        """Counts this node's agents in their rooms again after it was taken for dead."""
        for sid, info in self._gateway.connections.items():
            for conversation_id in info.rooms:
                await self._widget.store.join_room(conversation_id, sid, self._node)

    async def socket_closed(self, sid: str, info: SocketInfo) -> None:
        for conversation_id in list(info.rooms):
            await self._widget.store.leave_room(conversation_id, sid)
        info.rooms.clear()
