"""Credit balances over REST (§7): admins grant, people read their own."""

from __future__ import annotations

from aiohttp import web

from api import schemas
from api.keys import SERVICES
from api.policy import caller
from api.routing import ADMIN, PEOPLE, Reply, RouteTable
from api.validation import json_object, path_id
from domain.credits import MAX_CREDITS, low_credits

routes = RouteTable("credits")


@routes.post(
    "/api/admin/users/{id}/credits",
    "Adds credits to a user (created if unseen)",
    access=ADMIN,
    body={
        "type": "object",
        "required": ["amount"],
        "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": MAX_CREDITS}},
    },
    responses={
        200: Reply("the new balance", schemas.GRANTED),
        409: "the balance would pass what it can hold; nothing was granted",
    },
)
async def grant(request: web.Request) -> web.Response:
    user_id = path_id(request)
    amount = (await json_object(request)).get("amount")
    remaining = await request.app[SERVICES].credits.grant(user_id, amount, caller(request).sub)
    return web.json_response({"user_id": user_id, "remaining_credits": remaining})


@routes.get(
    "/api/users/me/credits",
    "The caller's remaining credits",
    access=PEOPLE,
    responses={200: Reply("the balance", schemas.BALANCE)},
)
async def my_credits(request: web.Request) -> web.Response:
    remaining = await request.app[SERVICES].credits.balance(caller(request).sub)
    return web.json_response({"remaining_credits": remaining, "low_credits": low_credits(remaining)})
