"""Counts mutations as activity (§5): a 2xx POST, PUT, PATCH or DELETE by a
person's token (any role but service), except heartbeats. Reads, refused
requests and heartbeats are not activity; logout is."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth import IDENTITY
from presence import keys

log = logging.getLogger("presence.activity")

MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

READ_ONLY = web.RequestKey("read_only", bool)
"""Set by handlers that answer a POST without changing anything (a batch read)."""


def is_heartbeat(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return path.rstrip("/").endswith("/heartbeat")


@web.middleware
async def activity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Innermost: a refused request raises past it, so only answers a handler returned count."""
    response = await handler(request)
    if request.method in MUTATIONS and 200 <= response.status < 300:
        identity = request.get(IDENTITY)
        if identity is not None and identity.is_person and not is_heartbeat(request) and not request.get(READ_ONLY):
            try:
                await request.app[keys.ACTIVITY].touch_last_activity(identity.sub)
            except Exception:  # the mutation succeeded; a lost activity mark must not fail it
                log.exception("could not record activity of %s", identity.sub)
    return response
