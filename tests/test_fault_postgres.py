"""Fault: PostgreSQL restarted (a crash: `pg_ctl stop -m immediate`, then start)
while app users heartbeat over REST and a widget heartbeats over its socket.

A private cluster of this test's own is restarted (tests/process_support.py),
never the shared server. It proves:
- while the database is away the server answers every request quickly with
  503, Retry-After and a JSON error saying to retry, instead of hanging or a 500, `/api/health` says
  degraded (503, database error), and widget presence (in memory) goes on:
  heartbeats acked, the agent told;
- the server reconnects by itself: health is ok again within a bound of the
  restart, and heartbeats answer 200 again;
- nothing acknowledged is lost: for every user, the `last_seen` stored at the
  end is the one their last 200 answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import aiohttp

from domain.identity import TokenCodec
from services.errors import DATABASE_UNAVAILABLE
from tests.conftest import SECRET
from tests.process_support import Client, PrivatePostgres, health, node_env, start_nodes, stop_all, until

TOKENS = TokenCodec(SECRET)
USERS = ["u1", "u2", "u3"]
IDS = {"conversationId": "c1", "sessionId": "s-c1"}
OUTAGE = 2.0  # how long the database stays away
ANSWER_WITHIN = 6.0  # no request may take longer than this, database or not
FIGURES: dict[str, float] = {}


class Answer:
    def __init__(self, user: str, sent: float, elapsed: float, status: int, body: Any, retry_after: str = "") -> None:
        self.user, self.sent, self.elapsed, self.status, self.body = user, sent, elapsed, status, body
        self.retry_after = retry_after


async def heartbeats(http: aiohttp.ClientSession, url: str, answers: list[Answer], stop: asyncio.Event) -> None:
    """App users heartbeat over REST (§4), round-robin, one request in flight at a time."""
    tokens = {u: TOKENS.encode(u, "user", "co-1") for u in USERS}
    while not stop.is_set():
        for user in USERS:
            sent = time.monotonic()
            try:
                async with http.post(
                    f"{url}/api/users/heartbeat/",
                    headers={"Authorization": f"Bearer {tokens[user]}"},
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as r:
                    body = await r.json(content_type=None)
                    answers.append(
                        Answer(user, sent, time.monotonic() - sent, r.status, body, r.headers.get("Retry-After", ""))
                    )
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                answers.append(Answer(user, sent, time.monotonic() - sent, 0, repr(e)))
        await asyncio.sleep(0.05)


async def test_postgres_restarted_while_heartbeats_flow(tmp_path: Path) -> None:
    pg = PrivatePostgres()
    nodes = []
    try:
        env = node_env(
            pg.url,
            PRESENCE_USER_TOUCH_THROTTLE="0.05",
            PRESENCE_WIDGET_HEARTBEAT_INTERVAL="0.5",
            PRESENCE_WIDGET_OFFLINE_AFTER="10",
            PRESENCE_RATE_LIMIT="0",
        )
        nodes = start_nodes(tmp_path, env, 1)  # `presence serve` migrates the fresh database first
        url = nodes[0].url
        admin = {"Authorization": f"Bearer {TOKENS.encode('boss', 'admin')}"}
        service = {"Authorization": f"Bearer {TOKENS.encode('svc', 'service')}"}
        async with aiohttp.ClientSession() as http:
            async with http.put(
                f"{url}/api/conversations/c1", headers=service, json={"companyId": "co-1", "platform": "WIDGET", **IDS}
            ) as r:
                assert r.status == 201
            agent = Client("conversation:join", {"conversationId": "c1"}, token=TOKENS.encode("ag", "agent", "co-1"))
            widget = Client("widget:online", IDS)
            answers: list[Answer] = []
            stop = asyncio.Event()
            pump = asyncio.create_task(heartbeats(http, url, answers, stop))
            try:
                await agent.connect(url, transports=["websocket"])
                assert (await agent.next_ack())[1]["ok"] is True
                await widget.connect(url, transports=["websocket"])
                assert (await widget.next_ack())[1]["ok"] is True
                await agent.log.next("customer:online")

                async def every_user_answered_ok(after: float) -> bool:
                    return all(any(a.user == u and a.status == 200 and a.sent > after for a in answers) for u in USERS)

                await until(lambda: every_user_answered_ok(0), 20, "heartbeats before the outage")

                pg.stop("immediate")
                stopped_at = time.monotonic()

                async def degraded() -> bool:
                    status, body = await health(http, url)
                    return status == 503 and body["status"] == "degraded" and body["database"] == "error"

                degraded_at = await until(degraded, 15, "health degraded")
                # Widget presence does not need the database: heartbeats acked, agents told.
                ack = await widget.sio.call("widget:heartbeat", IDS, timeout=5)
                assert ack["ok"] is True, ack
                await agent.log.next("customer:heartbeat")

                async def refused_a_few() -> bool:
                    return sum(1 for a in answers if a.sent > stopped_at and a.status != 200) >= 6

                await until(refused_a_few, 20, "answers during the outage")
                await asyncio.sleep(max(0.0, stopped_at + OUTAGE - time.monotonic()))  # the outage lasts

                pg.start()
                started_at = time.monotonic()

                async def healthy() -> bool:
                    status, body = await health(http, url)
                    return status == 200 and body["status"] == "ok" and body["database"] == "ok"

                ok_at = await until(healthy, 15, "health ok after the restart")
                await until(lambda: every_user_answered_ok(ok_at), 15, "heartbeats after the restart")
            finally:
                stop.set()
                await pump
                await widget.close()
                await agent.close()

            during = [a for a in answers if stopped_at < a.sent < started_at]
            assert during, "no request was sent while the database was away"
            slow = [(a.user, a.elapsed, a.status) for a in answers if a.elapsed > ANSWER_WITHIN]
            assert not slow, f"answers slower than {ANSWER_WITHIN}s: {slow}"
            failed = [(a.status, a.body, a.retry_after) for a in during if a.status != 200]
            # 503 with Retry-After and the JSON error shape: "try again", not a 500 and a traceback.
            assert failed and all(status == 503 and retry for status, _, retry in failed), failed
            assert all(body == {"error": DATABASE_UNAVAILABLE} for _, body, _ in failed), failed
            # Nothing acknowledged is lost: the stored last_seen is each user's last 200.
            for user in USERS:
                last_ok = [a for a in answers if a.user == user and a.status == 200][-1]
                async with http.get(f"{url}/api/users/admin/users/{user}/online-status/", headers=admin) as r:
                    assert r.status == 200
                    stored = await r.json()
                assert stored["last_seen"] == last_ok.body["last_seen"], (user, stored, last_ok.body)
                assert stored["is_online"] is True

        FIGURES["down_s"] = started_at - stopped_at
        FIGURES["stop_to_degraded_s"] = degraded_at - stopped_at
        FIGURES["start_to_ok_s"] = ok_at - started_at
        FIGURES["outage_answers"] = len(during)
        FIGURES["slowest_answer_s"] = max(a.elapsed for a in answers)
        print(f"\npostgres figures: {FIGURES}")
        assert ok_at - started_at < 10  # the server reconnected by itself, promptly
    finally:
        stop_all(nodes)
        with contextlib.suppress(Exception):
            print(nodes[0].tail(30) if nodes else "")
        pg.remove()
