"""GC pause probe for a benchmarked server: every garbage collection over 2 ms is
written (time, generation, ms, objects collected) to
`$PRESENCE_BENCH_GC_LOG/gc-<pid>.txt`, every 5 s and at exit.

Python imports `sitecustomize` at start-up from the path, so a relay variant loads
it without touching the server:

    python bench/relay.py -c 1000 --paced-rate 5000 --paced-duration 20 \\
        --variant "probe=PYTHONPATH=bench/gc_pauses PRESENCE_BENCH_GC_LOG=/tmp/gc"
"""

from __future__ import annotations

import atexit
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

_folder = Path(os.environ.get("PRESENCE_BENCH_GC_LOG", "/tmp"))
_started: list[float] = [0.0]
_pauses: list[tuple[float, int, float, int]] = []


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms > 2:
        _pauses.append((time.time(), info["generation"], round(ms, 1), info["collected"]))


def _write() -> None:
    _folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{at:.3f} gen{gen} {ms} ms collected {n}\n" for at, gen, ms, n in list(_pauses))
    (_folder / f"gc-{os.getpid()}.txt").write_text(lines)


def _every_5_s() -> None:
    while True:
        time.sleep(5)
        _write()


gc.callbacks.append(_on_gc)
atexit.register(_write)
threading.Thread(target=_every_5_s, name="gc-pauses", daemon=True).start()
