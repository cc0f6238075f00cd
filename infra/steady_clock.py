"""Wall-clock time that never jumps: the server's clock for every duration.

Leases, reload graces, throttles, sweeps, session timeouts and credit blocks are
all "how long since a time we wrote down". Measured on `time.time()`, an NTP step
(or an operator's `date -s`) of ten minutes forward would end every lease, grace
and block at once; ten minutes back would keep dead customers online for ten
minutes, and with several nodes, a node whose clock is off writes leases that the
others judge by their own clocks.

`SteadyClock` reads like `time.time()` (seconds since the epoch) but advances with
the monotonic clock, and follows its reference (the wall clock; with Redis the
Redis server's clock, which every node shares) only by slewing toward it at most
MAX_SLEW seconds per second. So:

- a step of the reference never shows as a step: any duration measured on this
  clock is within MAX_SLEW (1 %) of the real one, whatever the wall clock does
  (a 60 s lease lasts at least 59.4 s; a 1,800 s credit block at least 1,782 s);
- in normal running (NTP slews at most 0.05 %) it equals its reference exactly;
- after a step it converges on the new time, MAX_SLEW per second (a 10-minute
  correction is absorbed in under 17 hours; meanwhile reported times are off by
  what is left of it);
- with Redis, every node follows the same clock (Redis `TIME`, sampled with its
  round trip), so one node's wrong or stepped clock does not matter at all.

It never runs backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from domain.clock import Clock

MAX_SLEW = 0.01
"""At most this many seconds of correction per second of real time (1 %)."""


class SteadyClock:
    def __init__(
        self,
        reference: Clock = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        max_slew: float = MAX_SLEW,
    ) -> None:
        self._reference = reference
        self._mono = monotonic
        self._max_slew = max_slew
        m = monotonic()
        self._offset = reference() - m  # steady = monotonic + offset
        self._last_mono = m
        self._remote: tuple[float, float] | None = None  # (remote time, monotonic at that moment)

    def __call__(self) -> float:
        m = self._mono()
        target = self._target(m)
        delta = target - self._offset
        if delta:
            # Between any two readings the offset moves at most max_slew times the
            # real time between them, so every measured duration is within max_slew.
            allowed = max(0.0, m - self._last_mono) * self._max_slew
            self._offset += max(-allowed, min(allowed, delta))
        self._last_mono = max(self._last_mono, m)
        return m + self._offset

    def _target(self, m: float) -> float:
        """The offset the reference asks for now."""
        if self._remote is not None:
            remote, at = self._remote
            return remote - at
        return self._reference() - m

    def observe(self, remote: float, at_monotonic: float, step: bool = False) -> None:
        """A reading of the shared reference clock (Redis `TIME`) taken at `at_monotonic`;
        from now on it is followed instead of the local wall clock. `step`: adopt it at
        once (at start, before anything was timed), else slew toward it."""
        self._remote = (remote, at_monotonic)
        if step:
            self._offset = remote - at_monotonic
            self._last_mono = self._mono()

    @property
    def behind(self) -> float:
        """Seconds this clock is behind its reference (negative: ahead); what slewing has left to do."""
        m = self._mono()
        return self._target(m) - self._offset
