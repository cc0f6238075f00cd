"""The event loop `presence serve` runs on: uvloop when installed (`pip install 'presence[fast]'`)
and the `uvloop` measure is on (infra/perf.py), else asyncio's.

`--loop asyncio` keeps the stock loop, `--loop uvloop` requires uvloop. Nothing of ours
depends on asyncio's pure-Python loop internals (aiohttp, python-engineio, redis-py and the
SQLAlchemy drivers all support uvloop). Figures: bench/NOTES.md ("uvloop").
"""

from __future__ import annotations

import asyncio

from infra import perf


def new_loop(choice: str = "auto") -> tuple[asyncio.AbstractEventLoop, str]:
    """(a new event loop, its name) for `choice` in auto | uvloop | asyncio."""
    if choice == "auto" and not perf.enabled("uvloop"):
        choice = "asyncio"
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise SystemExit("presence: --loop uvloop needs uvloop (pip install 'presence[fast]')") from None
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"
