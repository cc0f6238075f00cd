"""The job runner (infra/jobs.py): a run started by hand belongs to the runner,
not to the request or command that started it."""

from __future__ import annotations

import asyncio

import pytest

from infra.jobs import JobInterrupted, JobRunner
from infra.metrics import Metrics


def runner() -> JobRunner:
    return JobRunner(lambda: 1_000_000.0, Metrics())


async def test_shutting_down_stops_the_job_but_never_cancels_its_caller() -> None:
    jobs = runner()
    started = asyncio.Event()

    async def slow() -> int:
        started.set()
        await asyncio.sleep(60)
        return 1

    jobs.add("slow", 0, slow)
    caller = asyncio.create_task(jobs.run("slow", reraise=True))
    await started.wait()
    await jobs.shutdown()
    with pytest.raises(JobInterrupted, match="shutting down"):
        await caller
    assert not caller.cancelled()  # it ended with a sentence, not a cancellation


async def test_a_caller_that_goes_away_leaves_the_job_to_finish_and_be_recorded() -> None:
    jobs = runner()
    release = asyncio.Event()

    async def job() -> int:
        await release.wait()
        return 7

    jobs.add("sweep", 0, job)
    caller = asyncio.create_task(jobs.run("sweep"))
    await asyncio.sleep(0)
    caller.cancel()  # the client hung up
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    await jobs.drained()
    assert (await jobs.statuses())["sweep"]["last_result"] == 7


async def test_a_failing_job_is_recorded_and_raised_only_when_asked() -> None:
    jobs = runner()

    async def broken() -> int:
        raise ValueError("no database")

    jobs.add("broken", 0, broken)
    assert await jobs.run("broken") is None
    assert (await jobs.statuses())["broken"]["last_result"] == {"error": "no database"}
    with pytest.raises(ValueError, match="no database"):
        await jobs.run("broken", reraise=True)
