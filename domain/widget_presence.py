"""Chat-widget customer presence (SPEC.md §3) as a pure state machine.

One `CustomerPresence` per conversation holds the customer's live sockets, each
with a *lease*: the time of its last heartbeat. The customer is online while at
least one socket lives. The functions below move that state and say which
notices agents must get, so that:

- `customer:online` is told only on the offline → online change;
- when the last socket closes or disconnects, the departure is *pending* for the
  reload grace: a socket back within it cancels the departure and agents hear
  nothing (no flicker); after it, agents hear `customer:offline`;
- a lease not refreshed for `offline_after` seconds is expired by the sweep,
  which needs no grace (the lease has already waited);
- every notice carries the current device count.

Stores (memory, Redis) keep this state; they never decide anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NoticeKind = Literal["online", "heartbeat", "offline", "visibility", "typing"]
DepartureReason = Literal["closed", "disconnected", "timeout", "node_lost"]


@dataclass(slots=True)
class SocketLease:
    """One widget socket (tab, device) of a customer. `last_heartbeat` is its lease."""

    node: str
    last_heartbeat: float
    hidden: bool = False


@dataclass(slots=True)
class PendingDeparture:
    """The last socket has gone; agents are told offline at `deadline` unless one returns."""

    reason: DepartureReason
    left_at: float
    deadline: float


@dataclass(slots=True)
class Notice:
    """Something agents in the conversation's room must be told."""

    kind: NoticeKind
    at: float
    devices: int
    reason: DepartureReason | None = None
    hidden: bool | None = None
    away: bool | None = None
    is_typing: bool | None = None


@dataclass(slots=True)
class CustomerPresence:
    conversation_id: str
    session_id: str
    sockets: dict[str, SocketLease] = field(default_factory=dict)
    last_heartbeat: float | None = None
    last_seen: float | None = None
    online_since: float | None = None
    pending: PendingDeparture | None = None
    last_reason: DepartureReason | None = None  # why the customer last went offline

    @property
    def is_online(self) -> bool:
        """Online while a socket lives, and during the grace of a pending departure."""
        return bool(self.sockets) or self.pending is not None

    @property
    def devices(self) -> int:
        return len(self.sockets)

    @property
    def away(self) -> bool:
        """Away: online, and every live socket's tab is hidden."""
        return bool(self.sockets) and all(s.hidden for s in self.sockets.values())


def typing(p: CustomerPresence, sid: str, is_typing: bool, now: float) -> list[Notice] | None:
    """The customer is typing (or stopped): relayed to agents, no state changes.
    None when the socket holds no lease (dropped: its keystrokes are not relayed)."""
    if sid not in p.sockets:
        return None
    return [Notice("typing", now, p.devices, is_typing=is_typing)]


def lease_expired(lease: SocketLease, now: float, offline_after: float) -> bool:
    return now - lease.last_heartbeat >= offline_after


def bind(p: CustomerPresence, sid: str, node: str, now: float, session_id: str) -> list[Notice]:
    """A socket said `widget:online`: it joins the customer's live sockets."""
    was_online = p.is_online
    was_away = p.away
    p.session_id = session_id
    p.pending = None  # back within the grace: the departure is forgotten, agents hear nothing
    lease = p.sockets.get(sid)
    if lease is None:
        p.sockets[sid] = SocketLease(node=node, last_heartbeat=now)
    else:
        lease.last_heartbeat = now
    p.last_heartbeat = now
    if not was_online:
        p.online_since = now
        return [Notice("online", now, p.devices)]
    # Already online: a second tab (or a reload within the grace) changes only the
    # count, and ends "away" if the other tabs were all hidden.
    return [Notice("heartbeat", now, p.devices), *_away_changed(p, was_away, now, hidden=False)]


def heartbeat(p: CustomerPresence, sid: str, now: float) -> list[Notice] | None:
    """Refreshes a socket's lease; None when the socket holds no lease (dropped: no ghost)."""
    lease = p.sockets.get(sid)
    if lease is None:
        return None
    lease.last_heartbeat = now
    p.last_heartbeat = now
    return [Notice("heartbeat", now, p.devices)]


def set_hidden(p: CustomerPresence, sid: str, hidden: bool, now: float) -> list[Notice] | None:
    lease = p.sockets.get(sid)
    if lease is None:
        return None
    lease.hidden = hidden
    return [Notice("visibility", now, p.devices, hidden=hidden, away=p.away)]


def drop(p: CustomerPresence, sid: str, now: float, reason: DepartureReason, grace: float) -> list[Notice] | None:
    """A socket is gone. When it was the last, the customer leaves: at once for a
    timeout or a lost node, else after `grace` seconds unless a socket comes back."""
    was_away = p.away
    lease = p.sockets.pop(sid, None)
    if lease is None:
        return None
    if p.sockets:
        # The customer stays; if the tab that left was the last visible one, they are away now.
        return [Notice("heartbeat", now, p.devices), *_away_changed(p, was_away, now, hidden=p.away)]
    if reason in ("timeout", "node_lost") or grace <= 0:
        left_at = lease.last_heartbeat if reason in ("timeout", "node_lost") else now
        return _go_offline(p, now, reason, left_at)
    p.pending = PendingDeparture(reason=reason, left_at=now, deadline=now + grace)
    return []


def expire(p: CustomerPresence, sid: str, now: float, offline_after: float) -> list[Notice] | None:
    """The sweep's drop: only if the lease is still expired now (a heartbeat that
    arrived after the sweep listed it keeps the socket alive)."""
    lease = p.sockets.get(sid)
    if lease is None or not lease_expired(lease, now, offline_after):
        return None
    return drop(p, sid, now, "timeout", 0)


def settle(p: CustomerPresence, now: float) -> list[Notice]:
    """Ends a pending departure whose grace is over: agents are told offline."""
    if p.pending is None or p.sockets or now < p.pending.deadline:
        return []
    return _go_offline(p, now, p.pending.reason, p.pending.left_at)


def _away_changed(p: CustomerPresence, was_away: bool, now: float, hidden: bool) -> list[Notice]:
    """A `visibility` notice when sockets coming or going flipped `away`, so agents
    never keep showing Away (or Online) from a tab that is no longer there."""
    if p.away == was_away:
        return []
    return [Notice("visibility", now, p.devices, hidden=hidden, away=p.away)]


def _go_offline(p: CustomerPresence, now: float, reason: DepartureReason, left_at: float) -> list[Notice]:
    p.pending = None
    p.online_since = None
    p.last_seen = left_at
    p.last_reason = reason
    return [Notice("offline", now, 0, reason=reason)]
