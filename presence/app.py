"""The composition root of the server: `create_app(settings)` wires every part, once.

The services come from `presence.container.build`, the same builder every CLI
command uses; here they get their adapters: Socket.IO handlers, REST route
tables and pages, middlewares. Resources start in one `cleanup_ctx` and are
torn down in reverse order, each step bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import socketio
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from api import activity as activity_routes
from api import attendance as attendance_routes
from api import console, conversations, credits, livestreams, meetings, operations, overview, pages, sessions, widget
from api import users as user_routes
from api.cors import cors_middleware
from api.errors import MALFORMED_REQUESTS, MAX_BODY_BYTES, error_middleware
from api.keys import ENDPOINTS, ROUTE_TABLES, SERVICES
from api.policy import policy_middleware
from api.routing import RouteTable
from api.security import security_headers
from domain.client_address import parse_networks
from domain.clock import Clock, system_clock
from domain.rate_limit import RateLimiter
from infra.metrics import Metrics
from infra.settings import Settings
from presence import perf
from presence.container import Runtime, bounded, build
from realtime.sockets.broadcaster import ServerBroadcaster, redis_manager
from realtime.sockets.gateway import SocketGateway
from realtime.sockets.transport import FastJson, disconnect_on_malformed, no_websocket_deflate
from realtime.sockets.users import UserEvents
from realtime.sockets.widget import AgentEvents, WidgetEvents

log = logging.getLogger("presence.app")

RUNTIME = web.AppKey("runtime", Runtime)
"""The services and their resources (tests reach the engine and the store here)."""

ROUTE_TABLE_LIST: list[RouteTable] = [
    operations.routes,
    conversations.routes,
    widget.routes,
    pages.routes,
    user_routes.routes,
    activity_routes.routes,
    meetings.routes,
    sessions.routes,
    attendance_routes.routes,
    credits.routes,
    livestreams.routes,
    overview.routes,
    console.routes,
]


def create_app(settings: Settings, clock: Clock = system_clock) -> web.Application:
    settings.validate()
    sio = socketio.AsyncServer(
        client_manager=redis_manager(settings.redis_url, settings.redis_prefix) if settings.redis_url else None,
        async_mode="aiohttp",
        cors_allowed_origins=settings.socket_origins(),
        logger=False,
        engineio_logger=False,
        max_http_buffer_size=MAX_BODY_BYTES,
        json=FastJson,
        # Each socket's events are handled one after another, in the order sent:
        # a widget:offline is never overtaken by its own disconnect, and no task
        # is spawned per event (~6% more heartbeats per CPU-second).
        async_handlers=False,
    )
    runtime = build(settings, ServerBroadcaster(sio), clock)
    services = runtime.services
    middlewares: list[Middleware] = [
        no_websocket_deflate,
        _latency_middleware(services.metrics),
        cors_middleware(settings),
        error_middleware,
        policy_middleware,
    ]
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    logging.getLogger("aiohttp.server").addFilter(MALFORMED_REQUESTS)
    app.on_response_prepare.append(security_headers)
    sio.attach(app)
    perf.install(app, sio)  # perf: GC tuning and the transport measures (presence/perf.py, PRESENCE_PERF)
    disconnect_on_malformed(sio, services.metrics.events.labels("malformed", "refused").inc)

    limiter = RateLimiter(settings.rate_limit, 2 * settings.rate_limit, services.clock)
    gateway = SocketGateway(
        sio,
        services.connections,
        services.tokens,
        services.metrics,
        limiter,
        per_address=settings.max_connections_per_ip,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )
    WidgetEvents(gateway, services.widget)
    AgentEvents(gateway, services.agents)
    UserEvents(gateway, services.users)

    app[SERVICES] = services
    app[RUNTIME] = runtime
    app[ROUTE_TABLES] = ROUTE_TABLE_LIST
    app[ENDPOINTS] = {}
    for table in ROUTE_TABLE_LIST:
        table.register(app, app[ENDPOINTS])

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.start_node()
        yield
        await runtime.stop_jobs()
        await bounded("sockets", sio.shutdown())
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)
    log.info(
        "node %s: database %s, presence %s",
        runtime.node_id,
        runtime.engine.url.render_as_string(hide_password=True),
        "redis" if settings.redis_url else "in-process",
    )
    return app


def _latency_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            route = request.match_info.route.resource
            name = route.canonical if route is not None else "unmatched"
            if not name.startswith("/socket.io"):
                metrics.requests.labels(request.method, name, str(status)).observe(time.perf_counter() - started)

    return latency
