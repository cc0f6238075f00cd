"""Limits (issue 12): connections per client address, Socket.IO message size,
CORS origins, and the headers browsers expect."""

from __future__ import annotations

import aiohttp
import pytest
import socketio

from domain.client_address import client_address, parse_networks
from infra.settings import Settings, SettingsError
from tests.conftest import Server


def test_the_client_address_is_believed_only_from_trusted_proxies() -> None:
    local = parse_networks("127.0.0.1, 10.0.0.0/8")
    assert client_address("203.0.113.9", "1.2.3.4", local) == "203.0.113.9"  # untrusted peer: header ignored
    assert client_address("127.0.0.1", "1.2.3.4", local) == "1.2.3.4"
    assert client_address("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.7", local) == "1.2.3.4"  # spoofed first hop
    assert client_address("127.0.0.1", None, local) == "127.0.0.1"
    assert client_address("127.0.0.1", "1.2.3.4", []) == "127.0.0.1"
    with pytest.raises(ValueError, match="'nope' is not an IP"):
        parse_networks("127.0.0.1, nope")
    with pytest.raises(SettingsError, match="PRESENCE_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/33").validate()
    with pytest.raises(SettingsError, match="PRESENCE_ALLOWED_ORIGINS"):
        Settings(allowed_origins="https://app.example.com/path").validate()


async def connect(server: Server, forwarded_for: str | None = None) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    await client.connect(server.url, headers=headers, transports=["websocket"], wait_timeout=5)
    return client


async def test_connections_per_address_are_limited_behind_a_trusted_proxy(make_server) -> None:
    server = await make_server(max_connections_per_ip=2, trusted_proxies="127.0.0.1")
    held = [await connect(server, "198.51.100.1"), await connect(server, "198.51.100.1")]
    told: list[dict[str, str]] = []
    third = socketio.AsyncClient(reconnection=False)
    third.on("connect_error", lambda data: told.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await third.connect(
            server.url, headers={"X-Forwarded-For": "198.51.100.1"}, transports=["websocket"], wait_timeout=5
        )
    assert told == [{"message": "Too many connections from this address"}]
    other = await connect(server, "198.51.100.2")  # another client behind the same proxy is fine
    await held[0].disconnect()
    again = await connect(server, "198.51.100.1")  # a slot freed by a disconnect is usable again
    for c in (held[1], other, again):
        await c.disconnect()


async def test_an_untrusted_peer_cannot_spread_itself_over_made_up_addresses(make_server) -> None:
    server = await make_server(max_connections_per_ip=1)  # no trusted proxies
    first = await connect(server, "198.51.100.1")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(server, "198.51.100.2")  # the header is ignored: it is still 127.0.0.1
    await first.disconnect()


async def test_a_socket_message_over_64_kib_closes_that_socket_only(server: Server) -> None:
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    big, big_log = await server.socket()
    await big.emit("widget:online", {"conversationId": "c1", "sessionId": "x" * 70_000})
    await big_log.disconnected()
    widget, _ = await server.widget("c1")  # everyone else is unaffected
    assert (await agent.next("customer:online"))["devices"] == 1
    assert (await widget.call("widget:heartbeat", {"conversationId": "c1", "sessionId": "s-c1"}))["ok"] is True


async def test_pages_and_answers_carry_the_headers_browsers_expect(server: Server) -> None:
    async with server.http.get("/demo/agent") as page:
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'self'" in csp
        assert "http" not in csp  # no outside origin is allowed anywhere
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    async with server.http.get("/api/health") as answer:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    async with server.http.get("/no/such/path") as missing:
        assert missing.status == 404 and missing.headers["X-Content-Type-Options"] == "nosniff"


async def test_allowed_origins_for_the_api_and_the_socket(make_server) -> None:
    server = await make_server(allowed_origins="https://shop.example.com")
    preflight = {"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"}
    async with server.http.options("/api/users/heartbeat/", headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    evil = {"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"}
    async with server.http.options("/api/users/heartbeat/", headers=evil) as resp:
        assert resp.status == 403 and "not allowed" in (await resp.json())["error"]
    async with server.http.get("/api/health", headers={"Origin": "https://evil.example.net"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
    # The socket: a page of another origin cannot connect; a listed one can.
    refused = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(
            server.url, headers={"Origin": "https://evil.example.net"}, transports=["websocket"], wait_timeout=5
        )
    if refused.eio.http is not None:  # the refused handshake leaves the client's HTTP session open
        await refused.eio.http.close()
    ok = socketio.AsyncClient(reconnection=False)
    await ok.connect(server.url, headers={"Origin": "https://shop.example.com"}, transports=["websocket"])
    await ok.disconnect()
    # Any origin by default.
    default = await make_server()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{default.url}/api/health", headers={"Origin": "https://anything.example"}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
