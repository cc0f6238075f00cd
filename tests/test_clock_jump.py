"""Fault: a node's wall clock jumps (an NTP step, `date -s`) while customers are online.

The server is given a wall clock that the test steps by ten minutes, wrapped as
production wraps `time.time` (`SteadyClock`, infra/steady_clock.py). It proves:
- forward: no customer is timed out, no reload grace is cut short, no app user
  is swept offline, no credit block is charged early and no attendance session
  is timed out by the jump alone; a customer who really goes quiet is still
  timed out after PRESENCE_WIDGET_OFFLINE_AFTER of real time;
- backward: leases still expire on time (not ten minutes late) and nobody is
  rate-limited by the clock going back;
- with two nodes on Redis, one node's jump does not let it time out the other
  node's customers, nor take the other node for dead: both follow Redis's clock.
Without the steady clock (the raw jumping clock given instead) each of these
fails: every lease is expired by the first sweep after the jump, ten blocks are
charged at once, the session is timed out, timeouts wait ten minutes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from api.keys import SERVICES
from infra.steady_clock import MAX_SLEW, SteadyClock
from tests import attendance_support as attendance
from tests.conftest import FAST
from tests.credits_support import Seller, monitor
from tests.test_widget_presence import ids, snapshot

JUMP = 600.0  # ten minutes


class WallClock:
    """`time.time()` plus whatever steps the test applies."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def keep_beating(widget: Any, conversation_id: str, every: float, acks: list[Any]) -> None:
    while True:
        await asyncio.sleep(every)
        acks.append(await widget.call("widget:heartbeat", ids(conversation_id), timeout=5))


def test_the_steady_clock_follows_its_reference_only_by_slewing() -> None:
    wall, mono = [1000.0], [50.0]
    clock = SteadyClock(lambda: wall[0], lambda: mono[0])
    assert clock() == 1000.0
    mono[0] += 10
    wall[0] += 10
    assert clock() == 1010.0  # in step with its reference: exactly it
    wall[0] += JUMP  # the wall clock steps ten minutes forward
    mono[0] += 1
    assert clock() == pytest.approx(1011.0 + MAX_SLEW)  # one second later: 1 s and 10 ms on
    last = clock()
    for _ in range(200):
        mono[0] += 300
        wall[0] += 300
        now = clock()
        assert 300 <= now - last <= 300 * (1 + MAX_SLEW) + 1e-6  # every duration within 1 %
        last = now
    assert now == pytest.approx(wall[0])  # caught up with the new time (in 60,000 s)
    wall[0] -= JUMP  # and back: never backwards, never faster than 1 % slow
    mono[0] += 1
    assert now < clock() <= now + 1


async def test_a_forward_jump_times_out_nobody(make_server: Any) -> None:
    wall = WallClock()
    server = await make_server(
        clock=SteadyClock(wall), widget_offline_grace=1.5, user_offline_after=60, user_sweep_every=3600
    )
    await server.conversation("stays")
    await server.conversation("reloads")
    await server.conversation("quiet")
    agent_socket, agent = await server.agent("stays")
    for c in ("reloads", "quiet"):
        assert (await agent_socket.call("conversation:join", {"conversationId": c}))["ok"] is True
    stays, _ = await server.widget("stays")
    reloading, _ = await server.widget("reloads")
    await server.widget("quiet")  # connected, never heartbeats: times out on real time only
    for _ in range(3):
        await agent.next("customer:online")
    status, _ = await server.request("POST", "/api/users/heartbeat/", role="user", sub="u1", company="co-1")
    assert status == 200
    acks: list[Any] = []
    beating = [asyncio.create_task(keep_beating(stays, "stays", 0.2, acks))]
    try:
        await reloading.disconnect()  # a reload: the grace (1.5 s) starts
        wall.offset += JUMP  # the clock steps ten minutes forward mid-grace
        jumped_at = time.monotonic()
        back, _ = await server.widget("reloads")  # back within the grace
        beating.append(asyncio.create_task(keep_beating(back, "reloads", 0.2, acks)))
        assert await server.app[SERVICES].jobs.run("users_offline", reraise=True) == 0
        quiet = await agent.next("customer:offline", timeout=10)
        # The quiet customer times out after OFFLINE_AFTER (2 s) of its silence, not at the jump.
        assert quiet["conversationId"] == "quiet" and quiet["reason"] == "timeout"
        assert time.monotonic() - jumped_at > 0.5
        await asyncio.sleep(FAST["widget_offline_after"] + 0.5)  # well past a lease and a grace, jumped or not
    finally:
        for task in beating:
            task.cancel()
    offline = [d["conversationId"] for n, d in agent.events if n == "customer:offline"]
    assert offline == ["quiet"], offline  # nobody else: not "stays", not the reload
    assert acks and all(a["ok"] for a in acks), acks
    assert (await snapshot(server, "stays"))["isOnline"] is True
    reloaded = await snapshot(server, "reloads")
    assert reloaded["isOnline"] is True and reloaded["devices"] == 1
    status, body = await server.request("GET", "/api/users/admin/users/u1/online-status/")
    assert status == 200 and body["is_online"] is True
    await back.disconnect()


