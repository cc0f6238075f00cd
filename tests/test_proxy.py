"""Behind a real proxy: Debian's nginx with the repository's site file
(deploy/nginx/presence.conf) in front of three `presence serve` nodes sharing
the test database and Redis. A widget and an agent talk only to nginx; the
node holding them is SIGKILLed, and both come back through nginx to another
node on their own, the customer online again on one device. The per-IP limit
counts the client's address that nginx passes on, not nginx's."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from domain.identity import TokenCodec
from tests.conftest import SECRET
from tests.process_support import Client, Nginx, Node, node_env, sockets_connected, start_nodes, stop_all

IDS = {"conversationId": "c1", "sessionId": "s-c1"}
TOKENS = TokenCodec(SECRET)
FIGURES: dict[str, float] = {}


@contextlib.contextmanager
def proxied_cluster(
    tmp_path: Path, database_url: str, redis_settings: dict[str, str]
) -> Iterator[tuple[Nginx, list[Node]]]:
    env = node_env(
        database_url,
        PRESENCE_REDIS_URL=redis_settings["redis_url"],
        PRESENCE_REDIS_PREFIX=redis_settings["redis_prefix"],
        PRESENCE_WIDGET_HEARTBEAT_INTERVAL="1",
        PRESENCE_WIDGET_OFFLINE_AFTER="8",
        PRESENCE_WIDGET_OFFLINE_GRACE="0.5",
        PRESENCE_WIDGET_SWEEP_EVERY="0.2",
        PRESENCE_TRUSTED_PROXIES="127.0.0.1",
        PRESENCE_MAX_CONNECTIONS_PER_IP="2",
    )
    nodes = start_nodes(tmp_path, env, 3)
    nginx: Nginx | None = None
    try:
        (tmp_path / "nginx").mkdir()
        nginx = Nginx(tmp_path / "nginx", [n.port for n in nodes])
        yield nginx, nodes
    finally:
        if nginx is not None:
            nginx.stop()
        stop_all(nodes)


@pytest.fixture
def proxied(tmp_path: Path, database_url: str, redis_settings: dict[str, str]) -> Iterator[tuple[Nginx, list[Node]]]:
    with proxied_cluster(tmp_path, database_url, redis_settings) as cluster:
        yield cluster


@pytest.fixture
def proxied_sqlite(
    tmp_path: Path, sqlite_template: Path, redis_settings: dict[str, str]
) -> Iterator[tuple[Nginx, list[Node]]]:
    """The same on SQLite only: what the per-IP check needs is nginx, not the database."""
    shutil.copy(sqlite_template, tmp_path / "presence.db")
    with proxied_cluster(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'presence.db'}", redis_settings) as cluster:
        yield cluster


async def rest(url: str, method: str, path: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw) as r,
    ):
        return r.status, await r.json(content_type=None)


async def test_a_widget_comes_back_through_nginx_when_its_node_is_killed(proxied: tuple[Nginx, list[Node]]) -> None:
    nginx, nodes = proxied
    service, agent_token = TOKENS.encode("svc", "service"), TOKENS.encode("ag", "agent", "co-1")
    status, body = await rest(
        nginx.url, "PUT", "/api/conversations/c1", service, json={"companyId": "co-1", "platform": "WIDGET", **IDS}
    )
    assert status == 201, body

    agent = Client("conversation:join", {"conversationId": "c1"}, token=agent_token)
    widget = Client("widget:online", IDS, heartbeat="widget:heartbeat")
    try:
        counts = [await sockets_connected(n.url) for n in nodes]
        await agent.connect(nginx.url, transports=["websocket"])
        assert (await agent.next_ack())[1]["ok"] is True
        with_agent = [await sockets_connected(n.url) for n in nodes]
        # The widget on long-polling: every poll must reach the node holding its session (sticky).
        await widget.connect(nginx.url, transports=["polling"])
        assert (await widget.next_ack())[1]["ok"] is True
        await agent.log.next("customer:online")
        with_widget = [await sockets_connected(n.url) for n in nodes]
        holder = next(n for n, b, a in zip(nodes, with_agent, with_widget, strict=True) if a == b + 1)
        agent_node = next(n for n, b, a in zip(nodes, counts, with_agent, strict=True) if a == b + 1)

        holder.kill()
        killed_at = time.monotonic()
        online_at, _ = await widget.next_ok(timeout=20)  # reconnected through nginx, said widget:online again
        if agent_node is holder:  # one client address: nginx sent both to the same node
            await agent.next_ok(timeout=20)  # the agent came back too and joined again
        # The dead node's lease is dropped (node_lost, found by its stale keepalive): one device left.
        deadline = time.monotonic() + 20
        while True:
            status, snap = await rest(nginx.url, "GET", "/api/widget/presence?conversationId=c1", agent_token)
            assert status == 200, snap
            if snap["devices"] == 1:
                break
            assert time.monotonic() < deadline, snap
            await asyncio.sleep(0.1)
        settled_at = time.monotonic()
        assert snap["isOnline"] is True
        survivors = [n for n in nodes if n is not holder]
        left = [await sockets_connected(n.url) for n in survivors]
        assert sum(left) == 2, left  # the widget and the agent, both on surviving nodes now
        told = [name for name, _ in agent.log.events if name in ("customer:online", "customer:offline")]
        assert told[-1] == "customer:online", told  # the agent's last word agrees with the snapshot
        FIGURES["kill_to_widget_online_s"] = online_at - killed_at
        FIGURES["kill_to_one_device_s"] = settled_at - killed_at
        print(f"\nproxy figures: {FIGURES}")
    finally:
        await widget.close()
        await agent.close()


async def test_the_per_ip_limit_sees_the_client_address_nginx_passes_on(
    proxied_sqlite: tuple[Nginx, list[Node]],
) -> None:
    """PRESENCE_MAX_CONNECTIONS_PER_IP=2 on every node; every socket reaches the same node
    (one client address, hashed), and X-Forwarded-For (nginx appends the peer) is believed
    because nginx is 127.0.0.1, a trusted proxy."""
    nginx, _ = proxied_sqlite
    clients: list[socketio.AsyncClient] = []
    told: list[Any] = []

    async def open_socket(forwarded_for: str | None) -> None:
        client = socketio.AsyncClient(reconnection=False)
        client.on("connect_error", told.append)
        clients.append(client)
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        await client.connect(nginx.url, headers=headers, transports=["websocket"], wait_timeout=10)

    try:
        await open_socket("203.0.113.7")
        await open_socket("203.0.113.7")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await open_socket("203.0.113.7")
        assert told == [{"message": "Too many connections from this address"}]
        await open_socket("203.0.113.8")  # another client behind the same nginx: its own allowance
        await open_socket(None)  # and nginx's own peer address (127.0.0.1) is a third
    finally:
        for c in clients:
            if c.connected:
                await c.disconnect()
            elif c.eio.http is not None:  # a refused handshake leaves the client's HTTP session open
                await c.eio.http.close()
