"""The admin console's overview over REST (§9): what is live now, in one cheap answer."""

from __future__ import annotations

from aiohttp import web

from api import schemas
from api.keys import SERVICES
from api.routing import ADMIN, Reply, RouteTable
from api.validation import query_int
from services.overview import RECENT_DEFAULT, RECENT_MAX

routes = RouteTable("overview")


@routes.get(
    "/api/admin/overview",
    "What is live now: customers and users online, live attendance sessions and live streams, "
    f"each with a count and its latest (?limit= default {RECENT_DEFAULT}, at most {RECENT_MAX}). "
    "Counts are read on indexes (customers: O(1) in the presence store); the database part "
    "is at most one second old.",
    access=ADMIN,
    query={
        "limit": {
            "schema": {"type": "integer", "minimum": 0, "maximum": RECENT_MAX, "default": RECENT_DEFAULT},
            "description": "how many of the latest of each part",
        }
    },
    responses={200: Reply("counts and the latest of each part", schemas.OVERVIEW)},
)
async def overview(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", RECENT_DEFAULT, 0, RECENT_MAX)
    snapshot = await request.app[SERVICES].overview.snapshot(limit)
    return web.json_response(snapshot.as_json())
