"""Socket.IO adapters of §3: the widget's `widget:*` events and the agents'
`conversation:join` / `conversation:leave`. Each parses its payload, calls one
service method and shapes the ack; the rules are in `services.widget`."""

from __future__ import annotations

from typing import Any

from domain.ids import MAX_ID_LENGTH
from realtime.sockets.gateway import Ack, SocketGateway
from realtime.store.connections import SocketInfo
from services.errors import Refused
from services.widget import AgentRooms, WidgetPresence

AGENT_ROLES = ("agent", "admin")


def _id(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise Refused(f"{name} is required and must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def widget_payload(data: Any, flag: str | None = None) -> tuple[str, str, bool]:
    """`(conversationId, sessionId, flag)` from an event payload, or `Refused` saying what is wrong."""
    if not isinstance(data, dict):
        raise Refused("The payload must be an object {conversationId, sessionId}")
    conversation_id, session_id = _id(data, "conversationId"), _id(data, "sessionId")
    value = False
    if flag is not None:
        raw = data.get(flag)
        if not isinstance(raw, bool):
            raise Refused(f"{flag} is required and must be true or false")
        value = raw
    return conversation_id, session_id, value


def conversation_payload(data: Any) -> str:
    if not isinstance(data, dict):
        raise Refused("The payload must be an object {conversationId}")
    return _id(data, "conversationId")


class WidgetEvents:
    def __init__(self, gateway: SocketGateway, widget: WidgetPresence) -> None:
        self._widget = widget
        gateway.on("widget:online", self.online)
        gateway.on("widget:heartbeat", self.heartbeat)
        gateway.on("widget:offline", self.offline)
        gateway.on("widget:typing", self.typing)
        gateway.on("widget:visibility", self.visibility)
        gateway.on_connect(widget.socket_opened)
        gateway.on_disconnect(widget.socket_closed)

    async def online(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conversation_id, session_id, _ = widget_payload(data)
        await self._widget.online(sid, info, conversation_id, session_id)
        return {"ok": True, "heartbeatInterval": self._widget.heartbeat_interval}

    async def heartbeat(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conversation_id, session_id, _ = widget_payload(data)
        await self._widget.heartbeat(sid, info, conversation_id, session_id)
        return {"ok": True, "heartbeatInterval": self._widget.heartbeat_interval}

    async def offline(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conversation_id, session_id, _ = widget_payload(data)
        await self._widget.offline(sid, info, conversation_id, session_id)
        return {"ok": True}

    async def typing(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conversation_id, session_id, is_typing = widget_payload(data, "isTyping")
        await self._widget.typing(sid, info, conversation_id, session_id, is_typing)
        return {"ok": True}

    async def visibility(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        conversation_id, session_id, hidden = widget_payload(data, "hidden")
        away = await self._widget.visibility(sid, info, conversation_id, session_id, hidden)
        return {"ok": True, "away": away}


class AgentEvents:
    def __init__(self, gateway: SocketGateway, agents: AgentRooms) -> None:
        self._agents = agents
        gateway.on("conversation:join", self.join, roles=AGENT_ROLES)
        gateway.on("conversation:leave", self.leave, roles=AGENT_ROLES)
        gateway.on_disconnect(agents.socket_closed)

    async def join(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        return {"ok": True, "presence": await self._agents.join(sid, info, conversation_payload(data))}

    async def leave(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        return {"ok": True, "presence": await self._agents.leave(sid, info, conversation_payload(data))}
