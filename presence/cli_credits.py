"""`presence monitor-credits [--run-once] [--verbose] [--check-interval SECONDS]` (§7).

The seed's `manage.py monitor_credits`, on the server's own builder
(`run_with_services`): with Redis, the notices of each pass reach the sellers'
and admins' sockets on every node, and the run is written to the shared job
book, so every node's /api/health reports it as the job `credit_monitor`.

Every pass, once or in the loop, goes through `services.jobs.run("credit_monitor")`,
the same entry the server's scheduler uses: health records it, and a pass that
fails is logged and recorded without ending the loop (the next interval tries
again); `--run-once` hands the failure on and exits 1. The loop does not take
the cluster's job lock: a pass running beside a server's monitor costs a few
more reads and charges nothing twice (each check locks its stream).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

from infra.settings import Settings
from presence.cli_activity import run_with_services
from services.registry import Services

JOB = "credit_monitor"


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("monitor-credits", help="the livestream credit monitor (§7): every interval, or once")
    p.add_argument("--run-once", action="store_true", help="one pass, then exit (1 if a stream could not be checked)")
    p.add_argument("--verbose", action="store_true", help="one line per stream looked at")
    p.add_argument(
        "--check-interval",
        type=_seconds,
        metavar="SECONDS",
        help="seconds between passes (default PRESENCE_STREAM_CHECK_EVERY, 300)",
    )


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {raw!r}")
    return value


def summary(totals: dict[str, int]) -> str:
    return (
        f"checked {totals['checked']} live streams: charged {totals['charged']} blocks, "
        f"warned {totals['warned']}, ended {totals['ended']}"
    )


def monitor_credits(args: argparse.Namespace, settings: Settings) -> int:
    interval = args.check_interval or settings.stream_check_every

    async def work(services: Services) -> int:
        if args.verbose:
            services.credits.watch(lambda check: print(check.line(), flush=True))
        if args.run_once:
            try:
                totals = await services.jobs.run(JOB, reraise=True)
            except Exception as e:
                print(f"presence monitor-credits: {e}", file=sys.stderr)
                return 1
            print(summary(totals), flush=True)
            return 0
        return await _loop(services, interval)

    return run_with_services(settings, work)


async def _loop(services: Services, interval: float) -> int:
    """A pass every `interval` seconds (measured from the start of each pass) until
    SIGINT or SIGTERM: they end the wait at once; a pass in progress is finished
    first, so no stream is left half-checked (each check is one unit of work anyway)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"monitoring livestream credits every {interval:g} s (Ctrl-C stops)", flush=True)
    try:
        while not stop.is_set():
            started = time.monotonic()
            totals = await services.jobs.run(JOB)  # a failure is logged and recorded, and we go on
            if totals is None:
                print(f"pass failed (see the log); next in {interval:g} s", flush=True)
            else:
                print(summary(totals), flush=True)
            wait = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print("monitor stopped", flush=True)
    return 0
