"""The one way services talk to sockets: a small broadcasting interface.

Services name a room (`domain.rooms`) and an event; what carries it is chosen
by the composition root: the Socket.IO server (which, with Redis, also reaches
every other node), a write-only Socket.IO Redis manager in a CLI process, or
nothing at all (`NullBroadcaster`, a CLI process without Redis: there are no
sockets to tell).
"""

from __future__ import annotations

from typing import Any, Protocol


class Broadcaster(Protocol):
    async def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        """Sends to every socket in `room`, on every node."""

    async def emit_local(self, event: str, payload: dict[str, Any], room: str) -> None:
        """Sends to this node's sockets in `room` only (the caller reaches the
        other nodes itself, e.g. through the presence store's ordered changes)."""

    async def disconnect(self, sid: str) -> None:
        """Closes a socket, wherever it is connected."""

    async def enter_room(self, sid: str, room: str) -> None:
        """Puts one of this node's sockets in `room`."""

    async def leave_room(self, sid: str, room: str) -> None:
        """Takes one of this node's sockets out of `room`."""


class NullBroadcaster:
    """No sockets to tell: a CLI process on a single-node install."""

    async def emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        return None

    async def emit_local(self, event: str, payload: dict[str, Any], room: str) -> None:
        return None

    async def disconnect(self, sid: str) -> None:
        return None

    async def enter_room(self, sid: str, room: str) -> None:
        return None

    async def leave_room(self, sid: str, room: str) -> None:
        return None
