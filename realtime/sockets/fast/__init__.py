"""Below python-socketio's public API: the transport measures of issue 10.

Each module changes methods of a pinned python-engineio / python-socketio
(pyproject.toml pins the versions; on another version `install()` refuses and
the stock code runs). `install(sio, app, on)` is the one call from the
composition root; the official protocol suites check them together through
`realtime.sockets.fast.preload` (tests/test_protocol_suites.py).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import socketio
from aiohttp import web

from realtime.sockets.fast import emit, engineio_loop, rooms


def install(sio: socketio.AsyncServer, app: web.Application, on: Collection[str]) -> list[str]:
    """Installs the enabled measures (names of infra.perf); returns those installed."""
    done: list[str] = []
    if "eio" in on and engineio_loop.install():
        done.append("eio")
    if "middleware" in on:
        app.middlewares.insert(0, engineio_loop.socketio_first_middleware())
        done.append("middleware")
    if "rooms" in on and rooms.install():
        done.append("rooms")
    if "emit" in on and emit.install():
        done.append("emit")
    return done


ENVIRON_KEPT = ("REQUEST_METHOD", "PATH_INFO", "HTTP_ORIGIN", "HTTP_ACCEPT_ENCODING", "aiohttp.request")
"""What engine.io reads of a request's environ after the socket's connect (its response, CORS)."""


def trim_environ_after_connect(sio: socketio.AsyncServer, namespace: str = "/") -> None:
    """Wraps the namespace's connect handler: once it has run, the environ it was given is
    emptied but for ENVIRON_KEPT. `clear()` frees the dict's table and the header-key strings
    (deleting keys one by one would not shrink the table); the dict object itself stays, as
    engine.io's request frames hold it for the socket's lifetime."""
    handlers = sio.handlers.get(namespace, {})
    connect = handlers.get("connect")
    if connect is None or getattr(connect, "_trims_environ", False):
        return

    async def connect_then_trim(sid: str, environ: dict[str, Any], auth: Any = None) -> Any:
        try:
            return await connect(sid, environ, auth)
        finally:
            kept = {k: environ[k] for k in ENVIRON_KEPT if k in environ}
            environ.clear()
            environ.update(kept)

    connect_then_trim._trims_environ = True  # type: ignore[attr-defined]
    handlers["connect"] = connect_then_trim
