"""App-user online status over REST (§4). Field names are snake_case, as the
frontend these endpoints replace expects."""

from __future__ import annotations

from aiohttp import web

from api import schemas
from api.keys import SERVICES
from api.policy import caller
from api.routing import ADMIN, PEOPLE, Reply, RouteTable
from api.validation import path_id, query_int
from domain.clock import iso_dt
from domain.user_presence import online_status

routes = RouteTable("users")

PAGE_DEFAULT = 50
PAGE_MAX = 500


@routes.post(
    "/api/users/heartbeat/",
    "Keeps the caller online (any token but service)",
    access=PEOPLE,
    activity=False,
    seen=False,  # the heartbeat is the sighting itself
    responses={200: Reply('{"status": "online", "last_seen"}', schemas.USER_STATE)},
)
async def heartbeat(request: web.Request) -> web.Response:
    last_seen = await request.app[SERVICES].users.heartbeat(caller(request))
    return web.json_response({"status": "online", "last_seen": iso_dt(last_seen)})


@routes.post(
    "/api/users/logout/",
    "Marks the caller offline at once (any token but service)",
    access=PEOPLE,
    seen=False,  # a logout is not a sign of life (it is activity, §5)
    responses={200: Reply('{"status": "offline", "last_seen"}', schemas.USER_STATE)},
)
async def logout(request: web.Request) -> web.Response:
    last_seen = await request.app[SERVICES].users.logout(caller(request))
    return web.json_response({"status": "offline", "last_seen": iso_dt(last_seen)})


@routes.get(
    "/api/users/admin/users/{id}/online-status/",
    "One user's online status",
    access=ADMIN,
    responses={200: Reply("the user's status", schemas.ONLINE_STATUS), 404: "unknown user"},
)
async def online_status_of(request: web.Request) -> web.Response:
    found = await request.app[SERVICES].users.status_of(path_id(request))
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
    access=ADMIN,
    query=schemas.page_query(PAGE_DEFAULT, PAGE_MAX),
    responses={200: Reply("a page of online users", schemas.page_of(schemas.ONLINE_USER))},
)
async def online_users(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1)
    count, page = await request.app[SERVICES].users.online_page(limit, offset)
    results = [{"user_id": s.user_id, "name": s.name, "last_seen": iso_dt(s.last_seen)} for s in page]
    return web.json_response({"count": count, "results": results})
