"""Who is calling (SPEC.md §2): the bearer token, checked against the roles an
endpoint admits. An accepted person is recorded as seen (user row on first
sight, kept online)."""

from __future__ import annotations

import logging
import math

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError
from domain.identity import Identity, TokenError
from presence import keys

log = logging.getLogger("presence.auth")

IDENTITY = web.RequestKey("identity", Identity)
"""The authenticated caller, set by `authenticate` (for middlewares that act after the handler)."""


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request, *roles: str) -> Identity:
    """The caller's identity: 401 without a valid token, 403 when its role is not in `roles`.

    Nothing is written here: `seen_middleware` records the person once the
    request has been accepted (a refused request changes nothing, §2).
    """
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "A bearer token is required (Authorization: Bearer <token>)")
    try:
        identity = request.app[keys.TOKENS].decode(token)
    except TokenError as e:
        raise ApiError(401, str(e)) from None
    if roles and identity.role not in roles:
        raise ApiError(403, f"This needs a token with role {' or '.join(roles)}, not {identity.role}")
    if identity.is_person:
        wait = request.app[keys.RATE_LIMIT].allow(f"sub:{identity.sub}")
        if wait is not None:
            raise ApiError(
                429,
                "Too many requests for this token; slow down",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                retry_after=round(wait, 3),
            )
    request[IDENTITY] = identity
    return identity


SEEN_HANDLED = web.RequestKey("seen_handled", bool)
"""Set by handlers that record the caller's presence themselves (heartbeat, logout)."""


@web.middleware
async def seen_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An accepted request by a person keeps them online and makes their user row
    exist (§2, §4). A refused one raises past this (or answers 4xx) and records nothing."""
    response = await handler(request)
    identity = request.get(IDENTITY)
    if identity is not None and response.status < 400 and not request.get(SEEN_HANDLED):
        try:
            await request.app[keys.USERS].seen(identity)
        except Exception:  # the request itself succeeded; never turn it into a 500 (and a retry)
            log.exception("could not record %s as seen", identity.sub)
    return response


def require_company(identity: Identity, company_id: str) -> None:
    """Agents see their own company only; admins and services see every company."""
    if identity.role in ("admin", "service"):
        return
    if identity.company != company_id:
        raise ApiError(403, "This belongs to another company")
