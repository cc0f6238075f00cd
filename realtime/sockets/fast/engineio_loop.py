"""python-engineio's WebSocket loop without its per-message machinery, and with
no socket able to hold up another.

Stock python-engineio 4.15 (`AsyncSocket._websocket_handler`) spends, per
received message, a task (`ensure_future(websocket_wait())`) and a `wait_for`
with its timer; per sent packet, a queue put, a wake-up of the socket's writer
task and another `wait_for(queue.get())`; per socket, a writer task and a
sleeping ping task for as long as it lives. Once `install()`ed:

- the WebSocket loop reads with aiohttp's `WebSocketResponse.receive()`
  directly and hands a Socket.IO message (`4` + a digit) straight to the
  server's `message` handler (what `receive()` -> `_trigger_event` does);
- once the WebSocket is established (from the start, or after a polling
  upgrade, once the queue is flushed), `send()` writes the frame itself,
  synchronously (`WebSocketWriter._write_websocket_frame`: an uncompressed
  frame is a `transport.write`), so frames keep the order `send()` was called
  in and no writer task exists;
- **a send never waits for the peer.** aiohttp's own `send_str` awaits the
  transport's drain once its buffer passes a limit, so one frozen tab (TCP
  window full) would hold up whoever sends to it: the feed to agents and every
  agent after it in a room. Here the frame is queued in the transport without
  waiting. A socket whose unsent bytes pass SEND_BUFFER_LIMIT (1 MiB, or
  PRESENCE_PERF_SEND_BUFFER) and are still past it SEND_STALL seconds later
  (2 s: a reader that is merely behind catches up in that time), or that ever
  holds more than SEND_BUFFER_HARD_LIMIT (16 MiB), has its transport aborted:
  the socket is closed (its `disconnect` handlers run as for any dropped
  socket) and its client reconnects and re-syncs from the join snapshot;
- a socket closed by the server (disconnect, ping timeout) closes its
  WebSocket too, so the reader ends at once (dead peers are found by the ping
  timeout, which the server's service task checks, as stock);
- the ping after each pong is a timer handle, not a sleeping task.

Polling sockets, and WebSocket sockets while they upgrade, take the stock code
paths (queue, writer) unchanged; so does a WebSocket with a compressed
extension (we strip permessage-deflate: realtime/sockets/transport.py).

After the flush, a direct socket's asyncio.Queue is replaced by a shared empty
stand-in (~3.2 KB per socket). `socketio_first_middleware()` (measure
`middleware`) lets Socket.IO requests skip the REST middlewares, whose frames
would otherwise live as long as each WebSocket (~2.5 KB per socket).

Pinned: python-engineio 4.15.x with aiohttp 3.14.x (pyproject.toml). Checked
with the official protocol suites (tests/test_protocol_suites.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from aiohttp import WSMsgType, hdrs, web
from aiohttp.typedefs import Handler, Middleware
from engineio import async_socket, exceptions, packet

from realtime.sockets.fast.versions import pinned

log = logging.getLogger("presence.perf")

SEND_BUFFER_LIMIT = int(os.environ.get("PRESENCE_PERF_SEND_BUFFER", str(1 << 20)))
"""Unsent bytes a WebSocket may hold in user space (past the kernel's buffers) for SEND_STALL seconds."""
SEND_BUFFER_HARD_LIMIT = 16 * SEND_BUFFER_LIMIT
"""Unsent bytes past which a WebSocket is closed at once (memory is at stake)."""
SEND_STALL = 2.0

_installed = False
_background: set[asyncio.Task[Any]] = set()
slow_closed = 0
"""Sockets closed because their peer stopped reading (for tests and the soak)."""


def _spawn(coro: Any) -> None:
    """Runs `coro` in the background, held by reference; a socket that closed meanwhile
    (SocketIsClosedError, a connection reset) is no error worth a traceback."""
    task = asyncio.ensure_future(_quietly(coro))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except (exceptions.SocketIsClosedError, ConnectionError, OSError):
        pass
    except Exception:
        log.exception("engine.io background send failed")


def _write(sock: Any, ws: Any, pkt: packet.Packet) -> bool:
    """Writes one packet's frame without waiting; False when the socket is gone or was closed
    for a full buffer."""
    resp = ws._sock
    writer = resp._writer
    encoded = pkt.encode()
    try:
        if type(encoded) is str:
            writer._write_websocket_frame(encoded.encode(), WSMsgType.TEXT, 0)
        else:
            writer._write_websocket_frame(encoded, WSMsgType.BINARY, 0)
    except Exception:
        # the peer is gone: the reader sees the close and ends the socket, as when stock's writer fails
        _detach(sock, ws)
        return False
    transport = writer.transport
    unsent = transport.get_write_buffer_size()
    if unsent > SEND_BUFFER_LIMIT:
        if unsent > SEND_BUFFER_HARD_LIMIT:
            _close_slow(sock, ws, unsent)
            return False
        if sock._fast_stall is None:
            sock._fast_stall = asyncio.get_running_loop().call_later(SEND_STALL, _stalled, sock, ws)
    return True


def _stalled(sock: Any, ws: Any) -> None:
    sock._fast_stall = None
    if sock._fast_ws is not ws:
        return
    unsent = ws._sock._writer.transport.get_write_buffer_size()
    if unsent > SEND_BUFFER_LIMIT:
        _close_slow(sock, ws, unsent)


def _close_slow(sock: Any, ws: Any, unsent: int) -> None:
    global slow_closed
    slow_closed += 1
    log.warning("socket %s stopped reading (%d bytes unsent): closing it; its client reconnects", sock.sid, unsent)
    sock._fast_ws = None
    # Drops the unsent bytes; the reader loop sees the connection lost and closes the engine.io socket.
    ws._sock._writer.transport.abort()


def _detach(sock: Any, ws: Any) -> None:
    if sock._fast_ws is ws:
        sock._fast_ws = None
        _spawn(ws.close())


def install() -> bool:
    global _installed
    if _installed:
        return True
    if not pinned("python-engineio", "aiohttp"):
        return False
    cls = async_socket.AsyncSocket
    stock_send, stock_close = cls.send, cls.close
    cls._fast_ws = None  # the engine.io WebSocket wrapper while frames are written directly
    cls._fast_stall = None  # the timer that checks a send buffer found past the bound

    async def send(self, pkt):  # type: ignore[no-untyped-def]
        ws = self._fast_ws
        if ws is None:
            return await stock_send(self, pkt)
        if self.closed:
            raise exceptions.SocketIsClosedError()
        last_ping = self.last_ping
        if last_ping and time.time() - last_ping > self.server.ping_timeout:
            await self.check_ping_timeout()  # closes the socket, as stock
            return
        if ws._sock._writer.compress:  # a negotiated deflate (not ours): aiohttp's own send
            try:
                await ws.send(pkt.encode())
            except Exception:
                _detach(self, ws)
            return
        _write(self, ws, pkt)

    async def close(self, wait=True, abort=False, reason=None):  # type: ignore[no-untyped-def]
        await stock_close(self, wait=wait, abort=abort, reason=reason)
        ws = self._fast_ws
        if ws is not None and self.closed:
            # Closed by the server (disconnect, ping timeout): the CLOSE packet is out; closing the
            # WebSocket ends the reader (stock waited for the peer, or for its read timeout).
            _detach(self, ws)

    def schedule_ping(self):  # type: ignore[no-untyped-def]
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, _ping_due, self)

    def _ping_due(self):  # type: ignore[no-untyped-def]
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            _spawn(self.send(packet.Packet(packet.PING)))

    async def _websocket_handler(self, ws):  # type: ignore[no-untyped-def]
        """Stock's upgrade handshake, then the direct loop."""
        server = self.server
        sock: web.WebSocketResponse = ws._sock
        max_size = server.max_http_buffer_size

        async def websocket_wait():  # type: ignore[no-untyped-def]
            data = await ws.wait()
            if data and len(data) > max_size:
                raise ValueError("packet is too large")
            return data

        if self.connected:
            # the socket was already connected (polling), so this is an upgrade: as stock
            self.upgrading = True
            try:
                pkt = await websocket_wait()
            except OSError:  # pragma: no cover
                return
            decoded_pkt = packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != packet.PING or decoded_pkt.data != "probe":
                server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # end poll
            try:
                pkt = await websocket_wait()
            except OSError:  # pragma: no cover
                self.upgrading = False
                return
            decoded_pkt = packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != packet.UPGRADE:
                self.upgraded = False
                server.logger.info(
                    "%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.", self.sid, pkt
                )
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        # Flush what was queued (the OPEN packet, packets sent during the upgrade), in order;
        # packets sent meanwhile are queued behind and flushed by this same loop.
        try:
            while not self.queue.empty():
                pkt = self.queue.get_nowait()
                self.queue.task_done()
                if pkt is None:
                    continue
                await ws.send(pkt.encode())
        except Exception:
            await ws.close()
            await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
            return
        self._fast_ws = ws  # no await since the queue was found empty: from here on, frames go direct
        self.queue = _NULL_QUEUE  # its asyncio.Queue (4 deques and an Event, ~3.2 KB) is never used again
        server.logger.info("%s: Upgrade to websocket successful", self.sid)

        handlers = server.handlers
        while True:
            try:
                msg = await sock.receive()
            except Exception:
                break
            data = msg.data
            if type(data) is not str and type(data) is not bytes:
                break  # closed, closing or error (stock's ws.wait() raises OSError here)
            if data and len(data) > max_size:
                break
            if (
                type(data) is str
                and len(data) > 1
                and data[0] == "4"
                and data[1].isnumeric()
                and not server.async_handlers
            ):
                # An engine.io MESSAGE whose payload stock keeps as the string data[1:]
                # (a Socket.IO packet): straight to the async message handler.
                handler = handlers.get("message")
                if handler is not None:
                    try:
                        await handler(self.sid, data[1:])
                    except asyncio.CancelledError:  # pragma: no cover
                        pass
                    except Exception:
                        server.logger.exception("message async handler error")
                    continue
            pkt = packet.Packet(encoded_packet=data)
            try:
                await self.receive(pkt)
            except exceptions.UnknownPacketError:  # pragma: no cover
                pass
            except exceptions.SocketIsClosedError:  # pragma: no cover
                server.logger.info("Receive error -- socket is closed")
                break
            except Exception:  # pragma: no cover
                server.logger.exception("Unknown receive error")

        self._fast_ws = None
        await ws.close()
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)

    cls.send = send
    cls.close = close
    cls.schedule_ping = schedule_ping
    cls._websocket_handler = _websocket_handler
    _installed = True
    return True


