"""Several nodes acting as one (SPEC.md §8): two real servers sharing the
database and Redis, clients spread over them as a load balancer would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio

from api.keys import SERVICES
from presence.app import RUNTIME
from tests.conftest import SECRET, Server
from tests.helpers import EventLog, free_port
from tests.test_widget_presence import ids, snapshot


@pytest.fixture
async def two_nodes(make_server: Any, redis_settings: dict[str, str]) -> tuple[Server, Server]:
    a = await make_server(**redis_settings)
    b = await make_server(**redis_settings)
    return a, b


async def test_events_on_one_node_reach_agents_on_another(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    await a.conversation("c1")
    _, agent = await b.agent("c1")
    widget, _ = await a.widget("c1")
    assert (await agent.next("customer:online"))["devices"] == 1
    await widget.call("widget:heartbeat", ids("c1"))
    await agent.next("customer:heartbeat")
    await widget.call("widget:typing", {**ids("c1"), "isTyping": True})
    assert (await agent.next("customer:typing"))["isTyping"] is True
    # Presence answers count sockets on every node.
    snap = await snapshot(b, "c1")
    assert snap["isOnline"] is True and snap["devices"] == 1 and snap["socketsInRoom"] == 2
    await widget.call("widget:offline", ids("c1"))
    assert (await agent.next("customer:offline"))["reason"] == "closed"


async def test_tabs_on_two_nodes_are_one_customer(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    await a.conversation("c1")
    _, agent = await a.agent("c1")
    tab_a, _ = await a.widget("c1")
    await agent.next("customer:online")
    tab_b, _ = await b.widget("c1")
    assert (await agent.next("customer:heartbeat"))["devices"] == 2
    await tab_a.disconnect()
    assert (await agent.next("customer:heartbeat"))["devices"] == 1
    await asyncio.sleep(a.settings.widget_offline_grace + 0.2)
    assert (await snapshot(a, "c1"))["isOnline"] is True
    await tab_b.disconnect()
    assert (await agent.next("customer:offline"))["reason"] == "disconnected"
    assert agent.names().count("customer:online") == 1


async def test_a_reload_onto_the_other_node_does_not_flicker(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    await a.conversation("c1")
    _, agent = await b.agent("c1")
    old, _ = await a.widget("c1")
    await agent.next("customer:online")
    await old.disconnect()
    new, _ = await b.widget("c1")
    await asyncio.sleep(a.settings.widget_offline_grace + 0.3)
    await new.call("widget:heartbeat", ids("c1"))
    await agent.next("customer:heartbeat")
    assert "customer:offline" not in agent.names()


async def test_a_silent_socket_on_one_node_is_swept_once(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    await a.conversation("c1")
    _, agent = await b.agent("c1")
    await a.widget("c1")
    await agent.next("customer:online")
    assert (await agent.next("customer:offline"))["reason"] == "timeout"
    await asyncio.sleep(a.settings.widget_sweep_every * 3)
    assert agent.names().count("customer:offline") == 1


async def test_each_job_runs_once_per_period_across_the_cluster(two_nodes: tuple[Server, Server]) -> None:
    """Both nodes' schedulers fire; only one of them runs the job in a period, and a
    run longer than its period keeps the other node out until it ends."""
    a, b = two_nodes
    runs: list[str] = []
    gate = asyncio.Event()

    def job(node: str) -> Any:
        async def run() -> int:
            runs.append(node)
            if len(runs) == 1:
                await gate.wait()  # the first run is long: longer than its 1 s period
            return 1

        return run

    a.app[SERVICES].jobs.add("probe", 1.0, job("a"))
    b.app[SERVICES].jobs.add("probe", 1.0, job("b"))
    first = asyncio.gather(a.app[SERVICES].jobs._scheduled("probe"), b.app[SERVICES].jobs._scheduled("probe"))
    await asyncio.sleep(1.5)  # past the period: the lock was extended, not lapsed
    await b.app[SERVICES].jobs._scheduled("probe")
    await a.app[SERVICES].jobs._scheduled("probe")
    assert len(runs) == 1
    gate.set()
    await asyncio.wait_for(first, 5)
    await asyncio.sleep(1.0)  # the run is over and its lock lapses: the next period runs again
    await a.app[SERVICES].jobs._scheduled("probe")
    assert len(runs) == 2


async def test_health_on_any_node_reports_the_clusters_last_run(two_nodes: tuple[Server, Server]) -> None:
    """A node that never won a job's lock still reports when the cluster last ran it."""
    a, b = two_nodes
    ran = {"a": 0, "b": 0}

    def job(node: str) -> Any:
        async def run() -> dict[str, str]:
            ran[node] += 1
            return {"ran_on": node}

        return run

    a.app[SERVICES].jobs.add("only_a", 3600, job("a"))
    b.app[SERVICES].jobs.add("only_a", 3600, job("b"))
    await a.app[SERVICES].jobs._scheduled("only_a")
    await b.app[SERVICES].jobs._scheduled("only_a")  # a holds this period's lock: b does not run it
    assert ran == {"a": 1, "b": 0}
    status, body = await b.request("GET", "/api/health", role=None)
    assert status == 200
    assert body["jobs"]["only_a"]["last_result"] == {"ran_on": "a"}
    assert body["jobs"]["only_a"]["last_run"].endswith("Z")


