"""What this node knows about each of its own sockets.

Only the socket's own node holds this (who the socket is, which conversation a
widget socket is bound to, which rooms an agent joined); everything another node
may need is in the presence store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.identity import Identity


@dataclass(frozen=True, slots=True)
class Binding:
    conversation_id: str
    session_id: str


@dataclass(slots=True)
class SocketInfo:
    identity: Identity | None  # None: a widget socket (no token)
    binding: Binding | None = None
    rooms: set[str] = field(default_factory=set)  # conversation ids an agent joined


class Connections:
    def __init__(self) -> None:
        self._sockets: dict[str, SocketInfo] = {}

    def add(self, sid: str, identity: Identity | None) -> SocketInfo:
        info = self._sockets[sid] = SocketInfo(identity)
        return info

    def get(self, sid: str) -> SocketInfo | None:
        return self._sockets.get(sid)

    def remove(self, sid: str) -> SocketInfo | None:
        return self._sockets.pop(sid, None)

    def items(self) -> list[tuple[str, SocketInfo]]:
        return list(self._sockets.items())

    def __len__(self) -> int:
        return len(self._sockets)
