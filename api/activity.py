"""Activity over REST (§5): events reported by the host application, and the figures."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import schemas
from api.errors import bad_request
from api.keys import SERVICES
from api.routing import ADMIN, Reply, RouteTable, roles
from api.validation import MAX_ID_LENGTH, NUL, json_object
from domain import activity as rules
from services.activity import Event

routes = RouteTable("activity")

MAX_EVENTS = 1000
MAX_KIND_LENGTH = 64
MAX_BODY_BYTES = 512 * 1024
"""The events' body limit: 1,000 events of the longest user_id and kind (about 400 bytes
each) must fit, which 64 KiB, the limit of every other body, would not."""
DETAILED = {"0": False, "1": True, "false": False, "true": True}


def check_event(raw: Any, now: float) -> Event | str:
    """The event, or why it is rejected (a sentence)."""
    if not isinstance(raw, dict):
        return "an event must be an object {user_id, ts, kind}"
    user_id = raw.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_ID_LENGTH or NUL in user_id:
        return f"user_id is required and must be a non-empty string of at most {MAX_ID_LENGTH} characters, without NUL"
    kind = raw.get("kind")
    if kind is not None and (not isinstance(kind, str) or len(kind) > MAX_KIND_LENGTH):
        return f"kind must be a string of at most {MAX_KIND_LENGTH} characters"
    if "ts" not in raw:
        return "ts is required (ISO 8601)"
    try:
        ts = rules.parse_iso(raw["ts"])
    except ValueError as e:
        return str(e)
    too_late = rules.event_time_error(ts, now)
    return too_late if too_late is not None else Event(user_id, ts)


@routes.post(
    "/api/activity/events",
    f"Activity reported by the host application (at most {MAX_EVENTS} events; unknown users are created)",
    access=roles("service", "admin"),
    body={
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "maxItems": MAX_EVENTS,
                "items": {
                    "description": "an event `{user_id, ts, kind?}`: `user_id` a non-empty string of at most "
                    f"{MAX_ID_LENGTH} characters, `ts` ISO 8601 no more than 5 minutes ahead, `kind` a string of "
                    f"at most {MAX_KIND_LENGTH}. Each is judged alone: one that is not such an event (whatever "
                    "it is) is listed in `rejected` with its index and why, and the others are recorded.",
                    "examples": [{"user_id": "u-1", "ts": "2026-11-23T09:30:00.000Z", "kind": "login"}],
                },
            }
        },
    },
    responses={
        202: Reply("how many were recorded, and each rejected one with why", schemas.EVENTS_ANSWER),
        413: f"body over {MAX_BODY_BYTES // 1024} KiB",
    },
)
async def report_events(request: web.Request) -> web.Response:
    body = await json_object(request, MAX_BODY_BYTES)
    raw = body.get("events")
    if not isinstance(raw, list):
        raise bad_request("events", "events is required and must be a list")
    if len(raw) > MAX_EVENTS:
        raise bad_request("events", f"events may hold at most {MAX_EVENTS} events, got {len(raw)}")
    services = request.app[SERVICES]
    now = services.clock()
    accepted: list[Event] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        checked = check_event(item, now)
        if isinstance(checked, str):
            rejected.append({"index": index, "error": checked})
        else:
            accepted.append(checked)
    await services.activity.record(accepted)
    return web.json_response({"accepted": len(accepted), "rejected": rejected}, status=202)


@routes.get(
    "/api/admin/activity/metrics",
    "DAU, WAU, MAU, stickiness; ?detailed=1 adds the last 30 UTC days",
    access=ADMIN,
    query={"detailed": {"schema": {"enum": list(DETAILED)}, "description": "1 or true: add `daily`"}},
    responses={200: Reply("the figures", schemas.METRICS)},
)
async def activity_metrics(request: web.Request) -> web.Response:
    flag = request.query.get("detailed", "0")
    if flag not in DETAILED:
        raise bad_request("detailed", f"detailed must be one of {', '.join(DETAILED)}")
    detailed = DETAILED[flag]
    metrics = await request.app[SERVICES].activity.metrics(detailed=detailed)
    return web.json_response(metrics.as_json())
