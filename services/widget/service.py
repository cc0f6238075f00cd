"""Chat-widget customer presence (SPEC.md §3): the widget's events.

Widget sockets bind to a conversation with `widget:online`, keep their lease
with heartbeats, and leave by `widget:offline`, by disconnecting, or by letting
the lease expire (the sweep). The rules are `domain.widget_presence`; the state
is in the `PresenceStore`, which hands every change to `CustomerFeed` in order.

Widget sockets are not put in the Socket.IO room: customer events are for
agents, and a customer's other tabs need not hear them. `socketsInRoom` counts
both (agents on every node, from the store, plus the customer's devices).
"""

from __future__ import annotations

import asyncio
import logging

from db.engine import SessionFactory
from db.models import Conversation
from db.queries import conversations
from domain.clock import Clock
from infra.broadcast import Broadcaster
from infra.metrics import Metrics
from infra.settings import Settings
from infra.tasks import TaskSet, cancelling
from realtime.store.base import Outcome, PresenceStore, Registration
from realtime.store.connections import Binding, Connections, SocketInfo
from services.errors import Refused, unavailable_message
from services.widget.departures import DepartureWriter
from services.widget.feed import CustomerFeed
from services.widget.registrations import Registry
from services.widget.sweep import LeaseSweep

log = logging.getLogger("presence.widget")

NOT_BOUND = "Send widget:online for this conversation first"
EXPIRED = "This socket's lease has expired; send widget:online again"


