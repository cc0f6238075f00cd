"""Widget presence over REST (§3): one snapshot, or a batch of up to 500."""

from __future__ import annotations

from aiohttp import web

from api import schemas
from api.errors import bad_request
from api.keys import SERVICES
from api.policy import caller
from api.routing import Reply, RouteTable, roles
from api.validation import MAX_ID_LENGTH, NUL, json_object, query_str
from services.widget.conversations import BATCH_LIMIT

routes = RouteTable("widget")

VIEWERS = roles("agent", "admin")


@routes.get(
    "/api/widget/presence",
    "The presence snapshot of one conversation (?conversationId=)",
    access=VIEWERS,
    query={"conversationId": {"required": True, "schema": schemas.PATH_ID}},
    responses={
        200: Reply("the snapshot", schemas.SNAPSHOT),
        403: "an agent of another company, or a token that may not read presence",
        404: "unknown conversation",
    },
)
async def get_presence(request: web.Request) -> web.Response:
    conversation_id = query_str(request, "conversationId")
    return web.json_response(await request.app[SERVICES].conversations.presence(caller(request), conversation_id))


@routes.post(
    "/api/widget/presence/batch",
    f"Snapshots of up to {BATCH_LIMIT} conversations; unknown or foreign ids are listed in `missing`",
    access=VIEWERS,
    activity=False,  # a read sent as POST (for its body)
    body={
        "type": "object",
        "required": ["conversationIds"],
        "properties": {"conversationIds": {"type": "array", "items": schemas.PATH_ID, "maxItems": BATCH_LIMIT}},
    },
    responses={200: Reply("snapshots, and the ids not found or not visible", schemas.PRESENCE_BATCH)},
)
async def batch_presence(request: web.Request) -> web.Response:
    body = await json_object(request)
    ids = body.get("conversationIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) and 0 < len(i) <= MAX_ID_LENGTH for i in ids):
        raise bad_request("conversationIds", "conversationIds must be a list of non-empty strings")
    if any(NUL in i for i in ids):
        raise bad_request("conversationIds", "conversationIds must not contain NUL characters")
    if len(ids) > BATCH_LIMIT:
        raise bad_request("conversationIds", f"conversationIds may hold at most {BATCH_LIMIT} ids")
    presence, missing = await request.app[SERVICES].conversations.batch(caller(request), ids)
    return web.json_response({"presence": presence, "missing": missing})
