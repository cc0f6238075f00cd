"""Livestreams over REST (§7): create, read, start, heartbeat, check_credits, end,
the statement, and the admins' list. Field names are snake_case, as the
frontend these endpoints replace expects.

Each handler calls one method of `services.credits.Credits`, which decides who
may do what (owner, or owner or admin) and raises what the caller must see:
403 another seller's stream, 404 unknown, 409 start or end in the wrong state,
402 no credit to start, 400 a heartbeat to a stream not live (with `reason`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import schemas
from api.errors import bad_request
from api.keys import SERVICES
from api.policy import caller
from api.routing import ADMIN, PEOPLE, Reply, RouteTable, roles
from api.validation import json_object, path_id, query_int, required_str
from domain.clock import iso_dt
from domain.credits import STREAM_STATUSES
from services.credit_views import StreamFigures, admin_row, charge_body, stream_body

routes = RouteTable("livestreams")

TITLE_MAX_LENGTH = 200
PAGE_DEFAULT = 50
PAGE_MAX = 500
STREAM = Reply("the stream", schemas.STREAM)


def check_body(figures: StreamFigures) -> dict[str, Any]:
    return {
        "message": "Credits checked successfully",
        "livestream_ended": figures.ended,
        "remaining_credits": figures.remaining_credits,
        "credits_consumed": figures.stream.credits_consumed,
        "time_until_next_deduction_minutes": figures.time_until_next_deduction_minutes,
        "low_credits": figures.low_credits,
    }


@routes.post(
    "/api/livestreams/",
    "Creates a livestream of the caller (role user), status scheduled",
    access=roles("user"),
    body={"type": "object", "required": ["title"], "properties": {"title": schemas.text(TITLE_MAX_LENGTH)}},
    responses={201: Reply("the stream, status scheduled", schemas.STREAM)},
)
async def create(request: web.Request) -> web.Response:
    title = required_str(await json_object(request), "title", TITLE_MAX_LENGTH).strip()
    stream = await request.app[SERVICES].credits.create(caller(request), title)
    return web.json_response(stream_body(stream), status=201)


@routes.get(
    "/api/livestreams/{id}/",
    "One livestream (its owner or an admin)",
    access=PEOPLE,
    responses={200: STREAM, 403: "another seller's stream", 404: "unknown stream"},
)
async def get(request: web.Request) -> web.Response:
    figures = await request.app[SERVICES].credits.get(caller(request), path_id(request))
    return web.json_response(stream_body(figures.stream))


@routes.patch(
    "/api/livestreams/start/{id}/",
    "Starts a scheduled livestream (its owner), paying its first block",
    access=PEOPLE,
    responses={
        200: STREAM,
        402: "Insufficient credits",
        403: "another seller's stream",
        404: "unknown stream",
        409: Reply("already live or ended", schemas.STREAM_CONFLICT),
    },
)
async def start(request: web.Request) -> web.Response:
    figures = await request.app[SERVICES].credits.start(caller(request), path_id(request))
    return web.json_response(stream_body(figures.stream))


@routes.post(
    "/api/livestreams/{id}/heartbeat/",
    "The seller is there (its owner): charges the blocks due, then records the heartbeat",
    access=PEOPLE,
    activity=False,
    responses={
        200: Reply("the heartbeat is recorded", schemas.STREAM_HEARTBEAT),
        400: Reply(
            "the stream is not live (`reason`, `status`), or the id is not one",
            {"anyOf": [schemas.STREAM_NOT_LIVE, schemas.ERROR]},
        ),
        403: "another seller's stream",
        404: "unknown stream",
    },
)
async def heartbeat(request: web.Request) -> web.Response:
    figures = await request.app[SERVICES].credits.heartbeat(caller(request), path_id(request))
    return web.json_response(
        {
            "message": "Heartbeat recorded successfully",
            "last_activity": iso_dt(figures.stream.last_activity),
            "remaining_credits": figures.remaining_credits,
            "credits_consumed": figures.stream.credits_consumed,
            "low_credits": figures.low_credits,
        }
    )


@routes.post(
    "/api/livestreams/{id}/check_credits/",
    "Charges every block due, then answers the figures (its owner or an admin)",
    access=PEOPLE,
    responses={
        200: Reply("the figures after charging", schemas.CREDITS_CHECKED),
        403: "another seller's stream",
        404: "unknown stream",
    },
)
async def check_credits(request: web.Request) -> web.Response:
    figures = await request.app[SERVICES].credits.check_credits(caller(request), path_id(request))
    return web.json_response(check_body(figures))


@routes.patch(
    "/api/livestreams/end/{id}/",
    "Ends the livestream (its owner): blocks due are charged first; reason manual",
    access=PEOPLE,
    responses={
        200: STREAM,
        403: "another seller's stream",
        404: "unknown stream",
        409: Reply("already ended", schemas.STREAM_CONFLICT),
    },
)
async def end(request: web.Request) -> web.Response:
    figures = await request.app[SERVICES].credits.end(caller(request), path_id(request))
    return web.json_response(stream_body(figures.stream))


@routes.get(
    "/api/livestreams/{id}/charges/",
    "The stream's statement, oldest block first (its owner or an admin)",
    access=PEOPLE,
    responses={
        200: Reply("the statement", schemas.STATEMENT),
        403: "another seller's stream",
        404: "unknown stream",
    },
)
async def charges(request: web.Request) -> web.Response:
    statement = await request.app[SERVICES].credits.statement(caller(request), path_id(request))
    return web.json_response(
        {
            "livestream_id": statement.stream_id,
            "charges": [charge_body(row) for row in statement.charges],
            "credits_consumed": statement.credits_consumed,
        }
    )


@routes.get(
    "/api/admin/livestreams",
    f"Livestreams, newest first (?status=scheduled|live|ended; ?limit= default {PAGE_DEFAULT}, "
    f"at most {PAGE_MAX}; ?offset=)",
    access=ADMIN,
    query={
        "status": {"schema": {"enum": list(STREAM_STATUSES)}, "description": "only streams of this status"},
        **schemas.page_query(PAGE_DEFAULT, PAGE_MAX),
    },
    responses={200: Reply("a page of streams", schemas.page_of(schemas.ADMIN_STREAM))},
)
async def admin_list(request: web.Request) -> web.Response:
    status = request.query.get("status")  # given, it must be one of them (empty is not)
    if status is not None and status not in STREAM_STATUSES:
        raise bad_request("status", f"status must be one of {', '.join(STREAM_STATUSES)}")
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1)
    count, page = await request.app[SERVICES].credits.page(status, limit, offset)
    return web.json_response({"count": count, "results": [admin_row(f) for f in page]})
