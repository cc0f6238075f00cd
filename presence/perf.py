"""The `# perf:` hook of the composition root: process and transport measures of issue 10.

`install(app, sio)` is called once from `create_app`, right after `sio.attach(app)`.
What is on is decided by PRESENCE_PERF (infra/perf.py: unset = every measure,
`none` = stock python-socketio behaviour, `-name` = all but one); figures are in
bench/NOTES.md and the README's "Performance" section.

- gc: thresholds now, `gc.freeze()` once start-up is over (infra/gc_tuning.py);
- eio, emit, rooms, middleware: realtime/sockets/fast/;
- environ: once a socket's Socket.IO connect handler has run, its WSGI-style environ is
  emptied but for the keys engine.io still reads (~2 KB a socket: engine.io's request
  frames and python-socketio keep the dict for the socket's lifetime; nothing of ours
  reads it after connect);
- PRESENCE_PERF_WEBSOCKET_ONLY=1 (set by `presence serve --workers N`, N > 1): the
  WebSocket transport only, since long-polling requests may reach another worker;
- PRESENCE_PERF_TRACEMALLOC=FRAMES (bench/memory.py only): tracemalloc snapshots on SIGUSR1;
- PRESENCE_PERF_STATS_FILE=PATH (bench/soak.py only): on SIGUSR2, the live asyncio tasks and
  sockets of this process are written to PATH as JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import tracemalloc
from pathlib import Path

import socketio
from aiohttp import web

from infra import gc_tuning, perf
from realtime.sockets import fast

log = logging.getLogger("presence.perf")

WEBSOCKET_ONLY_ENV = "PRESENCE_PERF_WEBSOCKET_ONLY"


def install(app: web.Application, sio: socketio.AsyncServer) -> None:
    on = perf.enabled_set()
    if "gc" in on:
        gc_tuning.configure()

        async def freeze(_app: web.Application) -> None:
            gc_tuning.freeze()

        app.on_startup.append(freeze)
    installed = fast.install(sio, app, on)
    if "environ" in on:

        async def trim_after_connect(_app: web.Application) -> None:  # the gateway has registered by now
            fast.trim_environ_after_connect(sio)

        app.on_startup.append(trim_after_connect)
    if os.environ.get(WEBSOCKET_ONLY_ENV) == "1":
        sio.eio.transports = ["websocket"]
    if os.environ.get("PRESENCE_PERF_TRACEMALLOC"):
        _tracemalloc_on_signal(app)
    if os.environ.get("PRESENCE_PERF_STATS_FILE"):
        _stats_on_signal(app, sio, Path(os.environ["PRESENCE_PERF_STATS_FILE"]))
    log.debug("perf measures: %s", ", ".join(sorted(on)) or "none (stock)")
    if on and set(installed) != on & {"eio", "emit", "rooms", "middleware"}:
        log.warning("perf: some transport measures were not installed (versions not pinned): %s", installed)


def _tracemalloc_on_signal(app: web.Application) -> None:
    """Where a socket's bytes go (bench/memory.py, not production): PRESENCE_PERF_TRACEMALLOC=FRAMES
    starts tracemalloc (it slows the server several times, so RSS figures come from runs without
    it); each SIGUSR1 collects garbage and dumps PRESENCE_PERF_TRACEMALLOC_DIR/snap-<n>.pickle."""
    frames = int(os.environ.get("PRESENCE_PERF_TRACEMALLOC", "0") or 0)
    if frames <= 0:
        return
    tracemalloc.start(frames)
    folder = Path(os.environ.get("PRESENCE_PERF_TRACEMALLOC_DIR", "."))
    taken = [0]

    def dump() -> None:
        gc.collect()
        tracemalloc.take_snapshot().dump(str(folder / f"snap-{taken[0]}.pickle"))
        (folder / f"snap-{taken[0]}.done").write_text("ok\n")
        taken[0] += 1

    async def on_startup(_app: web.Application) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)

    app.on_startup.append(on_startup)


def _stats_on_signal(app: web.Application, sio: socketio.AsyncServer, path: Path) -> None:
    """What bench/soak.py checks for leaks: tasks and sockets alive now (SIGUSR2)."""

    def dump() -> None:
        gc.collect()
        tasks = asyncio.all_tasks()
        names: dict[str, int] = {}
        for t in tasks:
            name = t.get_coro().__qualname__ if t.get_coro() is not None else "?"  # type: ignore[union-attr]
            names[name] = names.get(name, 0) + 1
        stats = {"tasks": len(tasks), "task_kinds": names, "engineio_sockets": len(sio.eio.sockets)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        tmp.replace(path)

    async def on_startup(_app: web.Application) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump)

    app.on_startup.append(on_startup)
