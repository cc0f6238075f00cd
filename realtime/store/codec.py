"""`CustomerPresence` to and from compact JSON, for stores outside this process."""

from __future__ import annotations

from typing import Any

import orjson

from domain.widget_presence import CustomerPresence, Notice, PendingDeparture, SocketLease
from realtime.store.base import Change, Registration


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
            "lr": p.last_reason,
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
        last_reason=d.get("lr"),  # absent in values written before it existed
    )


def dumps_change(change: Change) -> bytes:
    """A `Change` as compact JSON, for the changes channel."""
    return orjson.dumps(
        {
            "c": change.conversation_id,
            "s": change.session_id,
            "ls": change.last_seen,
            "n": [[n.kind, n.at, n.devices, n.reason, n.hidden, n.away, n.is_typing] for n in change.notices],
        }
    )


def loads_change(raw: bytes | str) -> Change:
    d: dict[str, Any] = orjson.loads(raw)
    notices = tuple(
        Notice(kind, at, devices, reason=reason, hidden=hidden, away=away, is_typing=is_typing)
        for kind, at, devices, reason, hidden, away, is_typing in d["n"]
    )
    return Change(d["c"], d["s"], notices, d["ls"])


def dumps_registration(r: Registration) -> bytes:
    return orjson.dumps(
        [
            r.conversation_id,
            r.version,
            r.company_id,
            r.platform,
            r.session_id,
            r.customer_name,
            r.last_seen,
            r.last_heartbeat,
        ]
    )


def loads_registration(raw: bytes | str) -> Registration:
    c, version, company, platform, session, name, last_seen, last_heartbeat = orjson.loads(raw)
    return Registration(c, version, company, platform, session, name, last_seen, last_heartbeat)
