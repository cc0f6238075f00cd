"""Operations (§6 health, §10): `/api/health`, `/metrics`, `/api/openapi.json`.

`openapi_document` is the one place the document is built: each endpoint's own
declaration (`api.routing.Endpoint`: access, parameters, body, its answers with
their schemas from `api.schemas`) plus the answers every endpoint of its kind
gives (401/403/429 of the policy, 400/413 of a body, 400 of parameters, 503 of
storage), so what is documented is what the middlewares really answer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import schemas
from api.keys import ROUTE_TABLES, SERVICES
from api.routing import PUBLIC, Endpoint, Reply, RouteTable

routes = RouteTable("operations")

PERSON_ROLES = frozenset({"admin", "agent", "user"})
"""Roles whose tokens are rate limited (`api.policy`)."""

RETRY_AFTER = {
    "required": True,
    "description": "whole seconds to wait before trying again",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
HEADERS = {"Retry-After": RETRY_AFTER}

RATE_LIMITED = Reply(
    "too many requests for this token (PRESENCE_RATE_LIMIT)", schemas.RATE_LIMITED, headers=("Retry-After",)
)
STORAGE_DOWN = Reply("storage (database or Redis) is unavailable; retry", schemas.ERROR, headers=("Retry-After",))


@routes.get(
    "/api/health",
    "Database, Redis and periodic jobs; 200 ok, 503 degraded",
    access=PUBLIC,
    responses={200: Reply("ok", schemas.HEALTH), 503: Reply("degraded", schemas.HEALTH)},
)
async def health(request: web.Request) -> web.Response:
    body = await request.app[SERVICES].operations.health()
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


@routes.get(
    "/metrics",
    "Prometheus metrics",
    access=PUBLIC,
    storage=False,
    responses={200: Reply("Prometheus text exposition", {"type": "string"}, media_type="text/plain")},
)
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[SERVICES].metrics.render(), content_type="text/plain", charset="utf-8")


@routes.get(
    "/api/openapi.json",
    "This document",
    access=PUBLIC,
    storage=False,
    responses={200: Reply("OpenAPI 3.1", {"type": "object", "required": ["openapi", "paths"]})},
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


def _response(reply: Reply | str) -> dict[str, Any]:
    if isinstance(reply, str):
        reply = Reply(reply)
    schema = dict(reply.schema) if reply.schema is not None else schemas.ERROR
    out: dict[str, Any] = {"description": reply.description, "content": {reply.media_type: {"schema": schema}}}
    if reply.headers:
        out["headers"] = {name: HEADERS[name] for name in reply.headers}
    return out


def _parameters(e: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": seg[1:-1], "in": "path", "required": True, "schema": schemas.PATH_ID}
        for seg in e.path.split("/")
        if seg.startswith("{")
    ]
    for name, spec in e.query.items():
        params.append({"name": name, "in": "query", "required": False, **spec})
    return params


def _responses(e: Endpoint, has_params: bool) -> dict[str, Any]:
    replies: dict[int, Reply | str] = dict(e.responses)
    if e.body is not None or has_params:
        replies.setdefault(400, "bad input; `details` names the field")
    if e.body is not None:
        replies.setdefault(413, "body over 64 KiB")
    if e.access.kind in ("bearer", "session", "cron"):
        replies.setdefault(401, "no or bad credentials")
    if e.access.roles:
        replies.setdefault(403, "wrong role or tenant")
    if PERSON_ROLES & set(e.access.roles):
        replies.setdefault(429, RATE_LIMITED)
    if e.storage:
        replies.setdefault(503, STORAGE_DOWN)
    return {str(code): _response(replies[code]) for code in sorted(replies)}


def operation(e: Endpoint, tag: str) -> dict[str, Any]:
    params = _parameters(e)
    # Unique across the document, as OpenAPI requires (three handlers are named `heartbeat`).
    op: dict[str, Any] = {"tags": [tag], "summary": e.summary, "operationId": f"{tag}_{e.handler.__name__}"}
    if params:
        op["parameters"] = params
    if e.access.scheme:
        op["security"] = [{e.access.scheme: []}]
    if e.access.roles:
        op["description"] = f"Roles: {', '.join(e.access.roles)}."
    if e.body is not None:
        op["requestBody"] = {
            "required": e.body_required,
            "content": {"application/json": {"schema": e.body}},
        }
    op["responses"] = _responses(e, bool(params))
    return op


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for table in app[ROUTE_TABLES]:
        for e in table.endpoints:
            if e.document:
                paths.setdefault(e.path, {})[e.method.lower()] = operation(e, table.tag)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "presence",
            "version": "0.1.0",
            "description": "Who is online, for how long, and what it costs.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "session": {"type": "http", "scheme": "bearer", "description": "an attendance session's secret"},
                "cron": {"type": "http", "scheme": "bearer", "description": "PRESENCE_CRON_SECRET"},
            },
            "schemas": dict(schemas.COMPONENTS),
        },
    }
