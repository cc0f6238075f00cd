"""Fault: Redis stopped and started again (empty: no persistence, as a restart
of such a Redis is) under three `presence serve` nodes.

A private redis-server of this test's own is killed, never the shared one.
Customers on two nodes stay; one customer leaves while Redis is away; agents
on two nodes watch all three conversations. It proves, once Redis is back:
- health goes degraded (redis error) and back to ok on every node;
- no ghost: the customer who left is offline in every node's snapshot;
- no lost offline: every agent's last online/offline event for each
  conversation agrees with the snapshot (the one who left: offline, with the
  reason and lastSeen of the departure; the others: online);
- the customers who stayed are online on one device each, their heartbeats
  acked, and the presence of both agents counted again (socketsInRoom);
- no false departure: agents never heard the customers who stayed go offline;
- Socket.IO's Redis channel is subscribed again within seconds (an admin on one
  node hears another node's `user:online`);
- no double charge: a seller live through it all (blocks of 1 s, the monitor
  every 0.2 s on whichever node holds its lock, heartbeats to another node) is
  charged each block once, none skipped, the balance the grant less the charges
  (the job locks vanish with Redis's keys, so two nodes may run the monitor at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from domain.identity import TokenCodec
from infra.cluster import COMMAND_TIMEOUT
from services.errors import REDIS_UNAVAILABLE
from tests.conftest import SECRET
from tests.helpers import EventLog
from tests.process_support import Client, PrivateRedis, health, node_env, start_nodes, stop_all, until

TOKENS = TokenCodec(SECRET)
CONVERSATIONS = ["c1", "c2", "c3"]
BLOCK = 1.0  # a credit buys a second of live time: charges fall due all through the test
GRANTED = 200
OUTAGE = 4.0  # longer than a node's keepalive may be stale before it is taken for dead (3 s here)
FREEZE = COMMAND_TIMEOUT + 2.0  # longer than that, and than a Redis command may take
FIGURES: dict[str, float] = {}
# The widget timings both tests start their nodes with.
WIDGET_TIMINGS = {
    "PRESENCE_WIDGET_HEARTBEAT_INTERVAL": "0.5",
    "PRESENCE_WIDGET_OFFLINE_AFTER": "8",
    "PRESENCE_WIDGET_OFFLINE_GRACE": "0.5",
    "PRESENCE_WIDGET_SWEEP_EVERY": "0.2",
}


def ids(c: str) -> dict[str, str]:
    return {"conversationId": c, "sessionId": f"s-{c}"}


async def snapshot(http: aiohttp.ClientSession, url: str, c: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKENS.encode('boss', 'admin')}"}
    async with http.get(f"{url}/api/widget/presence?conversationId={c}", headers=headers) as r:
        assert r.status == 200
        return await r.json()  # type: ignore[no-any-return]


def iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def every_node_says(http: aiohttp.ClientSession, urls: tuple[str, ...], status: int, redis: str | None = None) -> Any:
    """A condition for `until`: every node's /api/health answers `status` (and `redis`)."""

    async def check() -> bool:
        for url in urls:
            got, body = await health(http, url)
            if got != status or (redis is not None and body["redis"] != redis):
                return False
        return True

    return check


def last_word(log: EventLog, c: str) -> tuple[str, Any] | None:
    told = [
        (name, data)
        for name, data in log.events
        if name in ("customer:online", "customer:offline") and data["conversationId"] == c
    ]
    return told[-1] if told else None


