"""The `Broadcaster` of services, carried by Socket.IO.

`ServerBroadcaster` is the server's (with Redis its manager also reaches every
other node); `ManagerBroadcaster` is a CLI process's: a write-only Socket.IO
Redis manager, which publishes to the nodes' sockets without holding any.
"""

from __future__ import annotations

from typing import Any

import socketio

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


def redis_manager(url: str, prefix: str, write_only: bool = False) -> socketio.AsyncRedisManager:
    """The Socket.IO Redis manager every node (and CLI process) shares."""
    return socketio.AsyncRedisManager(url, channel=f"{prefix}socketio", write_only=write_only)
