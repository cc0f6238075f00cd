"""Socket.IO adapter of §4: a person's socket keeps them online; `user:heartbeat`
(payload `{}`) is acked `{"ok": true, "last_seen"}`."""

from __future__ import annotations

import logging
from typing import Any

from domain.clock import iso_dt
from realtime.sockets.gateway import Ack, SocketGateway
from realtime.store.connections import SocketInfo
from services.user_status import UserStatus

PEOPLE = ("admin", "agent", "user")

log = logging.getLogger("presence.users")


class UserEvents:
    def __init__(self, gateway: SocketGateway, users: UserStatus) -> None:
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