class WidgetPresence:
    def __init__(
        self,
        db: SessionFactory,
        clock: Clock,
        broadcaster: Broadcaster,
        settings: Settings,
        store: PresenceStore,
        connections: Connections,
        metrics: Metrics,
        node_id: str,
        *,
        registry: bool = True,
        batched_departures: bool = True,
    ) -> None:
        """`registry`: widget:online reads the store's copy of the conversation, not the
        database (services/widget/registrations.py); `batched_departures`: lastSeen writes
        group-committed (services/widget/departures.py). Both on unless PRESENCE_PERF says."""
        self.store = store
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._settings = settings
        self._connections = connections
        self._metrics = metrics
        self._node = node_id
        self._timers = TaskSet()
        # Departures the store could not take (Redis away): told once it is back.
        self._undone: dict[str, tuple[Binding, float, str]] = {}
        self._retrying: asyncio.Task[None] | None = None
        self.registry = Registry(db, store) if registry else None
        self.departures = DepartureWriter(db) if batched_departures else None
        self.feed = CustomerFeed(broadcaster, db, store, clock, self._watched, self.departures)
        store.listen(self.feed.deliver)
        self.sweep = LeaseSweep(store, self.feed, connections, broadcaster, settings, clock, metrics)

    @property
    def heartbeat_interval(self) -> float:
        return self._settings.widget_heartbeat_interval

    async def _conversation(self, conversation_id: str) -> Conversation | None:
        async with self._db() as tx:
            return await conversations.get(tx, conversation_id)

    # ------------------------------------------------------------ widget events
    async def online(self, sid: str, info: SocketInfo, conversation_id: str, session_id: str) -> None:
        if self.registry is not None:
            return await self._online_registered(sid, info, conversation_id, session_id)
        conv = await self._conversation(conversation_id)
        if conv is None:
            raise Refused("Unknown conversation")
        if conv.platform != "WIDGET":
            raise Refused(f"Only WIDGET conversations have presence; this one is {conv.platform}")
        if conv.session_id != session_id:
            raise Refused("sessionId does not belong to this conversation")
        if info.binding is not None and info.binding.conversation_id != conversation_id:
            await self._drop(sid, info, "closed")
        outcome = await self.store.bind(conversation_id, session_id, sid, self._node, self._clock())
        info.binding = Binding(conversation_id, session_id)
        self._unwatch(info)
        self._metrics.heartbeats.labels("widget").inc()
        await self.feed.record(outcome)
        # Double-check after the write, against the two things that may have
        # changed while we awaited: the socket closed (its disconnect found no
        # binding to drop), or a PUT replaced the session (its end_session ran
        # before this bind existed). Either way this lease must not stay.
        if self._connections.get(sid) is not info:
            await self._drop(sid, info, "disconnected")
            raise Refused("This socket closed while coming online")
        current = await self._conversation(conversation_id)
        if current is None or current.session_id != session_id or current.platform != "WIDGET":
            await self._drop(sid, info, "closed")
            raise Refused("sessionId does not belong to this conversation")
        log.debug("widget online conversation=%s sid=%s devices=%d", conversation_id, sid, outcome.presence.devices)

    async def _online_registered(self, sid: str, info: SocketInfo, conversation_id: str, session_id: str) -> None:
        """widget:online against the store's copy of the conversation: the session check and
        the bind are one atomic step of the store (`bind_registered`), so a PUT replacing the
        session on any node either sees this socket when it voids the old session, or made
        this bind refuse; no second read is needed (realtime/store/base.py, "Registrations").
        The database is read only when the store does not know the conversation, or to
        confirm a refusal (a PUT committed whose copy has not reached the store yet)."""
        assert self.registry is not None
        if info.binding is not None and info.binding.conversation_id != conversation_id:
            # Moving to another conversation: refuse before leaving the old one, as the database path does.
            self._admit(await self.registry.get(conversation_id), session_id)
            await self._drop(sid, info, "closed")
        confirmed = False
        while True:
            result = await self.store.bind_registered(conversation_id, session_id, sid, self._node, self._clock())
            if isinstance(result, Outcome):
                break
            if confirmed:
                self._admit(result, session_id)  # raises: refused by the copy the database confirmed
            self._admit(await self.registry.read_through(conversation_id), session_id)
            confirmed = True
        outcome = result
        info.binding = Binding(conversation_id, session_id)
        self._unwatch(info)
        self._metrics.heartbeats.labels("widget").inc()
        await self.feed.record(outcome)
        # The socket may have closed while we awaited (its disconnect found no binding to drop).
        if self._connections.get(sid) is not info:
            await self._drop(sid, info, "disconnected")
            raise Refused("This socket closed while coming online")
        log.debug("widget online conversation=%s sid=%s devices=%d", conversation_id, sid, outcome.presence.devices)

    @staticmethod
    def _admit(registration: Registration | None, session_id: str) -> None:
        """Refuses as the database path does, unless the registration admits this session."""
        if registration is None:
            raise Refused("Unknown conversation")
        if registration.platform != "WIDGET":
            raise Refused(f"Only WIDGET conversations have presence; this one is {registration.platform}")
        if registration.session_id != session_id:
            raise Refused("sessionId does not belong to this conversation")

    async def heartbeat(self, sid: str, info: SocketInfo, conversation_id: str, session_id: str) -> None:
        binding = self._bound(info, conversation_id, session_id)
        outcome = await self.store.heartbeat(binding.conversation_id, sid, self._clock())
        if outcome is None:
            info.binding = None  # the lease expired meanwhile: no ghost comes back
            raise Refused(EXPIRED)
        self._metrics.heartbeats.labels("widget").inc()

    async def offline(self, sid: str, info: SocketInfo, conversation_id: str, session_id: str) -> None:
        self._bound(info, conversation_id, session_id)
        await self._drop(sid, info, "closed")
        if info.identity is None:
            self._watch_unbound(sid)

    async def typing(self, sid: str, info: SocketInfo, conversation_id: str, session_id: str, is_typing: bool) -> None:
        binding = self._bound(info, conversation_id, session_id)
        if await self.store.typing(binding.conversation_id, sid, is_typing, self._clock()) is None:
            info.binding = None
            raise Refused(EXPIRED)

    async def visibility(self, sid: str, info: SocketInfo, conversation_id: str, session_id: str, hidden: bool) -> bool:
        """The tab was hidden or shown; answers whether the customer is away now."""
        binding = self._bound(info, conversation_id, session_id)
        outcome = await self.store.set_hidden(binding.conversation_id, sid, hidden, self._clock())
        if outcome is None:
            info.binding = None
            raise Refused(EXPIRED)
        return outcome.presence.away

    # ------------------------------------------------------------ socket lifecycle
    async def socket_opened(self, sid: str, info: SocketInfo) -> None:
        if info.identity is None:
            self._watch_unbound(sid)

    def _unwatch(self, info: SocketInfo) -> None:
        """A bound socket needs no unbound check (its lease is watched by the sweep); the
        check is armed again when it unbinds by widget:offline. Its timer is ~0.6 KB a socket."""
        if info.watch is not None:
            self._timers.cancel(info.watch)
            info.watch = None

    async def socket_closed(self, sid: str, info: SocketInfo) -> None:
        self._unwatch(info)
        if info.binding is not None:
            await self._drop(sid, info, "disconnected")

    def _watch_unbound(self, sid: str) -> None:
        """A widget socket that holds no lease for PRESENCE_WIDGET_OFFLINE_AFTER (never
        said widget:online, or said widget:offline and stayed) is disconnected: no
        socket lingers on the server unaccounted for."""

        async def check() -> None:
            info = self._connections.get(sid)
            if info is not None:
                info.watch = None
            if info is not None and info.identity is None and info.binding is None:
                log.debug("disconnecting unbound widget socket %s", sid)
                await self._broadcaster.disconnect(sid)

        info = self._connections.get(sid)
        handle = self._timers.later(self._settings.widget_offline_after, check, name=f"unbound:{sid}")
        if info is not None:
            if info.watch is not None:
                self._timers.cancel(info.watch)
            info.watch = handle

    def _bound(self, info: SocketInfo, conversation_id: str, session_id: str) -> Binding:
        b = info.binding
        if b is None or b.conversation_id != conversation_id or b.session_id != session_id:
            raise Refused(NOT_BOUND)
        return b

    async def _drop(self, sid: str, info: SocketInfo, reason: str) -> None:
        binding, info.binding = info.binding, None
        if binding is None:
            return
        now = self._clock()
        try:
            await self._depart(sid, binding, now, reason)
        except Exception as e:
            if unavailable_message(e) is None:
                raise
            # The store is away (Redis restarting): the departure is not lost, it is
            # told as soon as the store answers again, with its own time and reason.
            log.warning("departure of %s from %s kept until the store answers", sid, binding.conversation_id)
            self._undone[sid] = (binding, now, reason)
            if self._retrying is None or self._retrying.done():
                self._retrying = self._timers.spawn(self._retry_departures(), name="departures")

    async def _depart(self, sid: str, binding: Binding, at: float, reason: str) -> None:
        grace = self._settings.widget_offline_grace
        outcome = await self.store.drop(binding.conversation_id, sid, at, reason, grace)  # type: ignore[arg-type]
        if outcome is None:
            return
        await self.feed.record(outcome)
        if outcome.presence.pending is not None:
            conversation_id = binding.conversation_id
            # Settle on time here; the sweep settles it too if this node dies first.
            wait = max(0.0, outcome.presence.pending.deadline - self._clock())
            self._timers.later(wait + 0.01, lambda: self._settle(conversation_id), name=f"grace:{conversation_id}")

    async def _retry_departures(self) -> None:
        """Applies the departures the store could not take, once it answers again. If
        the store lost its state meanwhile (Redis restarted empty) and no socket of the
        customer was claimed back, agents still believe the customer online: the
        departure is applied to a fresh record (agents hear it come and go)."""
        pause = max(self._settings.widget_sweep_every, 0.1)
        while self._undone:
            await asyncio.sleep(pause)
            if cancelling():
                raise asyncio.CancelledError
            for sid, (binding, at, reason) in list(self._undone.items()):
                try:
                    if await self.store.snapshot(binding.conversation_id) is None:
                        await self.feed.record(
                            await self.store.bind(binding.conversation_id, binding.session_id, sid, self._node, at)
                        )
                    await self._depart(sid, binding, at, reason)
                except Exception as e:
                    if cancelling():
                        raise asyncio.CancelledError from None
                    if unavailable_message(e) is None:
                        log.exception("could not tell the departure of %s", sid)
                        del self._undone[sid]
                    break  # still away: all of them wait for the next round
                del self._undone[sid]
                log.info("departure of %s from %s told late", sid, binding.conversation_id)

    def _watched(self) -> set[str]:
        """Conversations this node's agents are in."""
        return {c for _, info in self._connections.items() for c in info.rooms}

    def resync(self) -> None:
        """Changes may have gone unheard while the store was away: this node's agents
        are told the state of their conversations where it differs from what they heard."""
        self.feed.restate()

    async def _settle(self, conversation_id: str) -> None:
        await self.feed.record(await self.store.settle(conversation_id, self._clock()))

    # ------------------------------------------------------------ sessions replaced
    async def void_other_sessions(self, conv: Conversation) -> int:
        """After a PUT: sockets bound under a session that is no longer the
        conversation's (or to a conversation no longer WIDGET) are dropped and
        disconnected, and agents told `closed` at once. How many were dropped."""
        p = await self.store.snapshot(conv.id)
        if p is None or (p.session_id == conv.session_id and conv.platform == "WIDGET"):
            return 0
        return await self.end_session(conv.id)

    async def end_session(self, conversation_id: str) -> int:
        """Drops and disconnects every socket of the conversation; agents told `closed` at once."""
        p = await self.store.snapshot(conversation_id)
        if p is None:
            return 0
        now = self._clock()
        sids = list(p.sockets)
        for sid in sids:
            outcome = await self.store.drop(conversation_id, sid, now, "closed", 0)
            info = self._connections.get(sid)
            if info is not None:
                info.binding = None
            await self.feed.record(outcome)
            await self._broadcaster.disconnect(sid)
        current = await self.store.snapshot(conversation_id)
        if current is not None and current.pending is not None:  # a pending departure ends now too
            await self.feed.record(await self.store.settle(conversation_id, max(now, current.pending.deadline)))
        return len(sids)

    async def reclaim(self) -> None:
        """This node was taken for dead and its sockets dropped (`node_lost`) while
        they are in fact alive: bind them again (agents hear them come back online)."""
        now = self._clock()
        for sid, info in self._connections.items():
            b = info.binding
            if b is not None:
                await self.feed.record(await self.store.bind(b.conversation_id, b.session_id, sid, self._node, now))

    async def start(self) -> None:
        await self.feed.start()

    async def close(self) -> None:
        await self._timers.close()
        await self.feed.close()
        if self.departures is not None:
            await self.departures.close()  # what is still pending is written now
