"""Socket.IO transport settings that keep thousands of sockets cheap."""

from __future__ import annotations

import aiohttp

from tests.conftest import Server


async def test_websockets_do_not_negotiate_deflate(server: Server) -> None:
    """Browsers offer permessage-deflate; the server declines it (≈100 KB saved per socket)."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket", compress=15) as ws,
    ):
        assert ws.compress == 0
        assert "Sec-WebSocket-Extensions" not in ws._response.headers
        opening = await ws.receive_str()
        assert opening.startswith("0{")  # engine.io open packet: the socket works without it


async def test_events_still_round_trip_as_json(server: Server) -> None:
    await server.conversation("c1", customer_name="Zoë ✓")
    _, agent = await server.agent("c1")
    await server.widget("c1")
    online = await agent.next("customer:online")
    assert online["conversationId"] == "c1" and online["devices"] == 1
