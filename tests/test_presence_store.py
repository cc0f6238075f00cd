"""The `PresenceStore` contract, run over both siblings: in-process and Redis.

Whatever runs behind the interface, the same calls give the same answers.
"""

from __future__ import annotations

from typing import Any

from domain.clock import system_clock
from infra.cluster import connect_redis
from infra.settings import Settings
from realtime.store import create_store
from realtime.store.base import PresenceStore


def kinds(outcome) -> list[str]:
    return [n.kind for n in outcome.notices]


async def test_bind_heartbeat_drop_and_settle(store: PresenceStore) -> None:
    assert await store.snapshot("c1") is None
    assert kinds(await store.bind("c1", "s1", "a", "node-a", 100.0)) == ["online"]
    second = await store.bind("c1", "s1", "b", "node-a", 101.0)
    assert kinds(second) == ["heartbeat"] and second.presence.devices == 2
    assert kinds(await store.heartbeat("c1", "a", 102.0)) == ["heartbeat"]
    assert await store.heartbeat("c1", "zz", 102.0) is None
    assert await store.heartbeat("nope", "a", 102.0) is None
    assert kinds(await store.drop("c1", "a", 103.0, "closed", 3)) == ["heartbeat"]
    assert (await store.drop("c1", "b", 104.0, "disconnected", 3)).notices == []
    p = await store.snapshot("c1")
    assert p is not None and p.is_online and p.devices == 0
    assert await store.due_departures(106.9) == []
    assert await store.due_departures(107.0) == ["c1"]
    told = await store.settle("c1", 107.0)
    assert kinds(told) == ["offline"] and told.notices[0].reason == "disconnected"
    assert await store.due_departures(200.0) == []
    p = await store.snapshot("c1")
    assert not p.is_online and p.last_seen == 104.0


async def test_expired_lists_stale_leases_and_expire_checks_again(store: PresenceStore) -> None:
    await store.bind("c1", "s1", "a", "node-a", 100.0)
    await store.bind("c2", "s2", "b", "node-a", 100.0)
    await store.heartbeat("c2", "b", 150.0)
    assert await store.expired(159.0, 60) == []
    assert await store.expired(160.0, 60) == [("c1", "a")]
    # A heartbeat between the listing and the act keeps the socket.
    await store.heartbeat("c1", "a", 160.5)
    assert await store.expire("c1", "a", 161.0, 60) is None
    outcome = await store.expire("c1", "a", 221.0, 60)
    assert kinds(outcome) == ["offline"] and outcome.notices[0].reason == "timeout"
    assert await store.expire("c1", "a", 300.0, 60) is None  # already gone: nothing twice


async def test_visibility_and_away(store: PresenceStore) -> None:
    await store.bind("c1", "s1", "a", "node-a", 100.0)
    outcome = await store.set_hidden("c1", "a", True, 101.0)
    assert outcome.notices[0].away is True and outcome.presence.away is True
    assert await store.set_hidden("c1", "zz", True, 101.0) is None
    assert (await store.snapshot("c1")).away is True


async def test_rooms_count_agents(store: PresenceStore) -> None:
    assert await store.room_size("c1") == 0
    await store.join_room("c1", "x", "node-a")
    await store.join_room("c1", "y", "node-a")
    await store.join_room("c1", "x", "node-a")
    assert await store.room_size("c1") == 2
    await store.leave_room("c1", "x")
    await store.leave_room("c1", "never")
    assert await store.room_size("c1") == 1


async def test_the_store_is_alive(store: PresenceStore) -> None:
    assert await store.ping() is True


