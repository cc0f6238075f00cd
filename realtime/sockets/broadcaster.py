"""The `Broadcaster` of services, carried by Socket.IO.

`ServerBroadcaster` is the server's (with Redis its manager also reaches every
other node); `ManagerBroadcaster` is a CLI process's: a write-only Socket.IO
Redis manager, which publishes to the nodes' sockets without holding any.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio

from infra.tasks import cancelling

log = logging.getLogger("presence.realtime")

NAMESPACE = "/"


class ServerBroadcaster:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        await self._sio.emit(event, payload, room=room)

    async def emit_local(self, event: str, payload: dict[str, Any], room: str) -> None:
        await self._sio.emit(event, payload, room=room, ignore_queue=True)

    async def disconnect(self, sid: str) -> None:
        await self._sio.disconnect(sid)

    async def enter_room(self, sid: str, room: str) -> None:
        await self._sio.enter_room(sid, room)

    async def leave_room(self, sid: str, room: str) -> None:
        await self._sio.leave_room(sid, room)


class ManagerBroadcaster:
    """For a process without sockets of its own (a CLI command, with Redis)."""

    def __init__(self, manager: socketio.AsyncRedisManager) -> None:
        self._manager = manager

    async def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        await self._manager.emit(event, payload, namespace=NAMESPACE, room=room)

    async def emit_local(self, event: str, payload: dict[str, Any], room: str) -> None:
        return None  # no sockets here

    async def disconnect(self, sid: str) -> None:
        await self._manager.disconnect(sid, NAMESPACE)  # published to the node that holds it

    async def enter_room(self, sid: str, room: str) -> None:
        return None

    async def leave_room(self, sid: str, room: str) -> None:
        return None


class RedisManager(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, resubscribing promptly after Redis was away.

    The stock listener waits 1, 2, 4 … up to 60 s between attempts, so after an
    outage of a minute a node could stay deaf for another minute to what other
    nodes send its sockets (events to rooms, disconnects). This one retries every
    RESUBSCRIBE_EVERY seconds, logging the first failure only."""

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:  # pragma: no cover - needs Redis to fail
        subscribed = False
        failing = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    if failing:
                        log.warning("Socket.IO Redis channel subscribed again")
                    failing = False
                async for message in self.pubsub.listen():
                    yield message
            except Exception as e:
                if cancelling():
                    raise asyncio.CancelledError from None
                if not failing:
                    log.warning("Socket.IO Redis channel lost (%s); retrying every %.1f s", e, RESUBSCRIBE_EVERY)
                failing = True
                subscribed = False
                await asyncio.sleep(RESUBSCRIBE_EVERY)
                if cancelling():
                    raise asyncio.CancelledError from None


RESUBSCRIBE_EVERY = 0.5


def redis_manager(url: str, prefix: str, write_only: bool = False) -> socketio.AsyncRedisManager:
    """The Socket.IO Redis manager every node (and CLI process) shares."""
    return RedisManager(url, channel=f"{prefix}socketio", write_only=write_only)
