"""`CustomerPresence` to and from compact JSON, for stores outside this process."""

from __future__ import annotations

from typing import Any

import orjson

from domain.widget_presence import CustomerPresence, PendingDeparture, SocketLease


def dumps(p: CustomerPresence) -> bytes:
    return orjson.dumps(
        {
            "c": p.conversation_id,
            "s": p.session_id,
            "k": {sid: [lease.node, lease.last_heartbeat, lease.hidden] for sid, lease in p.sockets.items()},
            "lh": p.last_heartbeat,
            "ls": p.last_seen,
            "os": p.online_since,
            "p": None if p.pending is None else [p.pending.reason, p.pending.left_at, p.pending.deadline],
        }
    )


def loads(raw: bytes | str) -> CustomerPresence:
    d: dict[str, Any] = orjson.loads(raw)
    pending = d["p"]
    return CustomerPresence(
        conversation_id=d["c"],
        session_id=d["s"],
        sockets={sid: SocketLease(node, hb, hidden) for sid, (node, hb, hidden) in d["k"].items()},
        last_heartbeat=d["lh"],
        last_seen=d["ls"],
        online_since=d["os"],
        pending=None if pending is None else PendingDeparture(pending[0], pending[1], pending[2]),
    )
