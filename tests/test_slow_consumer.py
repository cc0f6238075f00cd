"""A socket whose peer stops reading (a frozen tab, a full TCP window) never holds up
the feed to agents or the other sockets: sends do not wait for it, and once its unsent
bytes pass a bound the server closes it (its client reconnects and re-syncs from the
join snapshot). Needs the engine.io measure (realtime/sockets/fast/engineio_loop.py)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from urllib.parse import urlsplit

import orjson
import pytest

from domain.rooms import conversation_room
from infra import perf
from presence.app import RUNTIME
from realtime.sockets.fast import engineio_loop
from tests.conftest import Server
from tests.test_widget_presence import ids, snapshot

pytestmark = pytest.mark.skipif(not perf.enabled("eio"), reason="PRESENCE_PERF turns the engine.io measure off")


def frame(text: str) -> bytes:
    """A masked client text frame."""
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def read_frame(reader: asyncio.StreamReader) -> str:
    _b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return (await reader.readexactly(n)).decode()


async def frozen_agent(server: Server, conversation_id: str) -> tuple[asyncio.StreamWriter, str]:
    """An agent that joins over a raw WebSocket, then never reads again (tiny receive buffer)."""
    url = urlsplit(server.url)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (url.hostname, url.port))
    reader, writer = await asyncio.open_connection(sock=raw)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    assert (await read_frame(reader)).startswith("0{")  # engine.io OPEN
    token = server.token("agent-slow", "agent", "co-1")
    writer.write(frame("40" + orjson.dumps({"token": token}).decode()))
    connected = await read_frame(reader)
    assert connected.startswith("40{"), connected
    sid = orjson.loads(connected[2:])["sid"]
    writer.write(frame("421" + orjson.dumps(["conversation:join", {"conversationId": conversation_id}]).decode()))
    ack = await read_frame(reader)
    assert ack.startswith("431") and '"ok":true' in ack, ack
    return writer, sid


async def test_a_socket_that_stops_reading_is_closed_and_holds_up_no_one(server: Server) -> None:
    await server.conversation("c1")
    writer, slow_sid = await frozen_agent(server, "c1")
    _, good = await server.agent("c1")
    assert (await snapshot(server, "c1"))["socketsInRoom"] == 2
    broadcaster = server.app[RUNTIME].broadcaster
    closed_before = engineio_loop.slow_closed
    pad = "x" * 65536
    count = 300  # ~20 MB: more than the kernel's buffers and the bound together
    slowest = 0.0
    for i in range(count):
        started = time.perf_counter()
        await broadcaster.emit("customer:typing", {"conversationId": "c1", "n": i, "pad": pad}, conversation_room("c1"))
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0)  # the reading agent is in this process: let it read
    assert slowest < 0.5, f"an emit waited {slowest:.2f} s for a socket that stopped reading"
    # The agent that reads got every one, in order.
    got = [(await good.next("customer:typing", timeout=10))["n"] for _ in range(count)]
    assert got == list(range(count))
    # The frozen one was closed: it no longer counts in the room, and the feed goes on.
    async with asyncio.timeout(engineio_loop.SEND_STALL + 5):
        while (await snapshot(server, "c1"))["socketsInRoom"] != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert server.app[RUNTIME].services.connections.get(slow_sid) is None
    assert engineio_loop.slow_closed == closed_before + 1  # that one only
    widget, _ = await server.widget("c1")
    assert (await good.next("customer:online"))["devices"] == 1
    await widget.call("widget:heartbeat", ids("c1"))
    await good.next("customer:heartbeat")
    writer.close()


async def test_the_feed_is_not_held_up_by_a_frozen_agent(server: Server) -> None:
    """Customer events of one conversation reach its agents while a frozen agent of another
    conversation is being sent more than it reads (the feed sends one change at a time)."""
    await server.conversation("busy")
    await server.conversation("c2")
    writer, _ = await frozen_agent(server, "busy")
    _, good = await server.agent("c2")
    broadcaster = server.app[RUNTIME].broadcaster
    widget, _ = await server.widget("c2")
    await good.next("customer:online")
    pad = "y" * 65536

    async def flood() -> None:
        for i in range(200):
            payload = {"conversationId": "busy", "n": i, "pad": pad}
            await broadcaster.emit_local("customer:typing", payload, conversation_room("busy"))  # type: ignore[attr-defined]
            await asyncio.sleep(0)

    flooding = asyncio.create_task(flood())
    for _ in range(5):
        started = time.perf_counter()
        await widget.call("widget:heartbeat", ids("c2"))
        await good.next("customer:heartbeat", timeout=2)
        assert time.perf_counter() - started < 1.0
    await flooding
    writer.close()
