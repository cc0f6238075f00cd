"""Test helpers: awaiting Socket.IO events instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import socketio

DEFAULT_TIMEOUT = 5.0


class EventLog:
    """Records every event a client receives, in order; tests await the next one of a name."""

    def __init__(self, client: socketio.AsyncClient) -> None:
        self.events: list[tuple[str, Any]] = []
        self._queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self._gone = asyncio.Event()

        async def gone(*_reason: Any) -> None:
            self._gone.set()

        client.on("disconnect", gone)

        async def record(event: str, *args: Any) -> None:
            data = args[0] if args else None
            self.events.append((event, data))
            self._queues[event].put_nowait(data)

        client.on("*", record)

    async def next(self, event: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
        try:
            return await asyncio.wait_for(self._queues[event].get(), timeout)
        except TimeoutError:
            seen = [name for name, _ in self.events]
            raise AssertionError(f"no {event!r} within {timeout}s; received {seen}") from None

    async def disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Waits until the server (or the client) has closed this socket."""
        try:
            await asyncio.wait_for(self._gone.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the socket was still connected after {timeout}s") from None

    def pending(self, event: str) -> list[Any]:
        """Events of this name received and not yet taken by `next`."""
        q = self._queues[event]
        items = []
        while not q.empty():
            items.append(q.get_nowait())
        return items

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@contextlib.contextmanager
def preserved_logging() -> Iterator[None]:
    """Restores the logging set-up after code that configures it (the CLI's `main`),
    so later tests do not log into a closed capture stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, lvl in levels.items():
            logging.getLogger(name).setLevel(lvl)


def free_port() -> int:
    """A port nothing listens on right now, on loopback (for servers started as processes)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeClock:
    """A clock tests move by hand (`advance`, or set `now`); starts at the real time so
    that tokens, which are checked against the real time, stay valid. Whole seconds by
    default, so that times stored with microseconds read back exactly."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(round(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