async def test_a_node_whose_keepalive_stopped_is_lost_and_its_sockets_dropped(redis_settings: dict[str, Any]) -> None:
    """Redis only: the memory store is one process, one node, and has no other node to lose.
    node-b holds a socket and an agent membership, then stops its keepalive (as SIGKILL
    would); node-a finds it lost (never itself) and drops what it held, reason node_lost."""
    redis = connect_redis(redis_settings["redis_url"])
    settings = Settings(redis_prefix=redis_settings["redis_prefix"])
    a = create_store(settings, "node-a", system_clock, redis)
    b = create_store(settings, "node-b", system_clock, redis)
    await a.start()
    await b.start()
    try:
        now = system_clock()
        await b.bind("c1", "s1", "sock-b", "node-b", now)
        await b.join_room("c1", "agent-b", "node-b")
        await a.bind("c2", "s2", "sock-a", "node-a", now)
        assert await a.lost_nodes(now + 1, 10) == []  # both kept alive just now
        await b.close()  # its keepalive stops...
        await redis.zadd(f"{settings.redis_prefix}nodes", {"node-b": now - 60})  # ...and it was last seen a minute ago
        assert await a.lost_nodes(now, 10) == ["node-b"]
        told = await a.forget_node("node-b", now)
        assert [(o.presence.conversation_id, [n.reason for n in o.notices]) for o in told] == [("c1", ["node_lost"])]
        assert await a.room_size("c1") == 0
        gone = await a.snapshot("c1")
        assert gone is not None and not gone.is_online
        assert (await a.snapshot("c2")).devices == 1  # this node's own socket is untouched
        assert await a.lost_nodes(now + 10**6, 10) == []  # forgotten nodes are not lost twice; this one never
    finally:
        await a.close()
        await redis.aclose()


async def test_changes_reach_the_listener_in_the_order_applied(store: PresenceStore) -> None:
    """The ordering contract (SPEC §3): every change with something to tell reaches the
    node's listener, in the order the transitions were applied (Redis: via its channel)."""
    import asyncio

    heard: list[tuple[str, list[str]]] = []
    arrived = asyncio.Event()

    def listener(change: Any) -> None:
        heard.append((change.conversation_id, [n.kind for n in change.notices]))
        if len(heard) == 6:
            arrived.set()

    store.listen(listener)
    await store.bind("o1", "s", "a", "node-a", 100.0)
    await store.typing("o1", "a", True, 100.5)
    await store.bind("o1", "s", "b", "node-a", 101.0)
    await store.drop("o1", "a", 102.0, "closed", 3)
    await store.drop("o1", "b", 103.0, "closed", 0)
    assert await store.heartbeat("o1", "b", 103.5) is None  # nothing to tell: nothing heard
    await store.bind("o1", "s", "c", "node-a", 104.0)
    async with asyncio.timeout(5):
        await arrived.wait()
    assert heard == [
        ("o1", ["online"]),
        ("o1", ["typing"]),
        ("o1", ["heartbeat"]),
        ("o1", ["heartbeat"]),
        ("o1", ["offline"]),
        ("o1", ["online"]),
    ]


async def test_a_burst_of_binds_all_land(store: PresenceStore) -> None:
    """A reconnect storm: 300 sockets coming online at once on one node all get their lease."""
    import asyncio

    outcomes = await asyncio.gather(*(store.bind(f"c{n}", "s", f"x{n}", "node-a", 100.0) for n in range(300)))
    assert all(o.presence.devices == 1 for o in outcomes)


async def test_concurrent_writers_on_one_conversation_lose_nothing(store: PresenceStore) -> None:
    """Many tabs of one customer at once: every bind counts, none is lost or applied twice."""
    import asyncio

    await asyncio.gather(*(store.bind("c1", "s1", f"tab{n}", "node-a", 100.0 + n) for n in range(80)))
    assert (await store.snapshot("c1")).devices == 80
    await asyncio.gather(*(store.drop("c1", f"tab{n}", 200.0, "closed", 3) for n in range(80)))
    p = await store.snapshot("c1")
    assert p.devices == 0 and p.pending is not None


async def test_an_offline_conversation_is_kept_a_while_then_forgotten(store: PresenceStore) -> None:
    from realtime.store.base import FORGET_IDLE_AFTER
    from realtime.store.memory import MemoryPresenceStore

    await store.bind("c1", "s1", "a", "node-a", 100.0)
    await store.drop("c1", "a", 101.0, "closed", 0)
    p = await store.snapshot("c1")
    assert p is not None and p.last_seen == 101.0  # still answers lastSeen for now
    if isinstance(store, MemoryPresenceStore):
        await store.bind("c2", "s2", "b", "node-a", 101.0 + FORGET_IDLE_AFTER)  # any later change sweeps
        assert await store.snapshot("c1") is None
    else:
        ttl = await store._r.ttl(store._k("c1"))  # Redis forgets it by itself
        assert 0 < ttl <= FORGET_IDLE_AFTER
        await store.bind("c1", "s1", "a2", "node-a", 200.0)
        assert await store._r.ttl(store._k("c1")) == -1  # online again: kept


