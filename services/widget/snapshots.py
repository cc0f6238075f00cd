"""The presence snapshot of SPEC.md §3 (the join ack and the REST answer)."""

from __future__ import annotations

from typing import Any

from db.models import Conversation
from domain.clock import iso, iso_dt
from domain.widget_presence import CustomerPresence


def snapshot_json(conv: Conversation, p: CustomerPresence | None, *, supported: bool, agents: int) -> dict[str, Any]:
    if p is None:
        # Not in the store: never seen, or quiet long enough to be forgotten there;
        # the database keeps the last departure.
        gone = supported and conv.last_seen is not None
        return {
            "conversationId": conv.id,
            "customerName": conv.customer_name,
            "supported": supported,
            "isOnline": False,
            "lastHeartbeat": iso_dt(conv.last_heartbeat) if gone else None,
            "lastSeen": iso_dt(conv.last_seen) if gone else None,
            "onlineSince": None,
            "devices": 0,
            "away": False,
            "socketsInRoom": agents,
        }
    return {
        "conversationId": conv.id,
        "customerName": conv.customer_name,
        "supported": True,
        "isOnline": p.is_online,
        "lastHeartbeat": iso(p.last_heartbeat),
        "lastSeen": iso(p.last_seen) if p.last_seen is not None else iso_dt(conv.last_seen),
        "onlineSince": iso(p.online_since),
        "devices": p.devices,
        "away": p.away,
        "socketsInRoom": agents + p.devices,
    }
