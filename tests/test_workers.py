"""`presence serve --workers N` (SPEC §1): N processes on one port, acting as one through Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from redis import Redis

from domain.identity import TokenCodec
from tests.conftest import SECRET
from tests.helpers import EventLog, free_port

PRESENCE = [sys.executable, "-m", "presence.cli"]
PAIRS = 10


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(PRESENCE_JWT_SECRET=SECRET, PRESENCE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", **extra)
    return env


def test_more_than_one_worker_needs_redis(tmp_path: Path) -> None:
    run = subprocess.run(
        [*PRESENCE, "serve", "--workers", "2", "--port", str(free_port())],
        cwd=tmp_path,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert "--workers 2 needs PRESENCE_REDIS_URL" in run.stderr
    assert not (tmp_path / "p.db").exists()  # refused before anything was done


@pytest.mark.redis
@pytest.mark.timeout(120)
async def test_a_widget_on_one_worker_and_an_agent_on_the_other_hear_each_other(
    tmp_path: Path, redis_settings: dict[str, str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    prefix = redis_settings["redis_prefix"]
    env = env_for(tmp_path, PRESENCE_REDIS_URL=redis_settings["redis_url"], PRESENCE_REDIS_PREFIX=prefix)
    proc = subprocess.Popen(  # noqa: ASYNC220 (the server under test runs beside the test)
        [*PRESENCE, "serve", "--workers", "2", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    redis = Redis.from_url(redis_settings["redis_url"])
    clients: list[socketio.AsyncClient] = []
    try:
        deadline = time.monotonic() + 30
        while redis.zcard(f"{prefix}nodes") < 2:  # both workers are up (each is a node)
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"workers did not come up:\n{proc.stdout.read() if proc.stdout else ''}")
            await asyncio.sleep(0.1)
        http = aiohttp.ClientSession(base_url=url)
        # A worker joins the cluster during start-up, a moment before it listens.
        while True:
            try:
                async with http.get("/api/health") as resp:
                    assert (await resp.json())["status"] == "ok"
                    break
            except aiohttp.ClientConnectorError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        codec = TokenCodec(SECRET)
        service = {"Authorization": f"Bearer {codec.encode('svc', 'service', None, None, 600)}"}
        agent_token = codec.encode("agent-1", "agent", "co-1", None, 600)
        for i in range(PAIRS):
            body = {"companyId": "co-1", "platform": "WIDGET", "sessionId": f"s{i}"}
            async with http.put(f"/api/conversations/c{i}", json=body, headers=service) as resp:
                assert resp.status in (200, 201)
        await http.close()

        async def connect(token: str | None) -> tuple[socketio.AsyncClient, EventLog]:
            client = socketio.AsyncClient(reconnection=False)
            log = EventLog(client)
            await client.connect(
                url, auth={"token": token} if token else None, transports=["websocket"], wait_timeout=5
            )
            clients.append(client)
            return client, log

        def node_of(kind: str, conversation_id: str, sid: str) -> str:
            for key in redis.scan_iter(match=f"{prefix}node:*:{kind}"):
                if redis.sismember(key, f"{conversation_id}\n{sid}"):
                    return key.decode().split(":")[-2]
            raise AssertionError(f"{sid} is on no node")

        pairs: list[tuple[Any, Any, EventLog, int]] = []
        for i in range(PAIRS):
            widget, _ = await connect(None)
            ack = await widget.call("widget:online", {"conversationId": f"c{i}", "sessionId": f"s{i}"}, timeout=5)
            assert ack["ok"] is True, ack
            agent, agent_log = await connect(agent_token)
            joined = await agent.call("conversation:join", {"conversationId": f"c{i}"}, timeout=5)
            assert joined["ok"] is True and joined["presence"]["isOnline"] is True, joined
            assert joined["presence"]["devices"] == 1
            if node_of("socks", f"c{i}", widget.get_sid()) != node_of("rooms", f"c{i}", agent.get_sid()):
                pairs.append((widget, agent, agent_log, i))
        assert pairs, f"the kernel put all {PAIRS} pairs on one worker"
        for widget, _agent, agent_log, i in pairs:
            ids = {"conversationId": f"c{i}", "sessionId": f"s{i}"}
            assert (await widget.call("widget:heartbeat", ids, timeout=5))["ok"] is True
            assert (await agent_log.next("customer:heartbeat"))["conversationId"] == f"c{i}"
            assert (await widget.call("widget:offline", ids, timeout=5))["ok"] is True
            assert (await agent_log.next("customer:offline"))["reason"] == "closed"
    finally:
        for client in clients:
            try:
                await client.disconnect()
            except Exception:
                pass
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        redis.close()
    assert "WebSocket transport only" in out, out
    assert proc.returncode == 0, out
