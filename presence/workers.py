"""`presence serve [--workers N] [--loop auto|uvloop|asyncio]`: N processes on one port (SPEC §1).

Each worker is a full node (its own node id, sockets and timers) and they act as one
through Redis (SPEC §8): presence in the Redis store, Socket.IO fan-out through
python-socketio's Redis manager, periodic jobs once per period across the cluster. So
N > 1 needs PRESENCE_REDIS_URL, and says so in a sentence instead of starting.

The port is shared with SO_REUSEPORT: the kernel spreads new connections over the
workers. A Socket.IO long-polling session makes several HTTP requests that must reach
the same worker, which SO_REUSEPORT does not promise, so with N > 1 the workers accept
the WebSocket transport only (said at start; clients that offer
`['websocket', 'polling']`, as widget_js does, connect over WebSocket).

Migrations run once, in the parent, before any worker starts (presence/cli.py). The
parent then freezes its heap (gc.freeze, so forked workers share the imported modules'
pages), forks the workers, forwards SIGTERM/SIGINT to them and restarts a worker that
dies (at most once a second); it exits when every worker has stopped.

Figures (2 workers vs 1 on a 2-core machine): bench/NOTES.md ("workers").
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time

from infra.settings import Settings

log = logging.getLogger("presence.cli")

WEBSOCKET_ONLY_ENV = "PRESENCE_PERF_WEBSOCKET_ONLY"


def refusal(workers: int, settings: Settings) -> str | None:
    """Why these settings cannot run `workers` processes, in a sentence; None when they can."""
    if workers < 1:
        return f"--workers must be 1 or more, got {workers}"
    if workers > 1 and not settings.redis_url:
        return (
            f"--workers {workers} needs PRESENCE_REDIS_URL: the workers are separate processes "
            "that share presence, rooms and jobs through Redis"
        )
    return None


def run_one(args: argparse.Namespace, settings: Settings, reuse_port: bool) -> int:
    from aiohttp import web

    from presence.app import create_app
    from presence.eventloop import new_loop

    loop, name = new_loop(getattr(args, "loop", "auto"))
    app = create_app(settings)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _msg: log.info(
            "serving on http://%s:%d (%s loop, pid %d)", args.host, args.port, name, os.getpid()
        ),
        access_log=None,
        shutdown_timeout=5,
        reuse_port=reuse_port or None,
        loop=loop,
    )
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the server in this process (N = 1) or in N forked workers; migrations are done."""
    n = getattr(args, "workers", 1) or 1
    if n <= 1:
        return run_one(args, settings, reuse_port=False)
    os.environ[WEBSOCKET_ONLY_ENV] = "1"
    log.info(
        "presence: %d workers on http://%s:%d sharing the port (SO_REUSEPORT) and state through Redis; "
        "WebSocket transport only (long-polling needs every request of a session on one process)",
        n,
        args.host,
        args.port,
    )
    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = run_one(args, settings, reuse_port=True)
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        children[pid] = index

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(n):
        spawn(i)
    last_restart = 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        if index is None or stopping:
            continue
        log.error("worker %d (pid %d) exited with status %s; restarting it", index, pid, status)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - last_restart)))
        last_restart = time.monotonic()
        spawn(index)
    sys.stdout.flush()
    return 0
