"""Route tables whose endpoints declare their policy once, and describe
themselves, so `/api/openapi.json` always covers exactly what is registered.

Each endpoint says who may call it (`access`) and whether a success counts as
activity (§5); `api.policy` enforces both, for every route, in one place.
Handlers never check roles themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from domain.identity import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call: bearer tokens of some roles, an attendance session's secret,
    the cron secret, or anyone."""

    kind: Literal["bearer", "session", "cron", "public"]
    roles: tuple[Role, ...] = ()

    @property
    def scheme(self) -> str | None:
        """The OpenAPI security scheme."""
        return None if self.kind == "public" else self.kind


def roles(*allowed: Role) -> Access:
    """A bearer token with one of these roles."""
    return Access("bearer", allowed)


PEOPLE = roles("admin", "agent", "user")
"""Any token that stands for a person (every role but service)."""
ADMIN = roles("admin")
PUBLIC = Access("public")
SESSION = Access("session")
CRON = Access("cron")


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer an endpoint gives, for the OpenAPI document: what it means and
    the schema of its body (`media_type`); `headers` it always carries."""

    description: str
    schema: Mapping[str, Any] | None = None
    """None: the JSON error object of §2 (`Error`); only for statuses of 400 and up."""
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()


Responses = Mapping[int, "Reply | str"]
"""Status -> its answer; a bare string is the description of an error (`Error` body)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    access: Access
    activity: bool
    """A 2xx answer to a person counts as their activity (§5)."""
    seen: bool = True
    """An accepted request keeps the person online (§4); false where the handler says
    itself what the request means for presence (heartbeat, logout)."""
    body: dict[str, Any] | None = None
    body_required: bool = True
    """False where no body (or `{}`) is as good as one: the body schema is then optional."""
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Query parameters, for the OpenAPI document: name -> {"schema", "description"?, "required"?}."""
    responses: Responses = field(default_factory=dict)
    """Every answer of the endpoint itself; `api.operations` adds those of the policy
    (401, 403, 429), of a body (400, 413), of parameters (400) and of storage (503)."""
    storage: bool = True
    """The handler reads or writes storage, so it answers 503 while storage is down."""
    document: bool = True

    def __post_init__(self) -> None:
        if not self.document:
            return
        if not any(200 <= code < 300 for code in self.responses):
            raise ValueError(f"{self.method} {self.path}: declare its success answer (a Reply with a schema)")
        for code, reply in self.responses.items():
            if code < 400 and not (isinstance(reply, Reply) and reply.schema is not None):
                raise ValueError(f"{self.method} {self.path}: answer {code} needs a Reply with its schema")


class RouteTable:
    """One table per resource: `routes = RouteTable("widget")`, then `@routes.get(...)`."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        access: Access,
        activity: bool | None = None,
        **kw: Any,
    ) -> Callable[[Handler], Handler]:
        """`activity` defaults to True for mutations (POST, PUT, PATCH, DELETE)."""

        def decorate(handler: Handler) -> Handler:
            counts = method in MUTATIONS if activity is None else activity
            self.endpoints.append(Endpoint(method, path, handler, summary, access, counts, **kw))
            return handler

        return decorate

    def get(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary, **kw)

    def post(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary, **kw)

    def put(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, summary, **kw)

    def patch(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, summary, **kw)

    def delete(self, path: str, summary: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, summary, **kw)

    def register(self, app: web.Application, policies: dict[web.AbstractRoute, Endpoint]) -> None:
        for e in self.endpoints:
            policies[app.router.add_route(e.method, e.path, e.handler)] = e
