"""Cross-origin requests (PRESENCE_ALLOWED_ORIGINS, SPEC.md §1).

Browsers on the listed origins (any, with `*`) may call the API with a bearer
token; no cookies are used, so no credentials are allowed. A preflight from an
origin that is not allowed gets 403 saying so, rather than a silent failure.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from infra.settings import Settings

ALLOW_HEADERS = "Authorization, Content-Type"
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
MAX_AGE = "600"


def cors_middleware(settings: Settings) -> Middleware:
    allowed = settings.origins()

    def allow(origin: str) -> str | None:
        if allowed is None:
            return "*"
        return origin if origin.rstrip("/").lower() in allowed else None

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or request.path.startswith("/socket.io/"):  # Socket.IO checks its own
            return await handler(request)
        granted = allow(origin)
        if request.method == "OPTIONS" and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            if granted is None:
                return web.json_response(
                    {"error": f"Origin {origin} is not allowed (PRESENCE_ALLOWED_ORIGINS)"}, status=403
                )
            return web.Response(
                status=204,
                headers={
                    hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: granted,
                    hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOW_METHODS,
                    hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOW_HEADERS,
                    hdrs.ACCESS_CONTROL_MAX_AGE: MAX_AGE,
                    hdrs.VARY: "Origin",
                },
            )
        response = await handler(request)
        if granted is not None:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = granted
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Retry-After"
            response.headers.add(hdrs.VARY, "Origin")
        return response

    return cors