def start_node(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "presence.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=1):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("node did not start") from None
            time.sleep(0.05)


async def test_a_killed_node_leaves_no_customer_online(
    tmp_path: Path, database_url: str, redis_settings: dict[str, str]
) -> None:
    """SIGKILL one node: its customers go offline (reason node_lost) within
    PRESENCE_WIDGET_OFFLINE_AFTER plus one sweep, told by the surviving node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(
        PRESENCE_JWT_SECRET=SECRET,
        PRESENCE_DATABASE_URL=database_url,
        PRESENCE_REDIS_URL=redis_settings["redis_url"],
        PRESENCE_REDIS_PREFIX=redis_settings["redis_prefix"],
        PRESENCE_WIDGET_HEARTBEAT_INTERVAL="1",
        PRESENCE_WIDGET_OFFLINE_AFTER="8",
        PRESENCE_WIDGET_OFFLINE_GRACE="0.3",
        PRESENCE_WIDGET_SWEEP_EVERY="0.2",
    )
    doomed, url_a = start_node(tmp_path, env)
    survivor, url_b = start_node(tmp_path, env)
    clients: list[socketio.AsyncClient] = []
    try:
        from domain.identity import TokenCodec

        tokens = TokenCodec(SECRET)
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.put(
                f"{url_b}/api/conversations/c1",
                headers={"Authorization": f"Bearer {tokens.encode('svc', 'service')}"},
                json={"companyId": "co-1", "platform": "WIDGET", "sessionId": "s-c1"},
            ) as r:
                assert r.status == 201
        agent = socketio.AsyncClient(reconnection=False)
        agent_log = EventLog(agent)
        await agent.connect(url_b, auth={"token": tokens.encode("ag", "agent", "co-1")}, transports=["websocket"])
        clients.append(agent)
        assert (await agent.call("conversation:join", {"conversationId": "c1"}))["ok"] is True
        widget = socketio.AsyncClient(reconnection=False)
        await widget.connect(url_a, transports=["websocket"])
        clients.append(widget)
        assert (await widget.call("widget:online", ids("c1")))["ok"] is True
        await agent_log.next("customer:online")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(5)
        killed_at = time.monotonic()
        offline = await agent_log.next("customer:offline", timeout=10)
        assert offline["reason"] in ("node_lost", "timeout")
        assert time.monotonic() - killed_at < 8 + 0.2 + 1.0
        assert offline["reason"] == "node_lost"  # found dead (3 s) before its leases expired (8 s)
    finally:
        for c in clients:
            await c.disconnect()
        for p in (doomed, survivor):
            if p.poll() is None:
                p.terminate()
                p.wait(10)


def test_nodes_started_together_on_a_fresh_database_migrate_once(tmp_path: Path) -> None:
    """Three `presence db upgrade` at the same moment on an empty PostgreSQL database:
    all succeed, the schema is applied once (an advisory lock serializes them)."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, skip_unless_required

    if not POSTGRES_URL:
        skip_unless_required("PostgreSQL not configured: set PRESENCE_TEST_POSTGRES_URL")
    admin = make_url(POSTGRES_URL)
    name = f"presence_mig_{uuid.uuid4().hex[:8]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
        env["PRESENCE_DATABASE_URL"] = admin.set(database=name).render_as_string(hide_password=False)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "presence.cli", "db", "upgrade"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=60)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        with psycopg.connect(
            admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
        ) as conn:
            versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert len(versions) == 1
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_health_reports_redis(two_nodes: tuple[Server, Server]) -> None:
    a, _ = two_nodes
    status, body = await a.request("GET", "/api/health", role=None)
    assert status == 200 and body["redis"] == "ok" and body["status"] == "ok"


async def test_check_offline_users_tells_admins_through_redis(
    make_server: Any, redis_settings: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """The CLI sweep runs outside the server, yet admins' sockets hear `user:offline`."""
    server = await make_server(**redis_settings, user_offline_after=0.5, user_sweep_every=3600, user_touch_throttle=0.1)
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    status, _ = await server.request("POST", "/api/users/heartbeat/", role="user", sub="quiet", company="co-1")
    assert status == 200
    await asyncio.sleep(0.6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(
        PRESENCE_DATABASE_URL=database_url,
        PRESENCE_REDIS_URL=redis_settings["redis_url"],
        PRESENCE_REDIS_PREFIX=redis_settings["redis_prefix"],
        PRESENCE_USER_OFFLINE_AFTER="0.5",
        PRESENCE_USER_TOUCH_THROTTLE="0.1",
        PRESENCE_JWT_SECRET=SECRET,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "presence.cli",
        "check-offline-users",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert out.decode().strip().splitlines()[-1] == "2 users went offline"  # quiet, and boss (silent too)
    while (event := await admin.next("user:offline"))["user_id"] != "quiet":
        pass
    assert event["last_seen"].endswith("Z")


async def test_a_node_taken_for_dead_claims_its_live_sockets_back(two_nodes: tuple[Server, Server]) -> None:
    """A stalled node is forgotten by the other (agents hear node_lost); as soon as it
    runs again it binds its live sockets back, so the customer is online again."""
    a, b = two_nodes
    await a.conversation("c1")
    _, agent = await b.agent("c1")
    widget, _ = await a.widget("c1")
    await agent.next("customer:online")
    node_a = a.app[RUNTIME].node_id
    await b.app[RUNTIME].store.forget_node(node_a, a.settings.widget_sweep_every)  # as b's sweep would
    assert (await agent.next("customer:offline"))["reason"] == "node_lost"
    back = await agent.next("customer:online")  # a's keepalive noticed and claimed the socket back
    assert back["devices"] == 1
    assert (await widget.call("widget:heartbeat", ids("c1")))["ok"] is True
    assert (await snapshot(b, "c1"))["socketsInRoom"] == 2