async def test_many_snapshots_and_room_sizes_at_once(store: PresenceStore) -> None:
    await store.bind("c1", "s1", "a", "node-a", 100.0)
    await store.join_room("c2", "x", "node-a")
    states = await store.snapshots(["c1", "c2", "never"])
    assert set(states) == {"c1"} and states["c1"].devices == 1
    assert await store.room_sizes(["c1", "c2"]) == {"c1": 0, "c2": 1}
    assert await store.snapshots([]) == {}


async def test_online_counts_customers_and_names_the_latest_arrivals(store: PresenceStore) -> None:
    """`online(limit)`: the count of customers online now (a live socket or a departure
    still in its grace), and the latest arrivals first, without scanning anything."""
    empty = await store.online(5)
    assert (empty.count, empty.recent) == (0, [])
    await store.bind("c1", "s1", "a", "node-a", 100.0)
    await store.bind("c2", "s2", "b", "node-a", 101.0)
    await store.bind("c2", "s2", "b2", "node-a", 102.0)  # a second tab: still one customer
    await store.bind("c3", "s3", "c", "node-a", 103.0)
    await store.heartbeat("c1", "a", 104.0)  # a heartbeat keeps the arrival time
    now = await store.online(2)
    assert now.count == 3
    assert now.recent == [("c3", 103.0), ("c2", 101.0)]
    assert (await store.online(0)).recent == []
    assert (await store.online(0)).count == 3

    await store.drop("c2", "b", 105.0, "closed", 3)
    await store.drop("c2", "b2", 105.0, "closed", 3)  # the grace: still online for agents
    assert (await store.online(10)).count == 3
    await store.settle("c2", 108.0)
    after = await store.online(10)
    assert after.count == 2 and [c for c, _ in after.recent] == ["c3", "c1"]

    await store.expire("c1", "a", 500.0, 60)  # a timeout needs no grace
    await store.drop("c3", "c", 501.0, "closed", 0)
    assert (await store.online(10)).count == 0

    await store.bind("c1", "s1", "a3", "node-a", 600.0)  # back: counted again, arrived now
    assert (await store.online(10)).recent == [("c1", 600.0)]


async def test_every_listener_hears_every_change_in_order(store: PresenceStore) -> None:
    import asyncio

    from realtime.store.base import Change

    first: list[Change] = []
    second: list[Change] = []
    store.listen(first.append)
    store.listen(second.append)
    await store.bind("c1", "s1", "a", "node-a", 100.0)
    await store.drop("c1", "a", 101.0, "closed", 0)
    for _ in range(100):  # Redis delivers through its subscription
        if len(second) >= 2:
            break
        await asyncio.sleep(0.02)
    assert [[n.kind for n in c.notices] for c in first] == [["online"], ["offline"]]
    assert first == second


async def test_a_customer_online_before_the_index_existed_is_counted_at_its_next_heartbeat(
    redis_settings: dict[str, str],
) -> None:
    """A rolling upgrade on Redis: nodes of before wrote no `online` index; the next
    write of the customer's state (a heartbeat, within one interval) counts them again.
    (The in-process store starts empty with its process, so it has no such past.)"""
    from realtime.store.redis import RedisPresenceStore

    redis = connect_redis(redis_settings["redis_url"])
    store = create_store(Settings(redis_prefix=redis_settings["redis_prefix"]), "node-a", system_clock, redis)
    assert isinstance(store, RedisPresenceStore)
    try:
        await store.bind("c1", "s1", "a", "node-a", 100.0)
        await store._r.delete(store._online)
        assert (await store.online(5)).count == 0
        await store.heartbeat("c1", "a", 130.0)
        assert (await store.online(5)).recent == [("c1", 100.0)]
    finally:
        await store.close()
        await redis.aclose()