class _NullQueue:
    """Stands for a direct socket's queue: nothing waits in it. A packet that reaches it
    (sent after the WebSocket ended, while the socket closes) is dropped, as stock's
    writer, gone by then, would never have sent it."""

    async def put(self, item: Any) -> None:
        return None

    def put_nowait(self, item: Any) -> None:
        return None

    def get_nowait(self) -> Any:
        raise asyncio.QueueEmpty

    async def get(self) -> Any:
        raise asyncio.QueueEmpty

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    def task_done(self) -> None:
        return None

    async def join(self) -> None:
        return None


_NULL_QUEUE = _NullQueue()


def socketio_first_middleware(path: str = "/socket.io/") -> Middleware:
    """An outermost aiohttp middleware that sends Socket.IO requests straight to the engine.io
    handler: none of the REST middlewares acts on them (CORS and the policy skip /socket.io/,
    engine.io checks its own origins), yet each one's coroutine frame would live as long as the
    WebSocket (~2.5 KB per socket). Strips the permessage-deflate offer, as
    realtime.sockets.transport.no_websocket_deflate does."""

    @web.middleware
    async def socketio_first(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(path):
            if hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
                headers = request.headers.copy()
                del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
                request = request.clone(headers=headers)
            return await request.match_info.handler(request)
        return await handler(request)

    return socketio_first
