"""Telling agents what changed: `customer:*` events to room `conversation:{id}`
(SPEC.md §3), each with the current device count.

The presence store hands this node every change of every node in the order
the transitions were applied (`realtime.store.base`); `deliver` queues them
and one task sends them to this node's agents in that order. So the
`customer:offline` of a departure never reaches an agent after the
`customer:online` of a later return, whichever nodes made them.

The node that made a departure also keeps it in the database (`departed`),
after the agents' event is queued, so `lastSeen` outlives a restart and the
store's memory without delaying or reordering anything agents hear.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from db.engine import SessionFactory
from db.queries import conversations
from domain.clock import Clock, iso, to_datetime
from domain.rooms import conversation_room
from domain.widget_presence import Notice
from infra.broadcast import Broadcaster
from realtime.store.base import Change, Outcome, PresenceStore, change_of
from services.widget.departures import DepartureWriter

log = logging.getLogger("presence.widget")


def notice_payload(change: Change, n: Notice) -> dict[str, Any]:
    """The payload of `customer:{n.kind}` (SPEC.md §3)."""
    payload: dict[str, Any] = {
        "conversationId": change.conversation_id,
        "sessionId": change.session_id,
        "timestamp": iso(n.at),
        "devices": n.devices,
    }
    if n.kind == "offline":
        payload["reason"] = n.reason
        payload["lastSeen"] = iso(change.last_seen)
    elif n.kind == "visibility":
        payload["hidden"] = n.hidden
        payload["away"] = n.away
    elif n.kind == "typing":
        payload["isTyping"] = n.is_typing
    return payload


RESTATE = object()
"""In the outbox: tell agents the state where it differs from what they heard."""

TOLD_MAX = 100_000
"""Conversations whose last online/offline told to this node's agents is remembered."""


class CustomerFeed:
    def __init__(
        self,
        broadcaster: Broadcaster,
        db: SessionFactory,
        store: PresenceStore,
        clock: Clock,
        watched: Callable[[], set[str]],
        departures: DepartureWriter | None = None,
    ) -> None:
        self._broadcaster = broadcaster
        self._db = db
        self._store = store
        self._clock = clock
        self._watched = watched
        self._departures = departures  # perf: lastSeen writes group-committed (None: one transaction each)
        self._outbox: asyncio.Queue[Change | object] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        # conversation -> "online" | "offline": the last of those this node's agents heard.
        self._told: OrderedDict[str, str] = OrderedDict()

    def deliver(self, change: Change) -> None:
        """The store's listener: queues a change for this node's agents (never blocks)."""
        self._outbox.put_nowait(change)

    def restate(self) -> None:
        """After a gap in the store's changes (Redis was away), queues a look at every
        conversation this node's agents are in: where the state differs from the last
        online/offline they heard, they are told it (an event they missed). In the
        outbox, so it is in order with the changes heard from now on."""
        self._outbox.put_nowait(RESTATE)

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send(), name="customer-feed")

    async def _send(self) -> None:
        while True:
            # Drains every queued change before the loop runs anything else: yielding within
            # a backlog would let every socket's next event in first and the backlog would
            # only grow (a send never waits for its peer, so draining never stalls).
            item = await self._outbox.get()
            try:
                if isinstance(item, Change):
                    await self._tell(item)
                elif item is RESTATE:
                    await self._restate()
            except Exception:
                log.exception("could not tell agents what changed")
            self._outbox.task_done()

    async def _tell(self, change: Change) -> None:
        room = conversation_room(change.conversation_id)
        for n in change.notices:
            if n.kind in ("online", "offline"):
                self._told[change.conversation_id] = n.kind
                self._told.move_to_end(change.conversation_id)
                if len(self._told) > TOLD_MAX:
                    self._told.popitem(last=False)
            try:
                await self._broadcaster.emit_local(f"customer:{n.kind}", notice_payload(change, n), room)
            except Exception:
                log.exception("could not tell agents customer:%s of %s", n.kind, change.conversation_id)

    async def _restate(self) -> None:
        watched = sorted(self._watched())
        if not watched:
            return
        now = self._clock()
        found = await self._store.snapshots(watched)
        told = 0
        for conversation_id in watched:
            p = found.get(conversation_id)
            state = "online" if p is not None and p.is_online else "offline"
            if self._told.get(conversation_id) == state:
                continue
            if p is None:
                if self._told.get(conversation_id) != "online":
                    continue  # never heard online here: nothing they believe is wrong
                async with self._db() as tx:
                    conv = await conversations.get(tx, conversation_id)
                if conv is None:
                    continue
                change = Change(
                    conversation_id, conv.session_id, (Notice("offline", now, 0, reason="node_lost"),), None
                )
            elif state == "online":
                change = change_of(p, [Notice("online", now, p.devices)])
            else:
                change = change_of(p, [Notice("offline", now, 0, reason=p.last_reason or "node_lost")])
            await self._tell(change)
            told += 1
        if told:
            log.warning("told agents the state of %d conversation(s) after a gap in presence changes", told)

    async def drained(self) -> None:
        """Waits until every change queued so far has been sent."""
        await self._outbox.join()

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None

    async def record(self, outcome: Outcome | None) -> None:
        """Logs what a transition of this node changed, once, and keeps a departure
        in the database. Never fails the caller: agents are told regardless, and
        the next departure writes again."""
        if outcome is None:
            return
        p = outcome.presence
        for n in outcome.notices:
            if n.kind == "online":
                log.info("customer online conversation=%s devices=%d", p.conversation_id, n.devices)
            elif n.kind == "offline":
                log.info("customer offline conversation=%s reason=%s", p.conversation_id, n.reason)
                if p.last_seen is None:
                    continue
                if self._departures is not None:
                    await self._departures.keep(p)  # group-committed; returns once its batch is tried
                    continue
                try:
                    async with self._db.begin() as tx:
                        await conversations.record_departure(
                            tx,
                            p.conversation_id,
                            to_datetime(p.last_seen),
                            None if p.last_heartbeat is None else to_datetime(p.last_heartbeat),
                        )
                except Exception:
                    log.exception("could not keep the departure of %s", p.conversation_id)
