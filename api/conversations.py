"""`PUT /api/conversations/{id}`: the host application registers conversations (§3)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import schemas
from api.keys import SERVICES
from api.routing import Reply, RouteTable, roles
from api.validation import json_object, one_of, optional_str, path_id, required_str
from db.models import Conversation
from domain.clock import iso_dt
from services.widget.conversations import PLATFORMS

routes = RouteTable("conversations")


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
    "Register or update a conversation (201 new, 200 updated; sessionId, customerName and platform may "
    "change, dropping sockets of a replaced session; 409 if companyId changes)",
    access=roles("service", "admin"),
    body={
        "type": "object",
        "required": ["companyId", "platform", "sessionId"],
        "properties": {
            "companyId": schemas.text(),
            "platform": {"enum": list(PLATFORMS)},
            "sessionId": schemas.text(),
            "customerName": schemas.nullable(schemas.text(required=False)),
        },
    },
    responses={
        200: Reply("updated", schemas.CONVERSATION),
        201: Reply("created", schemas.CONVERSATION),
        409: "companyId differs from the stored one",
    },
)
async def put_conversation(request: web.Request) -> web.Response:
    conversation_id = path_id(request)
    body = await json_object(request)
    company_id = required_str(body, "companyId")
    platform = one_of(body, "platform", PLATFORMS)
    session_id = required_str(body, "sessionId")
    customer_name = optional_str(body, "customerName")
    result = await request.app[SERVICES].conversations.register(
        conversation_id, company_id, platform, session_id, customer_name
    )
    return web.json_response(conversation_json(result.conversation), status=201 if result.created else 200)
