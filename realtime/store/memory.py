"""In-process presence store: the default when PRESENCE_REDIS_URL is unset.

Every method runs without awaiting in the middle, so under asyncio each one is
atomic. Expired leases are found through a heap ordered by last heartbeat with
lazy deletion: the sweep's cost grows with the leases that expire (and the
heartbeats that superseded them), not with every live socket. Customers online
are kept in a dict ordered by arrival, changed inside the transitions: counting
them is `len()`, the latest arrivals are the dict's tail.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from domain import widget_presence as rules
from domain.widget_presence import CustomerPresence, DepartureReason, Notice
from realtime.store.base import (
    FORGET_IDLE_AFTER,
    REGISTRATION_TTL,
    ChangeListener,
    OnlineNow,
    Outcome,
    Registration,
    change_of,
)


class MemoryPresenceStore:
    def __init__(self) -> None:
        self._presence: dict[str, CustomerPresence] = {}
        self._leases: list[tuple[float, str, str]] = []  # (last_heartbeat, conversation, sid)
        self._departures: dict[str, float] = {}  # conversation -> grace deadline
        self._rooms: dict[str, set[str]] = {}
        self._idle: dict[str, float] = {}  # conversation -> offline since, oldest first
        self._online: dict[str, float] = {}  # conversation -> online since, in order of arrival
        self._listeners: list[ChangeListener] = []
        # conversation -> (expires at, registration), oldest write first
        self._registrations: OrderedDict[str, tuple[float, Registration]] = OrderedDict()
        self._registration_ttl = REGISTRATION_TTL

    def listen(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _tell(self, p: CustomerPresence, notices: list[Notice]) -> None:
        """Inside the transition (no await between): changes reach the listeners in the order applied."""
        if notices and self._listeners:
            change = change_of(p, notices)
            for listener in self._listeners:
                listener(change)

    def _apply(
        self, conversation_id: str, change: Callable[[CustomerPresence], list[Notice] | None], now: float
    ) -> Outcome | None:
        p = self._presence.get(conversation_id)
        if p is None:
            return None
        notices = change(p)
        if notices is None:
            return None
        self._index(p, now)
        self._tell(p, notices)
        return Outcome(p, notices)

    def _index(self, p: CustomerPresence, now: float) -> None:
        c = p.conversation_id
        if p.pending is not None:
            self._departures[c] = p.pending.deadline
        else:
            self._departures.pop(c, None)
        self._idle.pop(c, None)
        if p.is_online:
            if c not in self._online:
                self._online[c] = p.online_since if p.online_since is not None else now
        else:
            self._online.pop(c, None)
        if not p.sockets and p.pending is None:
            self._idle[c] = now  # re-inserted at the end: the dict stays ordered by time
        self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        """Drops conversations offline for FORGET_IDLE_AFTER (their lastSeen is in the database)."""
        while self._idle:
            c, since = next(iter(self._idle.items()))
            if now - since < FORGET_IDLE_AFTER:
                return
            del self._idle[c]
            self._presence.pop(c, None)

    def _push_lease(self, conversation_id: str, sid: str, last_heartbeat: float) -> None:
        heapq.heappush(self._leases, (last_heartbeat, conversation_id, sid))

    async def bind(self, conversation_id: str, session_id: str, sid: str, node: str, now: float) -> Outcome:
        p = self._presence.get(conversation_id)
        if p is None:
            p = self._presence[conversation_id] = CustomerPresence(conversation_id, session_id)
        notices = rules.bind(p, sid, node, now, session_id)
        self._push_lease(conversation_id, sid, now)
        self._index(p, now)
        self._tell(p, notices)
        return Outcome(p, notices)

    def _registered(self, conversation_id: str) -> Registration | None:
        entry = self._registrations.get(conversation_id)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._registrations[conversation_id]
            return None
        return entry[1]

    async def bind_registered(
        self, conversation_id: str, session_id: str, sid: str, node: str, now: float
    ) -> Outcome | Registration | None:
        registration = self._registered(conversation_id)
        if registration is None or not registration.admits(session_id):
            return registration
        return await self.bind(conversation_id, session_id, sid, node, now)  # no await inside: atomic

    async def register(self, registration: Registration) -> bool:
        c = registration.conversation_id
        if not registration.newer_than(self._registered(c)):
            return False
        now = time.monotonic()
        self._registrations.pop(c, None)
        self._registrations[c] = (now + self._registration_ttl, registration)  # at the end: oldest first
        while self._registrations:  # forget expired ones (memory stays bounded by the TTL)
            first = next(iter(self._registrations.values()))
            if first[0] > now:
                break
            self._registrations.popitem(last=False)
        return True

    async def registration(self, conversation_id: str) -> Registration | None:
        return self._registered(conversation_id)

    async def heartbeat(self, conversation_id: str, sid: str, now: float) -> Outcome | None:
        outcome = self._apply(conversation_id, lambda p: rules.heartbeat(p, sid, now), now)
        if outcome is not None:
            self._push_lease(conversation_id, sid, now)
        return outcome

    async def set_hidden(self, conversation_id: str, sid: str, hidden: bool, now: float) -> Outcome | None:
        return self._apply(conversation_id, lambda p: rules.set_hidden(p, sid, hidden, now), now)

    async def typing(self, conversation_id: str, sid: str, is_typing: bool, now: float) -> Outcome | None:
        return self._apply(conversation_id, lambda p: rules.typing(p, sid, is_typing, now), now)

    async def drop(
        self, conversation_id: str, sid: str, now: float, reason: DepartureReason, grace: float
    ) -> Outcome | None:
        return self._apply(conversation_id, lambda p: rules.drop(p, sid, now, reason, grace), now)

    async def expire(self, conversation_id: str, sid: str, now: float, offline_after: float) -> Outcome | None:
        return self._apply(conversation_id, lambda p: rules.expire(p, sid, now, offline_after), now)

    async def settle(self, conversation_id: str, now: float) -> Outcome | None:
        return self._apply(conversation_id, lambda p: rules.settle(p, now), now)

    async def expired(self, now: float, offline_after: float) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        cutoff = now - offline_after
        heap = self._leases
        while heap and heap[0][0] <= cutoff:
            last_heartbeat, conversation_id, sid = heapq.heappop(heap)
            p = self._presence.get(conversation_id)
            lease = p.sockets.get(sid) if p is not None else None
            # A lease refreshed since this entry was pushed has a newer entry: skip this one.
            if lease is not None and lease.last_heartbeat == last_heartbeat:
                found.append((conversation_id, sid))
        return found

    async def due_departures(self, now: float) -> list[str]:
        return [c for c, deadline in self._departures.items() if deadline <= now]

    async def snapshot(self, conversation_id: str) -> CustomerPresence | None:
        return self._presence.get(conversation_id)

    async def snapshots(self, conversation_ids: list[str]) -> dict[str, CustomerPresence]:
        return {c: self._presence[c] for c in conversation_ids if c in self._presence}

    async def room_sizes(self, conversation_ids: list[str]) -> dict[str, int]:
        return {c: len(self._rooms.get(c, ())) for c in conversation_ids}

    async def online(self, limit: int) -> OnlineNow:
        recent = list(itertools.islice(reversed(self._online.items()), max(0, limit)))
        return OnlineNow(len(self._online), recent)

    async def join_room(self, conversation_id: str, sid: str, node: str) -> None:
        self._rooms.setdefault(conversation_id, set()).add(sid)

    async def leave_room(self, conversation_id: str, sid: str) -> None:
        members = self._rooms.get(conversation_id)
        if members is not None:
            members.discard(sid)
            if not members:
                del self._rooms[conversation_id]

    async def room_size(self, conversation_id: str) -> int:
        return len(self._rooms.get(conversation_id, ()))

    async def lost_nodes(self, now: float, lost_after: float) -> list[str]:
        return []  # one process is one node: if it is lost, so is this state

    async def forget_node(self, node: str, now: float) -> list[Outcome]:
        return []

    async def start(
        self,
        on_forgotten: Callable[[], Awaitable[None]] | None = None,
        on_gap: Callable[[], None] | None = None,
    ) -> None:
        return None  # in this process: never unreachable, never misses a change

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._presence.clear()
        self._leases.clear()
        self._departures.clear()
        self._rooms.clear()
        self._idle.clear()
        self._online.clear()
        self._registrations.clear()
