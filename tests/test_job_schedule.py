"""The job runner's schedule: periods on the event loop's monotonic clock, and a
shutdown that ends even when a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
import itertools
import time

from infra.jobs import JobRunner
from infra.metrics import Metrics


class SwallowingLock:
    """A cluster lock whose client turns a cancellation into an ordinary answer, as
    redis-py can inside some of its waits."""

    def __init__(self) -> None:
        self.asked = 0
        self.thrice = asyncio.Event()

    async def acquire(self, job: str, period: float) -> bool:
        self.asked += 1
        if self.asked >= 3:
            self.thrice.set()
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            return False  # swallowed: the caller never sees it
        return False

    async def extend(self, job: str, period: float) -> bool:
        return True


async def test_shutdown_ends_even_if_the_lock_swallows_the_cancellation() -> None:
    lock = SwallowingLock()
    jobs = JobRunner(time.time, Metrics(), lock)

    async def never() -> int:
        raise AssertionError("the lock is never taken")

    jobs.add("probe", 0.02, never)
    jobs.start()
    await asyncio.wait_for(lock.thrice.wait(), 5)
    async with asyncio.timeout(2):  # it used to ask again and again, and shutdown waited forever
        await jobs.shutdown()
    asked = lock.asked
    await asyncio.sleep(0.1)
    assert lock.asked == asked  # and it stopped asking


async def test_periods_follow_the_monotonic_clock_not_the_wall_clock() -> None:
    """The wall clock steps ten minutes back after the first run: the next runs come
    on time all the same (APScheduler, used before, waited the ten minutes out)."""
    wall = [time.time()]
    runs: list[float] = []
    five = asyncio.Event()

    async def job() -> int:
        runs.append(time.monotonic())
        if len(runs) == 1:
            wall[0] -= 600
        if len(runs) == 5:
            five.set()
        return 0

    jobs = JobRunner(lambda: wall[0], Metrics())
    jobs.add("probe", 0.05, job)
    jobs.start()
    try:
        await asyncio.wait_for(five.wait(), 5)
    finally:
        await jobs.shutdown()
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(gap < 1.0 for gap in gaps), gaps