async def test_redis_restarted_under_three_nodes(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "presence.db")
    redis = PrivateRedis(tmp_path)
    env = node_env(
        f"sqlite+aiosqlite:///{tmp_path / 'presence.db'}",
        PRESENCE_REDIS_URL=redis.url,
        **WIDGET_TIMINGS,
        PRESENCE_STREAM_CREDIT_BLOCK=str(BLOCK),
        PRESENCE_STREAM_CHECK_EVERY="0.2",
        PRESENCE_RATE_LIMIT="0",
    )
    nodes = start_nodes(tmp_path, env, 3)
    a, b, c = (n.url for n in nodes)
    sockets: list[socketio.AsyncClient] = []
    widgets: dict[str, Client] = {}
    try:
        async with aiohttp.ClientSession() as http:
            service = {"Authorization": f"Bearer {TOKENS.encode('svc', 'service')}"}
            for conv in CONVERSATIONS:
                async with http.put(
                    f"{a}/api/conversations/{conv}",
                    headers=service,
                    json={"companyId": "co-1", "platform": "WIDGET", **ids(conv)},
                ) as r:
                    assert r.status == 201
            agents: list[EventLog] = []
            for url in (c, a):
                agent = socketio.AsyncClient(reconnection=False)
                agents.append(EventLog(agent))
                await agent.connect(url, auth={"token": TOKENS.encode("ag", "agent", "co-1")}, transports=["websocket"])
                sockets.append(agent)
                for conv in CONVERSATIONS:
                    assert (await agent.call("conversation:join", {"conversationId": conv}))["ok"] is True
            admin_socket = socketio.AsyncClient(reconnection=False)
            admin = EventLog(admin_socket)
            await admin_socket.connect(c, auth={"token": TOKENS.encode("boss", "admin")}, transports=["websocket"])
            sockets.append(admin_socket)
            for conv, url in (("c1", a), ("c2", b), ("c3", a)):
                widgets[conv] = Client("widget:online", ids(conv), heartbeat="widget:heartbeat")
                await widgets[conv].connect(url, transports=["websocket"])
                assert (await widgets[conv].next_ack())[1]["ok"] is True
            for log in agents:
                for _ in CONVERSATIONS:
                    await log.next("customer:online")

            # A seller live on the cluster: the monitor (any node, once a period) and the
            # seller's heartbeats (to node C) charge each block as it falls due.
            seller = {"Authorization": f"Bearer {TOKENS.encode('seller', 'user', 'shop-1')}"}
            admin_headers = {"Authorization": f"Bearer {TOKENS.encode('boss', 'admin')}"}
            async with http.post(
                f"{a}/api/admin/users/seller/credits", headers=admin_headers, json={"amount": GRANTED}
            ) as r:
                assert r.status == 200
            async with http.post(f"{b}/api/livestreams/", headers=seller, json={"title": "Sale"}) as r:
                stream_id = (await r.json())["id"]
            async with http.patch(f"{b}/api/livestreams/start/{stream_id}/", headers=seller) as r:
                assert r.status == 200, await r.text()
            stop_beats = asyncio.Event()

            async def seller_beats() -> None:
                while not stop_beats.is_set():
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.post(f"{c}/api/livestreams/{stream_id}/heartbeat/", headers=seller) as r:
                            await r.read()
                    await asyncio.sleep(0.3)

            beats = asyncio.create_task(seller_beats())

            redis.kill()
            down_at = time.monotonic()

            await until(every_node_says(http, (a, b, c), 503, "error"), 10, "health degraded on every node")
            await widgets["c3"].close()  # the customer of c3 leaves while Redis is away
            left_at = time.monotonic()
            await asyncio.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))  # the outage lasts
            redis.start()
            up_at = time.monotonic()

            ok_at = await until(every_node_says(http, (a, b, c), 200, "ok"), 15, "health ok on every node")
            # Both channels every node listens to (presence changes, Socket.IO's own) are
            # subscribed again promptly (python-socketio alone waits 1, 2, 4 … s between
            # attempts): then node A's event to the admins room reaches the admin on C.
            from redis.asyncio import Redis

            async with Redis.from_url(redis.url) as probe:

                async def every_node_listens() -> bool:
                    counts = dict(await probe.pubsub_numsub("presence:socketio", "presence:changes"))
                    return all(n == 3 for n in counts.values())

                listening_at = await until(every_node_listens, 10, "every node subscribed again")
            assert listening_at - up_at < 2.5
            user = {"Authorization": f"Bearer {TOKENS.encode('u-late', 'user', 'co-1')}"}
            async with http.post(f"{a}/api/users/heartbeat/", headers=user) as r:
                assert r.status == 200
            while (await admin.next("user:online", timeout=5))["user_id"] != "u-late":
                pass
            relayed_at = time.monotonic()

            seen: dict[str, Any] = {}

            async def settled() -> bool:
                for url in (a, b, c):
                    snaps = {conv: await snapshot(http, url, conv) for conv in CONVERSATIONS}
                    seen[url] = snaps
                    seen["agents"] = [{conv: last_word(log, conv) for conv in CONVERSATIONS} for log in agents]
                    if not (snaps["c1"]["isOnline"] and snaps["c1"]["devices"] == 1):
                        return False
                    if not (snaps["c2"]["isOnline"] and snaps["c2"]["devices"] == 1):
                        return False
                    if snaps["c3"]["isOnline"] or any(s["socketsInRoom"] != 2 + s["devices"] for s in snaps.values()):
                        return False
                for log in agents:
                    words = {conv: last_word(log, conv) for conv in CONVERSATIONS}
                    if [w[0] if w else None for w in words.values()] != [
                        "customer:online",
                        "customer:online",
                        "customer:offline",
                    ]:
                        return False
                return True

            try:
                settled_at = await until(settled, 20, "presence agreed again after Redis came back")
            except AssertionError as e:
                raise AssertionError(f"{e}: {seen}") from None
            for log in agents:
                _, offline = last_word(log, "c3") or ("", {})
                assert offline["reason"] == "disconnected", offline
                assert offline["lastSeen"] is not None
                told = [(n, d["conversationId"]) for n, d in log.events if n == "customer:offline"]
                assert told == [("customer:offline", "c3")], told  # no false offline of c1 or c2
            for conv in ("c1", "c2"):
                ack = await widgets[conv].sio.call("widget:heartbeat", ids(conv), timeout=5)
                assert ack["ok"] is True, ack
            # No double charge: each block once, the balance what was granted less the charges.
            await asyncio.sleep(2 * BLOCK)  # a few more blocks charged with Redis back
            stop_beats.set()
            await beats
            async with http.patch(f"{b}/api/livestreams/end/{stream_id}/", headers=seller) as r:
                ended = await r.json()
                assert r.status == 200 and ended["status"] == "ended", ended
            async with http.get(f"{a}/api/livestreams/{stream_id}/charges/", headers=seller) as r:
                statement = await r.json()
            async with http.get(f"{c}/api/users/me/credits", headers=seller) as r:
                balance = (await r.json())["remaining_credits"]
            blocks = [charge["block"] for charge in statement["charges"]]
            assert blocks == list(range(len(blocks))), blocks  # every block once, none skipped
            assert statement["credits_consumed"] == ended["credits_consumed"] == len(blocks)
            assert balance == GRANTED - len(blocks)
            live_for = iso_seconds(ended["ended_at"]) - iso_seconds(ended["started_at"])
            assert len(blocks) in {math.ceil(live_for / BLOCK - 0.002), math.ceil(live_for / BLOCK + 0.002)}, (
                blocks,
                live_for,
            )
            FIGURES["blocks_charged"] = len(blocks)
            # And the cluster works as before: c1's customer leaves, every agent hears it.
            await widgets["c1"].close()
            for log in agents:
                while (await log.next("customer:offline", timeout=10))["conversationId"] != "c1":
                    pass
            FIGURES["redis_down_s"] = up_at - down_at
            FIGURES["up_to_health_ok_s"] = ok_at - up_at
            FIGURES["up_to_every_node_subscribed_s"] = listening_at - up_at
            FIGURES["up_to_cross_node_event_s"] = relayed_at - up_at
            FIGURES["up_to_presence_agreed_s"] = settled_at - up_at
            FIGURES["left_during_outage_at_s"] = left_at - down_at
            print(f"\nredis figures: {FIGURES}")
    finally:
        for w in widgets.values():
            await w.close()
        for s in sockets:
            if s.connected:
                await s.disconnect()
        stop_all(nodes)
        redis.kill()
        for n in nodes:
            print(f"--- {n.url}\n{n.tail(25)}")


