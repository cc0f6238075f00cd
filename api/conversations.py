"""`PUT /api/conversations/{id}`: the host application registers conversations (§3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.auth import authenticate
from api.errors import ApiError
from api.routing import RouteTable
from api.validation import json_object, one_of, optional_str, path_id, required_str
from db.models import Conversation
from db.queries import conversations
from domain.clock import iso_dt
from presence import keys

routes = RouteTable("conversations")

PLATFORMS = ("WIDGET", "FACEBOOK", "INSTAGRAM")


def conversation_json(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "companyId": c.company_id,
        "platform": c.platform,
        "sessionId": c.session_id,
        "customerName": c.customer_name,
        "createdAt": iso_dt(c.created_at),
        "updatedAt": iso_dt(c.updated_at),
    }


@routes.put(
    "/api/conversations/{id}",
    "Register or update a conversation (201 new, 200 updated; 409 if companyId changes)",
    roles=("service", "admin"),
    body={
        "type": "object",
        "required": ["companyId", "platform", "sessionId"],
        "properties": {
            "companyId": {"type": "string"},
            "platform": {"enum": list(PLATFORMS)},
            "sessionId": {"type": "string"},
            "customerName": {"type": ["string", "null"]},
        },
    },
    responses={200: "updated", 201: "created", 409: "companyId differs from the stored one"},
)
async def put_conversation(request: web.Request) -> web.Response:
    await authenticate(request, "service", "admin")
    conversation_id = path_id(request)
    body = await json_object(request)
    company_id = required_str(body, "companyId")
    platform = one_of(body, "platform", PLATFORMS)
    session_id = required_str(body, "sessionId")
    customer_name = optional_str(body, "customerName")
    now = datetime.fromtimestamp(request.app[keys.CLOCK](), UTC)
    async with request.app[keys.SESSIONS]() as session:
        try:
            result = await conversations.register(
                session, conversation_id, company_id, platform, session_id, customer_name, now
            )
        except conversations.CompanyChange:
            raise ApiError(
                409, "A conversation cannot move to another company", details={"companyId": "immutable"}
            ) from None
    # Idempotent, so a retried PUT finishes what a failed one started.
    await request.app[keys.WIDGET].void_other_sessions(result.conversation)
    return web.json_response(conversation_json(result.conversation), status=201 if result.created else 200)
