"""Below python-socketio's public API: the transport measures of issue 10.

Each module changes methods of a pinned python-engineio / python-socketio
(pyproject.toml pins the versions; on another version `install()` refuses and
the stock code runs). `install(sio, app, on)` is the one call from the
composition root; the official protocol suites check them together through
`realtime.sockets.fast.preload` (tests/test_protocol_suites.py).
"""

from __future__ import annotations

from collections.abc import Collection

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
