"""Widget presence over REST (§3): one snapshot, or a batch of up to 500."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.activity_middleware import READ_ONLY
from api.auth import authenticate, require_company
from api.errors import ApiError, bad_request
from api.routing import RouteTable
from api.validation import MAX_ID_LENGTH, json_object, query_str
from db.models import Conversation
from db.queries import conversations
from presence import keys

routes = RouteTable("widget")

BATCH_LIMIT = 500
VIEWERS = ("agent", "admin")


@routes.get(
    "/api/widget/presence",
    "The presence snapshot of one conversation (?conversationId=)",
    roles=VIEWERS,
    responses={200: "snapshot", 404: "unknown conversation"},
)
async def get_presence(request: web.Request) -> web.Response:
    identity = await authenticate(request, *VIEWERS)
    conversation_id = query_str(request, "conversationId")
    async with request.app[keys.SESSIONS]() as session:
        conv = await conversations.get(session, conversation_id)
    if conv is None:
        raise ApiError(404, "Unknown conversation")
    require_company(identity, conv.company_id)
    return web.json_response(await request.app[keys.WIDGET].snapshot(conv))


@routes.post(
    "/api/widget/presence/batch",
    f"Snapshots of up to {BATCH_LIMIT} conversations; unknown or foreign ids are listed in `missing`",
    roles=VIEWERS,
    body={
        "type": "object",
        "required": ["conversationIds"],
        "properties": {"conversationIds": {"type": "array", "items": {"type": "string"}, "maxItems": BATCH_LIMIT}},
    },
)
async def batch_presence(request: web.Request) -> web.Response:
    identity = await authenticate(request, *VIEWERS)
    request[READ_ONLY] = True  # a read sent as POST (for its body): not activity (§5)
    body = await json_object(request)
    ids = body.get("conversationIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) and 0 < len(i) <= MAX_ID_LENGTH for i in ids):
        raise bad_request("conversationIds", "conversationIds must be a list of non-empty strings")
    if len(ids) > BATCH_LIMIT:
        raise bad_request("conversationIds", f"conversationIds may hold at most {BATCH_LIMIT} ids")
    async with request.app[keys.SESSIONS]() as session:
        found = await conversations.get_many(session, ids)
    visible: list[Conversation] = []
    missing: list[str] = []
    for conversation_id in dict.fromkeys(ids):
        conv = found.get(conversation_id)
        if conv is None or (identity.role != "admin" and conv.company_id != identity.company):
            missing.append(conversation_id)
        else:
            visible.append(conv)
    presence: dict[str, Any] = await request.app[keys.WIDGET].snapshots(visible)
    return web.json_response({"presence": presence, "missing": missing})
