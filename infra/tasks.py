"""Background tasks held by reference (so they are not garbage-collected) and
cancelled together on shutdown: no fire-and-forget `create_task`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("presence.tasks")


def cancelling() -> bool:
    """True when the current task has been asked to stop. A library may turn a
    cancellation into an error of its own (redis-py does, inside some waits), so a
    loop that catches errors and goes on must ask this, or it would never stop:
    `except Exception: if cancelling(): raise asyncio.CancelledError from None`."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def later(
        self, delay: float, make: Callable[[], Coroutine[Any, Any, Any]], name: str | None = None
    ) -> asyncio.TimerHandle:
        """Runs `make()` after `delay` seconds. A timer handle until then (a few
        hundred bytes, so one per socket is cheap), a task only once it fires;
        `cancel(handle)` forgets it."""
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.spawn(make(), name)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)
        return handle

    def cancel(self, handle: asyncio.TimerHandle) -> None:
        handle.cancel()
        self._timers.discard(handle)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