async def test_redis_frozen_under_two_nodes(tmp_path: Path, sqlite_template: Path) -> None:
    """Redis stops answering without closing anything (SIGSTOP: a hung host, a
    partition), then resumes with its state. A request needing Redis meanwhile is
    answered 503 within the command timeout instead of waiting for the thaw. When
    it resumes, commands still queued run at once, keepalives included, written
    with the times they were sent: no node may take another for dead from those
    stale times, so no customer hears a false offline."""
    import signal as signals

    shutil.copy(sqlite_template, tmp_path / "presence.db")
    redis = PrivateRedis(tmp_path)
    env = node_env(
        f"sqlite+aiosqlite:///{tmp_path / 'presence.db'}",
        PRESENCE_REDIS_URL=redis.url,
        **WIDGET_TIMINGS,
    )
    nodes = start_nodes(tmp_path, env, 2)
    a, b = (n.url for n in nodes)
    widgets: dict[str, Client] = {}
    agent = socketio.AsyncClient(reconnection=False)
    log = EventLog(agent)
    try:
        async with aiohttp.ClientSession() as http:
            service = {"Authorization": f"Bearer {TOKENS.encode('svc', 'service')}"}
            for conv in ("c1", "c2"):
                async with http.put(
                    f"{a}/api/conversations/{conv}",
                    headers=service,
                    json={"companyId": "co-1", "platform": "WIDGET", **ids(conv)},
                ) as r:
                    assert r.status == 201
            await agent.connect(b, auth={"token": TOKENS.encode("ag", "agent", "co-1")}, transports=["websocket"])
            for conv in ("c1", "c2"):
                assert (await agent.call("conversation:join", {"conversationId": conv}))["ok"] is True
            for conv, url in (("c1", a), ("c2", b)):
                widgets[conv] = Client("widget:online", ids(conv), heartbeat="widget:heartbeat")
                await widgets[conv].connect(url, transports=["websocket"])
                assert (await widgets[conv].next_ack())[1]["ok"] is True
                await log.next("customer:online")
            assert redis.proc is not None
            redis.proc.send_signal(signals.SIGSTOP)
            frozen_at = time.monotonic()
            try:

                async def degraded() -> bool:
                    status, _ = await health(http, a)
                    return status == 503

                await until(degraded, 10, "health degraded while Redis is frozen")
                # A request needing Redis is answered, 503, within the command timeout
                # (5 s), not when Redis thaws.
                asked = time.monotonic()
                headers = {"Authorization": f"Bearer {TOKENS.encode('boss', 'admin')}"}
                async with http.get(f"{a}/api/widget/presence?conversationId=c1", headers=headers) as r:
                    assert r.status == 503 and r.headers["Retry-After"] == "1", r.status
                    assert (await r.json())["error"] == REDIS_UNAVAILABLE
                answered_in = time.monotonic() - asked
                assert answered_in < COMMAND_TIMEOUT + 2.0
                await asyncio.sleep(max(0.0, frozen_at + FREEZE - time.monotonic()))  # the freeze lasts
            finally:
                redis.proc.send_signal(signals.SIGCONT)
            thawed_at = time.monotonic()

            await until(every_node_says(http, (a, b), 200), 15, "health ok after the freeze")
            # Past node_lost_after (3 s) and a few sweeps after the thaw: nobody was dropped.
            await asyncio.sleep(4.0)
            assert "customer:offline" not in log.names(), log.events
            for conv in ("c1", "c2"):
                snap = await snapshot(http, b, conv)
                assert snap["isOnline"] is True and snap["devices"] == 1, snap
            FIGURES["frozen_s"] = thawed_at - frozen_at
            FIGURES["frozen_request_answered_s"] = answered_in
            print(f"\nredis freeze figures: {FIGURES}")
    finally:
        for w in widgets.values():
            await w.close()
        if agent.connected:
            await agent.disconnect()
        stop_all(nodes)
        if redis.proc is not None:
            redis.proc.send_signal(signals.SIGCONT) if redis.proc.poll() is None else None
        redis.kill()
        for n in nodes:
            print(f"--- {n.url}\n{n.tail(25)}")
