"""Operations (§6 health, §10): `/api/health`, `/metrics`, `/api/openapi.json`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import ROUTE_TABLES, SERVICES
from api.routing import PUBLIC, RouteTable

routes = RouteTable("operations")


@routes.get("/api/health", "Database, Redis and periodic jobs; 200 ok, 503 degraded", access=PUBLIC)
async def health(request: web.Request) -> web.Response:
    body = await request.app[SERVICES].operations.health()
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


@routes.get("/metrics", "Prometheus metrics", access=PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[SERVICES].metrics.render(), content_type="text/plain", charset="utf-8")


@routes.get("/api/openapi.json", "This document", access=PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for table in app[ROUTE_TABLES]:
        for e in table.endpoints:
            if not e.document:
                continue
            op: dict[str, Any] = {
                "tags": [table.tag],
                "summary": e.summary,
                "operationId": e.handler.__name__,
                "responses": {str(code): {"description": text} for code, text in (e.responses or {200: "OK"}).items()},
            }
            params = [
                {"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                for seg in e.path.split("/")
                if seg.startswith("{")
            ]
            params += [{"name": name, "in": "query", "required": False, **spec} for name, spec in e.query.items()]
            if params:
                op["parameters"] = params
            if e.access.scheme:
                op["security"] = [{e.access.scheme: []}]
                op["responses"].setdefault("401", {"description": "no or bad credentials"})
            if e.access.roles:
                op["description"] = f"Roles: {', '.join(e.access.roles)}."
                op["responses"].setdefault("403", {"description": "wrong role or tenant"})
            if e.body is not None:
                op["requestBody"] = {
                    "required": e.body_required,
                    "content": {"application/json": {"schema": e.body}},
                }
                op["responses"].setdefault("400", {"description": "bad input; `details` names the field"})
                op["responses"].setdefault("413", {"description": "body over 64 KiB"})
            paths.setdefault(e.path, {})[e.method.lower()] = op
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "details": {"type": "object"}},
                }
            },
        },
    }
