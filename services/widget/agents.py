"""Agents follow conversations: `conversation:join` / `conversation:leave` (§3).

An agent joins only conversations of its own company; an admin joins any. The
answer is the presence snapshot, so a dashboard needs no second request.
"""

from __future__ import annotations

from typing import Any

from domain.rooms import conversation_room
from infra.broadcast import Broadcaster
from realtime.store.base import PresenceStore
from realtime.store.connections import Connections, SocketInfo
from services.errors import Refused
from services.widget.conversations import Conversations


class AgentRooms:
    def __init__(
        self,
        conversations: Conversations,
        broadcaster: Broadcaster,
        store: PresenceStore,
        connections: Connections,
        node_id: str,
    ) -> None:
        self._conversations = conversations
        self._broadcaster = broadcaster
        self._store = store
        self._connections = connections
        self._node = node_id

    async def join(self, sid: str, info: SocketInfo, conversation_id: str) -> dict[str, Any]:
        assert info.identity is not None  # the gateway admits token holders only
        conv = await self._conversations.visible(info.identity, conversation_id, refuse=Refused)
        if conv.id not in info.rooms:
            await self._broadcaster.enter_room(sid, conversation_room(conv.id))
            await self._store.join_room(conv.id, sid, self._node)
            info.rooms.add(conv.id)
            # Re-check after the write: a socket that closed meanwhile found no room
            # to leave when its disconnect ran, so it would stay in the count forever.
            if self._connections.get(sid) is not info:
                await self._store.leave_room(conv.id, sid)
                info.rooms.discard(conv.id)
                raise Refused("This socket closed while joining")
        return await self._conversations.snapshot(conv)

    async def leave(self, sid: str, info: SocketInfo, conversation_id: str) -> dict[str, Any]:
        assert info.identity is not None
        conv = await self._conversations.visible(info.identity, conversation_id, refuse=Refused)
        if conv.id in info.rooms:
            await self._broadcaster.leave_room(sid, conversation_room(conv.id))
            await self._store.leave_room(conv.id, sid)
            info.rooms.discard(conv.id)
        return await self._conversations.snapshot(conv)

    async def reclaim(self) -> None:
        """Counts this node's agents in their rooms again after it was taken for dead."""
        for sid, info in self._connections.items():
            for conversation_id in info.rooms:
                await self._store.join_room(conversation_id, sid, self._node)

    async def socket_closed(self, sid: str, info: SocketInfo) -> None:
        rooms, info.rooms = list(info.rooms), set()
        for conversation_id in rooms:
            await self._store.leave_room(conversation_id, sid)
