"""App-user status over Socket.IO (§4).

`UserStatusFeed` tells room `admins` about `user:online` / `user:offline`
`{"user_id", "last_seen"}`; `UserHeartbeats` answers a token holder's
`user:heartbeat` (payload `{}`) with `{"ok": true, "last_seen"}`. A user socket's
connect counts as seen too (wired in the composition root).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import socketio

from db.users import UserDirectory
from domain.clock import iso_dt
from realtime.connections import SocketInfo
from realtime.gateway import ADMINS_ROOM, Ack, SocketGateway

PEOPLE = ("admin", "agent", "user")

log = logging.getLogger("presence.users")


class UserStatusFeed:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def online(self, user_id: str, last_seen: datetime | None) -> None:
        await self._sio.emit("user:online", {"user_id": user_id, "last_seen": iso_dt(last_seen)}, room=ADMINS_ROOM)

    async def offline(self, user_id: str, last_seen: datetime | None) -> None:
        await self._sio.emit("user:offline", {"user_id": user_id, "last_seen": iso_dt(last_seen)}, room=ADMINS_ROOM)


class UserHeartbeats:
    def __init__(self, gateway: SocketGateway, users: UserDirectory) -> None:
        self._users = users
        gateway.on("user:heartbeat", self.heartbeat, roles=PEOPLE)
        gateway.on_connect(self.connected)

    async def connected(self, sid: str, info: SocketInfo) -> None:
        """A person's socket connecting counts as seen (§4). Best effort: a database
        hiccup here must not refuse the socket, whose own events retry soon."""
        if info.identity is None:
            return
        try:
            await self._users.seen(info.identity)
        except Exception:
            log.exception("could not record %s as seen on connect", info.identity.sub)

    async def heartbeat(self, sid: str, info: SocketInfo, data: Any) -> Ack:
        assert info.identity is not None  # the gateway admits token holders only
        last_seen = await self._users.heartbeat(info.identity)
        return {"ok": True, "last_seen": iso_dt(last_seen)}
