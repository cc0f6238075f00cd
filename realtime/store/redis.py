"""Presence shared by every node through Redis (PRESENCE_REDIS_URL).

Each conversation's `CustomerPresence` is one JSON value, changed by the same
pure rules as in memory (`domain.widget_presence`) under optimistic locking
(WATCH/MULTI): of two nodes changing one conversation at once, one retries on
the fresh state, so no transition is lost or applied twice. Indexes written in
the same transaction answer the sweep: a sorted set of leases by last heartbeat,
one of pending departures by deadline, and per node the sockets and room
memberships it holds, so a node that dies (SIGKILL) can be found by its stale
keepalive and its sockets dropped with reason `node_lost`.

Keys (prefix `P`, default `presence:`):
  P c:{conversation}        the conversation's presence (JSON)
  P leases                  zset "{conversation}\\n{sid}" -> last heartbeat
  P departures              zset conversation -> grace deadline
  P online                  zset conversation -> online since: the customers online
                            now (ZCARD), added to (NX) by every write of an online
                            state and removed from by the write that takes it offline
  P room:{conversation}     hash agent sid -> node
  P nodes                   zset node -> last keepalive
  P node:{node}:socks       set "{conversation}\\n{sid}" (widget sockets)
  P node:{node}:rooms       set "{conversation}\\n{sid}" (agent memberships)
  P changes                 channel: every `Change`, published in the transaction
                            that made it, so all nodes receive them in one order
  P reg:{conversation}      the conversation's `Registration` (JSON), expiring after
                            REGISTRATION_TTL; WATCHed by `bind_registered` (base.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import WatchError

from domain import widget_presence as rules
from domain.clock import Clock
from domain.widget_presence import CustomerPresence, DepartureReason, Notice
from infra.tasks import cancelling
from realtime.store import codec
from realtime.store.base import (
    FORGET_IDLE_AFTER,
    REGISTRATION_TTL,
    ChangeListener,
    OnlineNow,
    Outcome,
    Registration,
    change_of,
    node_lost_after,
)

log = logging.getLogger("presence.store.redis")

Reclaim = Callable[[], Awaitable[None]]

SEP = "\n"
MAX_RETRIES = 100


def _member(conversation_id: str, sid: str) -> str:
    return f"{conversation_id}{SEP}{sid}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _split(member: object) -> tuple[str, str]:
    conversation_id, _, sid = _text(member).rpartition(SEP)
    return conversation_id, sid


class RedisPresenceStore:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        node_id: str,
        clock: Clock,
        keepalive_every: float,
        subscriber: Redis | None = None,
    ) -> None:
        self._r = redis
        self._sub = subscriber if subscriber is not None else redis
        self._p = prefix
        self._node = node_id
        self._clock = clock
        self._keepalive_every = keepalive_every
        self._keepalive: asyncio.Task[None] | None = None
        self._subscriber: asyncio.Task[None] | None = None
        self._on_forgotten: Reclaim | None = None
        self._on_gap: Callable[[], None] | None = None
        self._listeners: list[ChangeListener] = []
        # Since when (this node's clock) Redis has answered without interruption;
        # None while it does not. Until it has for a while, this node neither takes
        # others for dead (their keepalives could not be written either) nor trusts
        # that it heard every change.
        self._reachable_since: float | None = float("-inf")  # trusted from the start, until an outage
        self._settle_after = node_lost_after(keepalive_every)
        self._gap: asyncio.Task[None] | None = None

    def listen(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    # ---------------------------------------------------------------- keys
    def _k(self, conversation_id: str) -> str:
        return f"{self._p}c:{conversation_id}"

    def _reg(self, conversation_id: str) -> str:
        return f"{self._p}reg:{conversation_id}"

    def _room(self, conversation_id: str) -> str:
        return f"{self._p}room:{conversation_id}"

    def _socks(self, node: str) -> str:
        return f"{self._p}node:{node}:socks"

    def _rooms_of(self, node: str) -> str:
        return f"{self._p}node:{node}:rooms"

    @property
    def _leases(self) -> str:
        return f"{self._p}leases"

    @property
    def _departures(self) -> str:
        return f"{self._p}departures"

    @property
    def _online(self) -> str:
        return f"{self._p}online"

    @property
    def _nodes(self) -> str:
        return f"{self._p}nodes"

    @property
    def _changes(self) -> str:
        return f"{self._p}changes"

    # ---------------------------------------------------------------- transitions
    async def _apply(
        self,
        conversation_id: str,
        change: Callable[[CustomerPresence], list[Notice] | None],
        create_session: str | None = None,
        registered: str | None = None,
    ) -> Outcome | Registration | None:
        """Applies `change` atomically. With `registered` (a session id), only if the
        conversation's registration admits it, checked in the same WATCH: returns the
        Registration when it does not (nothing changed), None when there is none."""
        key = self._k(conversation_id)
        async with self._r.pipeline(transaction=True) as pipe:
            for attempt in range(MAX_RETRIES):
                try:
                    if registered is not None:
                        await pipe.watch(key, self._reg(conversation_id))
                        reg_raw = await pipe.get(self._reg(conversation_id))
                        registration = None if reg_raw is None else codec.loads_registration(reg_raw)
                        if registration is None or not registration.admits(registered):
                            await pipe.unwatch()
                            return registration
                    else:
                        await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is not None:
                        p = codec.loads(raw)
                    elif create_session is not None:
                        p = CustomerPresence(conversation_id, create_session)
                    else:
                        await pipe.unwatch()
                        return None
                    before = {sid: (lease.node, lease.last_heartbeat) for sid, lease in p.sockets.items()}
                    notices = change(p)
                    if notices is None:
                        await pipe.unwatch()
                        return None
                    state = codec.dumps(p)
                    pipe.multi()
                    if state != raw:  # a relayed event (typing) changes nothing stored
                        pipe.set(key, state)
                        if not p.sockets and p.pending is None:
                            # Offline: forgotten after a while (lastSeen is in the database).
                            pipe.expire(key, int(FORGET_IDLE_AFTER))
                        self._write_indexes(pipe, p, before)
                    if notices:
                        # In the same transaction as the state: Redis orders both alike (module doc).
                        pipe.publish(self._changes, codec.dumps_change(change_of(p, notices)))
                    await pipe.execute()
                    return Outcome(p, notices)
                except WatchError:
                    # Another writer changed it first: apply the rule to the fresh
                    # state, after a short random pause so hot keys do not livelock.
                    await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RuntimeError(f"presence of {conversation_id} kept changing under {MAX_RETRIES} attempts")

    def _write_indexes(self, pipe: object, p: CustomerPresence, before: dict[str, tuple[str, float]]) -> None:
        c = p.conversation_id
        for sid, (node, _) in before.items():
            if sid not in p.sockets:
                pipe.zrem(self._leases, _member(c, sid))  # type: ignore[attr-defined]
                pipe.srem(self._socks(node), _member(c, sid))  # type: ignore[attr-defined]
        for sid, lease in p.sockets.items():
            old = before.get(sid)
            if old is None or old[1] != lease.last_heartbeat:
                pipe.zadd(self._leases, {_member(c, sid): lease.last_heartbeat})  # type: ignore[attr-defined]
            if old is None:
                pipe.sadd(self._socks(lease.node), _member(c, sid))  # type: ignore[attr-defined]
        if p.pending is not None:
            pipe.zadd(self._departures, {c: p.pending.deadline})  # type: ignore[attr-defined]
        else:
            pipe.zrem(self._departures, c)  # type: ignore[attr-defined]
        if p.is_online:
            # NX: the arrival time stays; repeated on every write (a heartbeat's too, in
            # the same round trip), so a customer online before this index existed, or
            # written by an older node, is counted again within one heartbeat.
            since = p.online_since if p.online_since is not None else p.last_heartbeat or 0.0
            pipe.zadd(self._online, {c: since}, nx=True)  # type: ignore[attr-defined]
        else:
            pipe.zrem(self._online, c)  # type: ignore[attr-defined]

    async def _change(
        self, conversation_id: str, change: Callable[[CustomerPresence], list[Notice] | None]
    ) -> Outcome | None:
        outcome = await self._apply(conversation_id, change)
        assert not isinstance(outcome, Registration)
        return outcome

    async def bind(self, conversation_id: str, session_id: str, sid: str, node: str, now: float) -> Outcome:
        outcome = await self._apply(
            conversation_id, lambda p: rules.bind(p, sid, node, now, session_id), create_session=session_id
        )
        assert isinstance(outcome, Outcome)
        return outcome

    async def bind_registered(
        self, conversation_id: str, session_id: str, sid: str, node: str, now: float
    ) -> Outcome | Registration | None:
        return await self._apply(
            conversation_id,
            lambda p: rules.bind(p, sid, node, now, session_id),
            create_session=session_id,
            registered=session_id,
        )

    async def register(self, registration: Registration) -> bool:
        key = self._reg(registration.conversation_id)
        async with self._r.pipeline(transaction=True) as pipe:
            for attempt in range(MAX_RETRIES):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if not registration.newer_than(None if raw is None else codec.loads_registration(raw)):
                        await pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.set(key, codec.dumps_registration(registration), ex=int(REGISTRATION_TTL))
                    await pipe.execute()
                    return True
                except WatchError:
                    await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RuntimeError(f"registration of {registration.conversation_id} kept changing")

    async def registration(self, conversation_id: str) -> Registration | None:
        raw = await self._r.get(self._reg(conversation_id))
        return None if raw is None else codec.loads_registration(raw)

    async def heartbeat(self, conversation_id: str, sid: str, now: float) -> Outcome | None:
        return await self._change(conversation_id, lambda p: rules.heartbeat(p, sid, now))

    async def set_hidden(self, conversation_id: str, sid: str, hidden: bool, now: float) -> Outcome | None:
        return await self._change(conversation_id, lambda p: rules.set_hidden(p, sid, hidden, now))

    async def typing(self, conversation_id: str, sid: str, is_typing: bool, now: float) -> Outcome | None:
        return await self._change(conversation_id, lambda p: rules.typing(p, sid, is_typing, now))

    async def drop(
        self, conversation_id: str, sid: str, now: float, reason: DepartureReason, grace: float
    ) -> Outcome | None:
        return await self._change(conversation_id, lambda p: rules.drop(p, sid, now, reason, grace))

    async def expire(self, conversation_id: str, sid: str, now: float, offline_after: float) -> Outcome | None:
        return await self._change(conversation_id, lambda p: rules.expire(p, sid, now, offline_after))

    async def settle(self, conversation_id: str, now: float) -> Outcome | None:
        return await self._change(conversation_id, lambda p: rules.settle(p, now))

    # ---------------------------------------------------------------- sweep questions
    async def expired(self, now: float, offline_after: float) -> list[tuple[str, str]]:
        since = self._reachable_since
        if since is None or now - since < offline_after:
            # Redis was away (for this node at least): no heartbeat could be recorded
            # meanwhile, so a stale lease proves nothing until every widget has had
            # `offline_after` to heartbeat again. (A tab that closed meanwhile goes
            # offline by its recorded departure, or at the latest then.)
            return []
        asked = time.monotonic()
        members = await self._r.zrangebyscore(self._leases, "-inf", now - offline_after, start=0, num=10_000)
        if time.monotonic() - asked > offline_after / 2 or self._reachable_since != since:
            return []  # Redis stalled while we asked: the heartbeats were stuck in it too
        return [_split(m) for m in members]

    async def due_departures(self, now: float) -> list[str]:
        members = await self._r.zrangebyscore(self._departures, "-inf", now, start=0, num=10_000)
        return [_text(m) for m in members]

    async def snapshot(self, conversation_id: str) -> CustomerPresence | None:
        raw = await self._r.get(self._k(conversation_id))
        return None if raw is None else codec.loads(raw)

    async def snapshots(self, conversation_ids: list[str]) -> dict[str, CustomerPresence]:
        if not conversation_ids:
            return {}
        raws = await self._r.mget([self._k(c) for c in conversation_ids])
        return {c: codec.loads(raw) for c, raw in zip(conversation_ids, raws, strict=True) if raw is not None}

    async def room_sizes(self, conversation_ids: list[str]) -> dict[str, int]:
        async with self._r.pipeline(transaction=False) as pipe:
            for c in conversation_ids:
                pipe.hlen(self._room(c))
            sizes = await pipe.execute()
        return {c: int(n) for c, n in zip(conversation_ids, sizes, strict=True)}

    async def online(self, limit: int) -> OnlineNow:
        if limit <= 0:
            return OnlineNow(int(await self._r.zcard(self._online)), [])
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.zcard(self._online)
            pipe.zrevrange(self._online, 0, limit - 1, withscores=True)
            count, members = await pipe.execute()
        return OnlineNow(int(count), [(_text(m), float(score)) for m, score in members])

    # ---------------------------------------------------------------- agents' rooms
    async def join_room(self, conversation_id: str, sid: str, node: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._room(conversation_id), sid, node)
            pipe.sadd(self._rooms_of(node), _member(conversation_id, sid))
            await pipe.execute()

    async def leave_room(self, conversation_id: str, sid: str) -> None:
        node = await self._r.hget(self._room(conversation_id), sid)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self._room(conversation_id), sid)
            if node is not None:
                pipe.srem(self._rooms_of(_text(node)), _member(conversation_id, sid))
            await pipe.execute()

    async def room_size(self, conversation_id: str) -> int:
        return int(await self._r.hlen(self._room(conversation_id)))

    # ---------------------------------------------------------------- nodes
    async def lost_nodes(self, now: float, lost_after: float) -> list[str]:
        since = self._reachable_since
        if since is None or now - since < lost_after:
            # Redis was away (for this node at least): no keepalive could be written
            # meanwhile, so a stale one proves nothing until every node has had
            # `lost_after` to write again.
            return []
        asked = time.monotonic()
        members = await self._r.zrangebyscore(self._nodes, "-inf", now - lost_after)
        if time.monotonic() - asked > lost_after / 2 or self._reachable_since != since:
            # Redis stalled while we asked (frozen, not down: nothing failed): the other
            # nodes' keepalives were stuck in that stall too, so their staleness is ours.
            return []
        return [node for node in map(_text, members) if node != self._node]

    async def forget_node(self, node: str, now: float) -> list[Outcome]:
        """Drops every socket and room membership a dead node held (reason `node_lost`)."""
        outcomes: list[Outcome] = []
        for member in await self._r.smembers(self._socks(node)):
            conversation_id, sid = _split(member)
            outcome = await self.drop(conversation_id, sid, now, "node_lost", 0)
            if outcome is not None:
                outcomes.append(outcome)
        for member in await self._r.smembers(self._rooms_of(node)):
            conversation_id, sid = _split(member)
            await self._r.hdel(self._room(conversation_id), sid)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._socks(node), self._rooms_of(node))
            pipe.zrem(self._nodes, node)
            await pipe.execute()
        log.warning("node %s lost: %d customer changes told", node, len(outcomes))
        return outcomes

    async def start(self, on_forgotten: Reclaim | None = None, on_gap: Callable[[], None] | None = None) -> None:
        """Registers this node and keeps it registered while it runs.

        If another node took this one for dead (a long stall, a Redis blip) and
        forgot its sockets, or Redis lost them (restarted empty), `on_forgotten` is
        called to claim them back. After Redis was unreachable, changes published
        meanwhile were not received: `on_gap` is called once the cluster has
        settled (every live node has claimed its sockets back)."""
        self._on_forgotten = on_forgotten
        self._on_gap = on_gap
        pubsub = self._sub.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._changes)  # before any transition of ours can publish
        self._subscriber = asyncio.create_task(self._receive(pubsub), name=f"changes:{self._node}")
        await self._r.zadd(self._nodes, {self._node: self._clock()})
        self._keepalive = asyncio.create_task(self._keep_alive(), name=f"keepalive:{self._node}")

    async def _receive(self, pubsub: PubSub) -> None:
        """Hands every change, this node's included, to the listener in the order Redis
        published them; resubscribes with a capped backoff if the connection drops."""
        pause = 0.05
        try:
            while True:
                try:
                    async for message in pubsub.listen():
                        pause = 0.05
                        if message.get("type") != "message" or not self._listeners:
                            continue
                        try:
                            change = codec.loads_change(message["data"])
                        except Exception:
                            log.exception("could not read a presence change")
                            continue
                        for listener in self._listeners:
                            try:
                                listener(change)
                            except Exception:
                                log.exception("could not deliver a presence change")
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    if cancelling():
                        raise asyncio.CancelledError from None
                    if pause == 0.05:
                        log.warning("presence changes subscription lost (%s); resubscribing", e)
                    self._missed()  # what is published until we are subscribed again goes unheard
                await asyncio.sleep(pause)
                if cancelling():
                    raise asyncio.CancelledError
                pause = min(pause * 2, 0.5)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                pubsub = self._sub.pubsub(ignore_subscribe_messages=True)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(self._changes)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_every)
            if cancelling():
                raise asyncio.CancelledError
            sent = time.monotonic()
            try:
                # XX: only refresh an existing entry, so a missing one tells us we were
                # forgotten (taken for dead, or Redis restarted empty).
                if not await self._r.zadd(self._nodes, {self._node: self._clock()}, xx=True, ch=True):
                    log.warning("node %s was taken for dead: claiming its sockets back", self._node)
                    if self._on_forgotten is not None:
                        await self._on_forgotten()
                    await self._r.zadd(self._nodes, {self._node: self._clock()})
                if self._reachable_since is None:
                    log.warning("Redis answers again: node %s resumes", self._node)
                    self._reachable_since = self._clock()
                    self._missed()
                elif time.monotonic() - sent > self._settle_after / 2:
                    # Answered, but after a stall as long as that: every node's keepalive
                    # was held up as ours was. Trust no staleness until all have written again.
                    log.warning(
                        "Redis stalled %.1f s: node %s waits before judging others", time.monotonic() - sent, self._node
                    )
                    self._reachable_since = self._clock()
                    self._missed()
            except Exception as e:  # Redis away for a moment: try again next period
                if cancelling():
                    raise asyncio.CancelledError from None
                if self._reachable_since is not None:
                    log.warning("node keepalive failed; retrying every %.2f s", self._keepalive_every, exc_info=True)
                else:
                    log.debug("node keepalive failed again: %s", e)
                self._reachable_since = None

    def _missed(self) -> None:
        """Changes may have gone unheard: once Redis has answered for a while (every
        live node has claimed its sockets back), `on_gap` (agents told the state)."""
        if self._on_gap is None or (self._gap is not None and not self._gap.done()):
            return

        async def settle_then_tell() -> None:
            while True:
                await asyncio.sleep(self._settle_after)
                since = self._reachable_since
                if since is not None and self._clock() - since >= self._settle_after * 0.99:
                    break
            if self._on_gap is not None:
                self._on_gap()

        self._gap = asyncio.create_task(settle_then_tell(), name=f"gap:{self._node}")

    async def ping(self) -> bool:
        return bool(await self._r.ping())

    async def close(self) -> None:
        if self._gap is not None:
            self._gap.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gap
        if self._subscriber is not None:
            self._subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._subscriber
            self._subscriber = None
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None
            with contextlib.suppress(Exception):
                await self._r.zrem(self._nodes, self._node)
