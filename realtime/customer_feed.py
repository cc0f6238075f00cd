"""Telling agents what changed: `customer:*` events to room `conversation:{id}`
(SPEC.md §3), each with the current device count; a departure is also kept in
the database, so `lastSeen` outlives a restart and the store's memory."""

from __future__ import annotations

import logging
from typing import Any

import socketio

from db.engine import SessionFactory
from db.queries import conversations
from domain.clock import iso, to_datetime
from domain.widget_presence import CustomerPresence, Notice
from realtime.store.base import Outcome

log = logging.getLogger("presence.widget")


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class CustomerFeed:
    def __init__(self, sio: socketio.AsyncServer, sessions: SessionFactory) -> None:
        self._sio = sio
        self._sessions = sessions

    async def tell(self, outcome: Outcome) -> None:
        """Every notice of a transition, in order."""
        p = outcome.presence
        for n in outcome.notices:
            if n.kind == "online":
                log.info("customer online conversation=%s devices=%d", p.conversation_id, n.devices)
            elif n.kind == "offline":
                log.info("customer offline conversation=%s reason=%s", p.conversation_id, n.reason)
                await self._keep_departure(p)
            await self.emit(f"customer:{n.kind}", p, n.at, n.devices, **_extra(n, p))

    async def emit(self, event: str, p: CustomerPresence, at: float, devices: int, **extra: Any) -> None:
        payload = {
            "conversationId": p.conversation_id,
            "sessionId": p.session_id,
            "timestamp": iso(at),
            "devices": devices,
            **extra,
        }
        await self._sio.emit(event, payload, room=conversation_room(p.conversation_id))

    async def _keep_departure(self, p: CustomerPresence) -> None:
        if p.last_seen is None:
            return
        try:
            async with self._sessions() as session:
                await conversations.record_departure(
                    session,
                    p.conversation_id,
                    to_datetime(p.last_seen),
                    None if p.last_heartbeat is None else to_datetime(p.last_heartbeat),
                )
        except Exception:  # agents are told regardless; the next departure writes again
            log.exception("could not keep the departure of %s", p.conversation_id)


def _extra(n: Notice, p: CustomerPresence) -> dict[str, Any]:
    if n.kind == "offline":
        return {"reason": n.reason, "lastSeen": iso(p.last_seen)}
    if n.kind == "visibility":
        return {"hidden": n.hidden, "away": n.away}
    return {}
