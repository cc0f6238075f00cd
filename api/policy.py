"""The one middleware that enforces each endpoint's declared policy (`api.routing`).

Before the handler: who is calling (§2): a bearer token of an admitted role
(401 without a valid one, 403 for another role, 429 past the rate limit), an
attendance session's secret, or the cron secret. After it, for a person whose
request was accepted: they are seen (user row on first sight, kept online, §4)
and, for a 2xx mutation that counts, active (§5). A refused request raises
past the "after" steps, so it changes nothing.
"""

from __future__ import annotations

import hmac
import logging
import math

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError
from api.keys import ENDPOINTS, SERVICES
from api.routing import Access, Endpoint
from domain.identity import Identity, TokenError
from services.registry import Services

log = logging.getLogger("presence.api")

IDENTITY = web.RequestKey("identity", Identity)
"""The caller of a bearer endpoint."""

BEARER = web.RequestKey("bearer", str)
"""The bearer secret of a session endpoint, for the service to check against the session."""


def caller(request: web.Request) -> Identity:
    """The authenticated caller (set by the middleware on bearer endpoints)."""
    return request[IDENTITY]


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _authenticate(request: web.Request, services: Services, access: Access) -> None:
    if access.kind == "public":
        return
    token = bearer_token(request)
    if access.kind == "cron":
        secret = services.settings.cron_secret
        if not secret:
            raise ApiError(503, "The cron endpoints are off: set PRESENCE_CRON_SECRET to use them")
        if token is None or not hmac.compare_digest(token.encode(), secret.encode()):
            raise ApiError(401, "A bearer token with the cron secret is required")
        return
    if access.kind == "session":
        if token is None:
            raise ApiError(401, "The session's secret is required (Authorization: Bearer <secret>)")
        request[BEARER] = token
        return
    if token is None:
        raise ApiError(401, "A bearer token is required (Authorization: Bearer <token>)")
    try:
        identity = services.tokens.decode(token)
    except TokenError as e:
        raise ApiError(401, str(e)) from None
    if access.roles and identity.role not in access.roles:
        raise ApiError(403, f"This needs a token with role {' or '.join(access.roles)}, not {identity.role}")
    if identity.is_person:
        wait = services.rate_limit.allow(f"sub:{identity.sub}")
        if wait is not None:
            raise ApiError(
                429,
                "Too many requests for this token; slow down",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                retry_after=round(wait, 3),
            )
    request[IDENTITY] = identity


def endpoint_of(request: web.Request) -> Endpoint | None:
    return request.app[ENDPOINTS].get(request.match_info.route)


@web.middleware
async def policy_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    endpoint = endpoint_of(request)
    if endpoint is None:  # not one of ours (an unknown path, Socket.IO): aiohttp answers
        return await handler(request)
    services = request.app[SERVICES]
    _authenticate(request, services, endpoint.access)
    response = await handler(request)
    identity = request.get(IDENTITY)
    if identity is None or not identity.is_person or response.status >= 400:
        return response
    # The request was accepted: recording it never turns it into a 500 (and a retry).
    if endpoint.seen:
        try:
            await services.users.seen(identity)
        except Exception:
            log.exception("could not record %s as seen", identity.sub)
    if endpoint.activity and 200 <= response.status < 300:
        try:
            await services.activity.touch_last_activity(identity.sub)
        except Exception:
            log.exception("could not record activity of %s", identity.sub)
    return response
