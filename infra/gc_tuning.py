"""Python's cyclic garbage collector, tuned for a server holding many long-lived sockets.

The stock generation-0 threshold (700 net allocations) runs a young collection
every few heartbeats, and as tasks and futures in flight survive into older
generations, frequent full collections walk every socket's objects: at 1k
widgets that was half the server's time (bench/NOTES.md, "GC": 2.1x the
heartbeats per second with this alone).

- `configure()`: generation thresholds 50000,20,100 (PRESENCE_PERF_GC_THRESHOLD
  to change them for a measurement).
- `freeze()`, once start-up is over: everything imported and built until then
  (modules, SQLAlchemy metadata, the app) moves to the permanent generation,
  which no collection walks again (alone it buys nothing measurable; it keeps
  full collections cheaper as the heap grows, and lets forked workers share
  those pages).

What it assumes: the server makes little cyclic garbage that must be freed
promptly. Memory, not correctness, is at stake: a bigger young generation holds
at most threshold0 dead objects (a few MB).
"""

from __future__ import annotations

import gc
import logging
import os

log = logging.getLogger("presence.perf")

DEFAULT_THRESHOLD = (50_000, 20, 100)


def threshold() -> tuple[int, ...]:
    raw = os.environ.get("PRESENCE_PERF_GC_THRESHOLD")
    if not raw:
        return DEFAULT_THRESHOLD
    return tuple(int(x) for x in raw.split(","))


def configure() -> None:
    gc.set_threshold(*threshold())


_frozen = False


def freeze() -> None:
    """Once per process (a process serves one app; tests start many)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
    log.info("gc: %d start-up objects frozen, thresholds %s", gc.get_freeze_count(), gc.get_threshold())
