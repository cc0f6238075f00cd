"""Periodic jobs, with what each did last (for `/api/health`).

A job is an async function returning a short result (a count). Each runs every
period on the event loop's monotonic clock, so a step of the wall clock (NTP,
`date -s`) neither stalls the jobs (APScheduler, used before, waited out a
backward step: ten minutes back, ten minutes without sweeps) nor bunches them.
It never runs twice at once on a node, missed periods are coalesced, and
with Redis each period's run happens on one node only (`JobLock`). A run
started by hand (an admin or cron request, a CLI command) goes through `run`
too, so health reports it; its outcome is written to the `JobBook`, which
with Redis is shared, so every node reports the cluster's last run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from domain.clock import Clock, iso
from infra.cluster import JobBook, JobLock, LocalJobBook, LocalJobLock
from infra.metrics import Metrics
from infra.tasks import cancelling

log = logging.getLogger("presence.jobs")

Job = Callable[[], Awaitable[Any]]


class JobInterrupted(RuntimeError):
    """A job run by hand was stopped half-way because the server shuts down."""


class JobRunner:
    def __init__(
        self, clock: Clock, metrics: Metrics, lock: JobLock | None = None, book: JobBook | None = None
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._lock: JobLock = lock if lock is not None else LocalJobLock()
        self._book: JobBook = book if book is not None else LocalJobBook()
        self._jobs: dict[str, tuple[float, Job]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[Any]] = set()
        self._lock_failing: set[str] = set()

    def add(self, name: str, every: float, job: Job) -> None:
        """Runs `job` every `every` seconds once started (0 disables the period, not the job)."""
        self._jobs[name] = (every, job)

    @property
    def names(self) -> list[str]:
        return list(self._jobs)

    async def run(self, name: str, reraise: bool = False) -> Any:
        """Runs a job now (also what the scheduler calls), recording its outcome.
        A failure is logged and recorded; `reraise` also hands it to the caller
        (a command or a request that ran the job by hand), else the result is None.

        The job runs in a task of its own, tracked for shutdown; the caller only
        awaits it, so cancelling the caller (a client that hung up) never cancels
        the job half-way, and shutting down cancels the job, never the caller."""
        _, job = self._jobs[name]
        task = asyncio.create_task(self._record(name, job, reraise), name=f"job:{name}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and (caller is None or not caller.cancelling()):
                # The job was stopped by shutdown, not the caller: say so instead of
                # cancelling a request or command that did nothing wrong.
                raise JobInterrupted(f"job {name} was stopped: the server is shutting down") from None
            raise

    async def _record(self, name: str, job: Job, reraise: bool) -> Any:
        started = self._clock()
        try:
            result = await job()
        except Exception as e:
            if cancelling():
                raise asyncio.CancelledError from None
            self._metrics.sweeps.labels(name, "error").inc()
            log.exception("job %s failed", name)
            await self._write(name, started, {"error": str(e) or type(e).__name__})
            if reraise:
                raise
            return None
        self._metrics.sweeps.labels(name, "ok").inc()
        await self._write(name, started, result)
        return result

    async def _write(self, name: str, started: float, result: Any) -> None:
        try:
            await self._book.write(name, started, result)
        except Exception:
            log.warning("job %s: could not record its run", name, exc_info=True)

    async def statuses(self) -> dict[str, dict[str, Any]]:
        """`{job: {"last_run", "last_result"}}` for every job of this server, as the
        cluster last ran it (`last_run` null until some node has)."""
        runs = await self._book.read()
        out: dict[str, dict[str, Any]] = {}
        for name in self._jobs:
            last_run, last_result = runs.get(name, (None, None))
            out[name] = {"last_run": iso(last_run), "last_result": last_result}
        return out

    async def _scheduled(self, name: str) -> None:
        """A scheduled run: only on the node that holds this period's lock (§8)."""
        every, _ = self._jobs[name]
        try:
            mine = await self._lock.acquire(name, every)
        except Exception as e:
            if cancelling():
                raise asyncio.CancelledError from None
            # Logged once (and when it works again), not every period while Redis stays away.
            if name not in self._lock_failing:
                self._lock_failing.add(name)
                log.warning("job %s: could not take the cluster lock; skipping its periods until it can", name)
            else:
                log.debug("job %s: cluster lock still unavailable: %s", name, e)
            return
        if name in self._lock_failing:
            self._lock_failing.discard(name)
            log.warning("job %s: cluster lock available again", name)
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
            if cancelling():
                raise asyncio.CancelledError
            try:
                if not await self._lock.extend(name, every):
                    log.warning("job %s: lost its cluster lock during a long run", name)
                    return
            except Exception:
                if cancelling():
                    raise asyncio.CancelledError from None
                log.warning("job %s: could not extend its cluster lock", name, exc_info=True)

    def start(self) -> None:
        for name, (every, _) in self._jobs.items():
            if every > 0:
                self._loops.append(asyncio.create_task(self._every(name, every), name=f"every:{name}"))

    async def _every(self, name: str, every: float) -> None:
        """`_scheduled(name)` every `every` seconds of the loop's monotonic clock; a run
        longer than its period skips the periods it overran (one run at a time)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + every
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            if cancelling():  # asked to stop, whatever swallowed the cancellation meanwhile
                raise asyncio.CancelledError
            try:
                await self._scheduled(name)
            except Exception:  # _scheduled records failures itself; this keeps the loop alive
                if cancelling():
                    raise asyncio.CancelledError from None
                log.exception("job %s: scheduling failed", name)
            due += every
            now = loop.time()
            if due <= now:
                due += every * ((now - due) // every + 1)

    async def drained(self) -> None:
        """Waits for the runs in flight to finish (their outcomes recorded)."""
        await asyncio.gather(*list(self._running), return_exceptions=True)

    async def shutdown(self) -> None:
        """Stops the schedule, then cancels and awaits runs still in flight, so no
        job touches the database or the sockets after the app is torn down."""
        loops, self._loops = self._loops, []
        for t in loops:
            t.cancel()
        for t in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        running = list(self._running)
        for t in running:
            t.cancel()
        for t in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