async def test_a_forward_jump_charges_no_block_and_ends_no_session_early(make_server: Any) -> None:
    """Credit blocks of 60 s, attendance sessions ended after 30 s without a heartbeat:
    ten minutes of clock step is neither ten blocks due nor a session timed out."""
    wall = WallClock()
    server = await make_server(
        clock=SteadyClock(wall),
        stream_credit_block=60,
        stream_check_every=3600,
        session_heartbeat_interval=5,
        session_timeout_after=30,
        session_sweep_every=3600,
        rate_limit=0,
    )
    seller = Seller(server)
    await seller.grant(20)
    stream_id = await seller.live()  # block 0 charged at the start
    await attendance.meeting(server)
    page = await attendance.click(server, await attendance.link(server))
    assert (await attendance.beat(server, page))[0] == 200
    wall.offset += JUMP
    # Everything that charges or ends, right after the step: the monitor, a heartbeat,
    # check_credits, the session sweep, a late-looking heartbeat.
    assert (await seller.heartbeat(stream_id))[0] == 200
    assert (await seller.check(stream_id))["livestream_ended"] is False
    await monitor(server)
    assert await attendance.sweep(server) == 0
    status, body = await attendance.beat(server, page)
    assert status == 200 and body["status"] == "active", body
    statement = await seller.statement(stream_id)
    assert [c["block"] for c in statement["charges"]] == [0], statement  # block 1 is a minute away, not due
    assert await seller.balance() == 19
    assert (await seller.stream(stream_id))["status"] == "live"


async def test_a_backward_jump_delays_no_timeout_and_limits_nobody(make_server: Any) -> None:
    wall = WallClock()
    server = await make_server(clock=SteadyClock(wall), rate_limit=5)
    await server.conversation("stays")
    await server.conversation("quiet")
    agent_socket, agent = await server.agent("stays")
    assert (await agent_socket.call("conversation:join", {"conversationId": "quiet"}))["ok"] is True
    stays, _ = await server.widget("stays")
    await server.widget("quiet")
    await agent.next("customer:online")
    await agent.next("customer:online")
    wall.offset -= JUMP
    stepped_at = time.monotonic()
    for _ in range(5):  # within the rate (5/s, bursts of 10): none refused after the step
        assert (await stays.call("widget:heartbeat", ids("stays"), timeout=5))["ok"] is True
        await asyncio.sleep(0.25)
    offline = await agent.next("customer:offline", timeout=10)  # on time, not ten minutes late
    assert offline["conversationId"] == "quiet" and time.monotonic() - stepped_at < 5
    assert (await snapshot(server, "stays"))["isOnline"] is True


async def test_one_node_jumping_does_not_time_out_the_other_nodes_customers(
    make_server: Any, redis_settings: dict[str, str]
) -> None:
    wall = WallClock()
    a = await make_server(clock=SteadyClock(wall), **redis_settings)  # this node's clock will step
    b = await make_server(clock=SteadyClock(), **redis_settings)
    await a.conversation("on-a")
    await a.conversation("on-b")
    agent_socket, agent = await b.agent("on-a")
    assert (await agent_socket.call("conversation:join", {"conversationId": "on-b"}))["ok"] is True
    on_a, _ = await a.widget("on-a")
    on_b, _ = await b.widget("on-b")
    await agent.next("customer:online")
    await agent.next("customer:online")
    acks: list[Any] = []
    beats = [
        asyncio.create_task(keep_beating(on_a, "on-a", 0.2, acks)),
        asyncio.create_task(keep_beating(on_b, "on-b", 0.2, acks)),
    ]
    try:
        wall.offset += JUMP
        # Both nodes sweep (each period's run goes to whichever takes the lock first),
        # and look for dead nodes: 3 s of it, past a lease (2 s) and node_lost (3 s).
        await asyncio.sleep(3.5)
        wall.offset -= 2 * JUMP  # and ten minutes the other way
        await asyncio.sleep(3.5)
    finally:
        for t in beats:
            t.cancel()
    assert "customer:offline" not in agent.names(), agent.events
    assert acks and all(a["ok"] for a in acks), [x for x in acks if not x["ok"]]
    for c in ("on-a", "on-b"):
        snap = await snapshot(b, c)
        assert snap["isOnline"] is True and snap["devices"] == 1, snap
