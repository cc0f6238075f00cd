"""Route tables that also describe themselves, so `/api/openapi.json` always
covers exactly what is registered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...] = ()
    auth: str | None = "bearer"  # "bearer", "session", "cron" or None
    body: dict[str, Any] | None = None
    responses: dict[int, str] = field(default_factory=dict)
    document: bool = True


class RouteTable:
    """One table per resource: `routes = RouteTable("widget")`, then `@routes.get(...)`."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def _add(self, method: str, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method, path, handler, summary, **kw))
            return handler

        return decorate

    def get(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._add("GET", path, summary, **kw)

    def post(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._add("POST", path, summary, **kw)

    def put(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._add("PUT", path, summary, **kw)

    def patch(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._add("PATCH", path, summary, **kw)

    def delete(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path, summary, **kw)

    def register(self, app: web.Application) -> None:
        for e in self.endpoints:
            app.router.add_route(e.method, e.path, e.handler)
