"""Socket.IO transport tuning for many small messages on a small box.

- No permessage-deflate on WebSockets: presence messages are ~100 bytes, so
  compression saves nothing on the wire, while each connection would keep two
  zlib contexts (about 100 KB of memory per socket) and burn CPU per frame.
  aiohttp accepts deflate whenever the client offers it (browsers always do),
  so the offer is removed from the upgrade request before engine.io sees it.
- JSON through orjson, which python-socketio accepts as its `json` module.
- A client that sends a packet that cannot be decoded is disconnected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import socketio
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

log = logging.getLogger("presence.realtime")

SOCKET_IO_PATH = "/socket.io/"


@web.middleware
async def no_websocket_deflate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers and request.path.startswith(SOCKET_IO_PATH):
        headers = request.headers.copy()
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    return await handler(request)


class FastJson:
    """The `dumps`/`loads` pair python-socketio calls, backed by orjson."""

    @staticmethod
    def dumps(obj: Any, **_kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_kwargs: Any) -> Any:
        return orjson.loads(data)


def disconnect_on_malformed(sio: socketio.AsyncServer, on_malformed: Callable[[], None] | None = None) -> None:
    """A client that sends a packet python-socketio cannot decode (truncated JSON,
    numbers JSON cannot hold, an unknown packet type) is disconnected, as the
    JavaScript server does, with one short log line: not a traceback per packet
    that a hostile page could repeat to flood the logs. Our own handlers never
    raise past the gateway, so what reaches here is the client's doing."""
    decode = sio._handle_eio_message  # python-socketio 5.x: the engine.io 'message' handler

    async def guarded(eio_sid: str, data: Any) -> None:
        try:
            await decode(eio_sid, data)
        except Exception as e:  # malformed input, by construction (see above)
            log.info("disconnecting %s: malformed packet (%s)", eio_sid, type(e).__name__)
            if on_malformed is not None:
                on_malformed()
            await sio.eio.disconnect(eio_sid)

    sio.eio.on("message", guarded)
