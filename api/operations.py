"""Operations (§6 health, §10): `/api/health`, `/metrics`, `/api/openapi.json`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy import text

from api.routing import RouteTable
from presence import keys

routes = RouteTable("operations")

HEALTH_TIMEOUT = 2.0


@routes.get("/api/health", "Database, Redis and periodic jobs; 200 ok, 503 degraded", auth=None)
async def health(request: web.Request) -> web.Response:
    app = request.app
    database = "ok"
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        database = "error"
    if app[keys.SETTINGS].redis_url:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                redis = "ok" if await app[keys.STORE].ping() else "error"
        except Exception:
            redis = "error"
    else:
        redis = "disabled"
    ok = database == "ok" and redis in ("ok", "disabled")
    jobs = {name: s.as_json() for name, s in app[keys.JOBS].status.items()}
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": redis, "jobs": jobs}
    return web.json_response(body, status=200 if ok else 503)


@routes.get("/metrics", "Prometheus metrics", auth=None)
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[keys.METRICS].render(), content_type="text/plain", charset="utf-8")


@routes.get("/api/openapi.json", "This document", auth=None)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


def openapi_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for table in app[keys.ROUTE_TABLES]:
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
            if params:
                op["parameters"] = params
            if e.auth:
                op["security"] = [{e.auth: []}]
                op["responses"].setdefault("401", {"description": "no or bad credentials"})
            if e.roles:
                op["description"] = f"Roles: {', '.join(e.roles)}."
                op["responses"].setdefault("403", {"description": "wrong role or tenant"})
            if e.body is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": e.body}}}
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
