"""Time as the domain sees it: seconds since the epoch, from an injectable clock."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns the current time in seconds since the epoch (UTC). `time.time` in production."""

system_clock: Clock = time.time


def iso(ts: float | None) -> str | None:
    """`2026-11-23T09:30:00.000Z`: the one time format on the wire (SPEC.md §2)."""
    if ts is None:
        return None
    ms = round(ts * 1000)  # one rounding for seconds and milliseconds alike
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}{millis:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    """`2026-11-23T09:30:00.` for a whole second. Every event of a busy second shares
    it, and formatting a datetime was a measurable share of a heartbeat's cost."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def iso_dt(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return iso(dt.timestamp())


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
