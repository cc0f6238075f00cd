"""App-user online status over REST (§4). Field names are snake_case, as the
frontend these endpoints replace expects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.auth import SEEN_HANDLED, authenticate
from api.errors import ApiError
from api.routing import RouteTable
from api.validation import path_id, query_int
from db.queries import users as queries
from domain.clock import iso_dt
from domain.user_presence import offline_cutoff, online_status
from presence import keys

routes = RouteTable("users")

PEOPLE = ("admin", "agent", "user")
PAGE_DEFAULT = 50
PAGE_MAX = 500


def _cutoff(request: web.Request) -> datetime:
    app = request.app
    return datetime.fromtimestamp(offline_cutoff(app[keys.CLOCK](), app[keys.SETTINGS].user_offline_after), UTC)


@routes.post(
    "/api/users/heartbeat/",
    "Keeps the caller online (any token but service)",
    roles=PEOPLE,
    responses={200: '{"status": "online", "last_seen"}'},
)
async def heartbeat(request: web.Request) -> web.Response:
    identity = await authenticate(request, *PEOPLE)
    request[SEEN_HANDLED] = True
    last_seen = await request.app[keys.USERS].heartbeat(identity)
    return web.json_response({"status": "online", "last_seen": iso_dt(last_seen)})


@routes.post(
    "/api/users/logout/",
    "Marks the caller offline at once (any token but service)",
    roles=PEOPLE,
    responses={200: '{"status": "offline", "last_seen"}'},
)
async def logout(request: web.Request) -> web.Response:
    identity = await authenticate(request, *PEOPLE)
    request[SEEN_HANDLED] = True  # a logout is not a sign of life
    last_seen = await request.app[keys.USERS].logout(identity)
    return web.json_response({"status": "offline", "last_seen": iso_dt(last_seen)})


@routes.get(
    "/api/users/admin/users/{id}/online-status/",
    "One user's online status",
    roles=("admin",),
    responses={200: '{"user_id", "is_online", "online_status", "last_seen"}', 404: "unknown user"},
)
async def online_status_of(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    user_id = path_id(request)
    async with request.app[keys.SESSIONS]() as session:
        found = await queries.status(session, user_id, _cutoff(request))
    if found is None:
        raise ApiError(404, "Unknown user")
    return web.json_response(
        {
            "user_id": found.user_id,
            "is_online": found.is_online,
            "online_status": online_status(found.is_online),
            "last_seen": iso_dt(found.last_seen),
        }
    )


@routes.get(
    "/api/users/admin/users/online/",
    f"Online users, most recently seen first (?limit= default {PAGE_DEFAULT}, at most {PAGE_MAX}; ?offset=)",
    roles=("admin",),
    responses={200: '{"count", "results": [{"user_id", "name", "last_seen"}]}'},
)
async def online_users(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1)
    async with request.app[keys.SESSIONS]() as session:
        count, page = await queries.online_page(session, _cutoff(request), limit, offset)
    results: list[dict[str, Any]] = [
        {"user_id": s.user_id, "name": s.name, "last_seen": iso_dt(s.last_seen)} for s in page
    ]
    return web.json_response({"count": count, "results": results})
