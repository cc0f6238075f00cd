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
    address: str = ""  # the client's address (behind trusted proxies), for per-address limits


class Connections:
    def __init__(self) -> None:
        self._sockets: dict[str, SocketInfo] = {}
        self._per_address: dict[str, int] = {}

    def add(self, sid: str, identity: Identity | None, address: str = "") -> SocketInfo:
        info = self._sockets[sid] = SocketInfo(identity, address=address)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return info

    def from_address(self, address: str) -> int:
        """Sockets this node holds for one client address."""
        return self._per_address.get(address, 0)

    def get(self, sid: str) -> SocketInfo | None:
        return self._sockets.get(sid)

    def remove(self, sid: str) -> SocketInfo | None:
        info = self._sockets.pop(sid, None)
        if info is not None:
            left = self._per_address.get(info.address, 0) - 1
            if left > 0:
                self._per_address[info.address] = left
            else:
                self._per_address.pop(info.address, None)
        return info

    def items(self) -> list[tuple[str, SocketInfo]]:
        return list(self._sockets.items())

    def __len__(self) -> int:
        return len(self._sockets)
