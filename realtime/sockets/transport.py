"""Socket.IO transport tuning for many small messages on a small box.

- No permessage-deflate on WebSockets: presence messages are ~100 bytes, so
  compression saves nothing on the wire, while each connection would keep two
  zlib contexts (about 100 KB of memory per socket) and burn CPU per frame.
  aiohttp accepts deflate whenever the client offers it (browsers always do),
  so the offer is removed from the upgrade request before engine.io sees it.
- JSON through orjson, which python-socketio accepts as its `json` module.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

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
