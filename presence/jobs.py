"""Periodic jobs on APScheduler, with what each did last (for `/api/health`).

A job is an async function returning a short result (a count). It never runs
twice at once on a node (`max_instances=1`), and missed runs are coalesced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from domain.clock import Clock, iso
from presence.cluster import JobLock, LocalJobLock
from presence.metrics import Metrics

log = logging.getLogger("presence.jobs")

Job = Callable[[], Awaitable[Any]]


@dataclass(slots=True)
class JobStatus:
    last_run: float | None = None
    last_result: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"last_run": iso(self.last_run), "last_result": self.last_result}


class JobRunner:
    def __init__(self, clock: Clock, metrics: Metrics, lock: JobLock | None = None) -> None:
        self._clock = clock
        self._metrics = metrics
        self._lock: JobLock = lock if lock is not None else LocalJobLock()
        self._jobs: dict[str, tuple[float, Job]] = {}
        self.status: dict[str, JobStatus] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()

    def add(self, name: str, every: float, job: Job) -> None:
        """Runs `job` every `every` seconds once started (0 disables the period, not the job)."""
        self._jobs[name] = (every, job)
        self.status[name] = JobStatus()

    async def run(self, name: str) -> Any:
        """Runs a job now (also what the scheduler calls), recording its outcome."""
        _, job = self._jobs[name]
        started = self._clock()
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            result = await job()
        except Exception as e:
            self._metrics.sweeps.labels(name, "error").inc()
            self.status[name] = JobStatus(started, {"error": str(e) or type(e).__name__})
            log.exception("job %s failed", name)
            return None
        finally:
            if task is not None:
                self._running.discard(task)
        self._metrics.sweeps.labels(name, "ok").inc()
        self.status[name] = JobStatus(started, result)
        return result

    async def _scheduled(self, name: str) -> None:
        """A scheduled run: only on the node that holds this period's lock (§8)."""
        every, _ = self._jobs[name]
        try:
            mine = await self._lock.acquire(name, every)
        except Exception:
            log.warning("job %s: could not take the cluster lock; skipping this period", name, exc_info=True)
            return
        if not mine:
            return
        keeper = asyncio.create_task(self._keep_holding(name, every), name=f"hold:{name}")
        try:
            await self.run(name)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep_holding(self, name: str, every: float) -> None:
        while True:
            await asyncio.sleep(every * 0.3)
            try:
                if not await self._lock.extend(name, every):
                    log.warning("job %s: lost its cluster lock during a long run", name)
                    return
            except Exception:
                log.warning("job %s: could not extend its cluster lock", name, exc_info=True)

    def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        for name, (every, _) in self._jobs.items():
            if every > 0:
                scheduler.add_job(
                    self._scheduled,
                    "interval",
                    args=[name],
                    seconds=every,
                    id=name,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=None,
                )
        scheduler.start()
        self._scheduler = scheduler

    async def shutdown(self) -> None:
        """Stops the schedule, then cancels and awaits runs still in flight, so no
        job touches the database or the sockets after the app is torn down."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        running = [t for t in self._running if t is not asyncio.current_task()]
        for t in running:
            t.cancel()
        for t in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
