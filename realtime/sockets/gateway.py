"""The Socket.IO entry: connect, disconnect, and every event with its ack.

A socket with `auth.token` is a token holder: a bad or expired token refuses the
connection with the reason. A socket without one is a widget and may only send
`widget:*` events (SPEC.md §3). Every event handler returns its ack; a refusal is
`{"ok": false, "error"}` and changes nothing; a handler that fails unexpectedly
is logged and acked as an internal error, leaving other sockets unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import socketio

from domain.client_address import Network, client_address
from domain.identity import Identity, TokenCodec, TokenError
from domain.rate_limit import RateLimiter
from domain.rooms import ADMINS_ROOM, user_room
from infra.metrics import Metrics
from realtime.store.connections import Connections, SocketInfo
from services.errors import ServiceError, unavailable_message

log = logging.getLogger("presence.realtime")

Ack = dict[str, Any]
EventHandler = Callable[[str, SocketInfo, Any], Awaitable[Ack]]
SocketHook = Callable[[str, SocketInfo], Awaitable[None]]


def refused(message: str) -> Ack:
    return {"ok": False, "error": message}


@dataclass(frozen=True, slots=True)
class Route:
    handler: EventHandler
    roles: tuple[str, ...] | None  # None: widgets too; else token holders with one of these roles


class SocketGateway:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        connections: Connections,
        tokens: TokenCodec,
        metrics: Metrics,
        limiter: RateLimiter | None = None,
        per_address: int = 0,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.sio = sio
        self._per_address = per_address
        self._trusted = list(trusted_proxies)
        self._limiter = limiter
        self.connections = connections
        self._tokens = tokens
        self._metrics = metrics
        self._routes: dict[str, Route] = {}
        self._on_connect: list[SocketHook] = []
        self._on_disconnect: list[SocketHook] = []
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        sio.on("*", self._unknown)

    def on(self, event: str, handler: EventHandler, roles: tuple[str, ...] | None = None) -> None:
        self._routes[event] = Route(handler, roles)

        async def dispatch(sid: str, data: Any = None, *_extra: Any) -> Ack:
            return await self._dispatch(event, sid, data)

        self.sio.on(event, dispatch)

    def on_connect(self, hook: SocketHook) -> None:
        self._on_connect.append(hook)

    def on_disconnect(self, hook: SocketHook) -> None:
        self._on_disconnect.append(hook)

    def _address(self, environ: dict[str, Any]) -> str:
        request = environ.get("aiohttp.request")
        peer = getattr(request, "remote", None) or environ.get("REMOTE_ADDR")
        return client_address(peer, environ.get("HTTP_X_FORWARDED_FOR"), self._trusted)

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        address = self._address(environ)
        if self._per_address and self.connections.from_address(address) >= self._per_address:
            log.warning("refused a socket from %s: %d already connected", address, self._per_address)
            raise socketio.exceptions.ConnectionRefusedError("Too many connections from this address")
        identity: Identity | None = None
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is not None:
            if not isinstance(token, str):
                raise socketio.exceptions.ConnectionRefusedError("auth.token must be a string")
            try:
                identity = self._tokens.decode(token)
            except TokenError as e:
                raise socketio.exceptions.ConnectionRefusedError(str(e)) from None
        info = self.connections.add(sid, identity, address)
        if identity is not None:
            await self.sio.enter_room(sid, user_room(identity.sub))
            if identity.role == "admin":
                await self.sio.enter_room(sid, ADMINS_ROOM)
        try:
            for hook in self._on_connect:
                await hook(sid, info)
        except Exception:
            self.connections.remove(sid)
            log.exception("connect hook failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError("The server could not accept the connection") from None
        self._metrics.sockets.inc()

    async def _disconnect(self, sid: str, *_reason: Any) -> None:
        info = self.connections.remove(sid)
        if self._limiter is not None:
            self._limiter.forget(sid)
        if info is None:
            return
        self._metrics.sockets.dec()
        for hook in self._on_disconnect:
            try:
                await hook(sid, info)
            except Exception:
                log.exception("disconnect hook failed for %s", sid)

    async def _unknown(self, event: str, sid: str, *_args: Any) -> Ack:
        self._metrics.events.labels("unknown", "refused").inc()
        return refused(f"Unknown event {event[:100]!r}")

    async def _dispatch(self, event: str, sid: str, data: Any) -> Ack:
        info = self.connections.get(sid)
        route = self._routes[event]
        if info is None:
            return self._count(event, refused("This socket is not connected"))
        if self._limiter is not None and self._limiter.allow(sid) is not None:
            return self._count(event, refused("Too many events from this socket; slow down"))
        if route.roles is not None:
            if info.identity is None:
                return self._count(event, refused(f"{event} needs a token: connect with auth {{token}}"))
            if info.identity.role not in route.roles:
                return self._count(event, refused(f"{event} needs a token with role {' or '.join(route.roles)}"))
        try:
            ack = await route.handler(sid, info, data)
        except ServiceError as e:
            ack = refused(e.message)
        except Exception as e:
            if (message := unavailable_message(e)) is not None:
                log.warning("event %s from %s: %s", event, sid, message)
                ack = refused(message)
            else:
                log.exception("event %s from %s failed", event, sid)
                ack = refused("Internal server error")
        return self._count(event, ack)

    def _count(self, event: str, ack: Ack) -> Ack:
        self._metrics.events.labels(event, "ok" if ack.get("ok") else "refused").inc()
        return ack
