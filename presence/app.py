"""The composition root: `create_app(settings)` wires every part, once.

Resources live in `cleanup_ctx` generators in dependency order (database,
presence store, realtime services, jobs), each torn down after the ones that
depend on it, and only if it started.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable

import socketio
from aiohttp import web
from aiohttp.typedefs import Handler

from api import activity as activity_routes
from api import conversations, operations, pages, widget
from api import users as user_routes
from api.activity_middleware import activity_middleware
from api.auth import seen_middleware
from api.errors import MAX_BODY_BYTES, error_middleware
from api.routing import RouteTable
from db.engine import create_engine, create_session_factory
from db.users import UserDirectory
from domain.clock import Clock, system_clock
from domain.identity import TokenCodec
from domain.rate_limit import RateLimiter
from presence import keys
from presence.activity import ActivityTracker
from presence.cluster import LocalJobLock, RedisJobLock, connect_redis
from presence.cooldowns import create_cooldowns
from presence.jobs import JobRunner
from presence.metrics import Metrics
from presence.settings import Settings
from realtime.agents import AgentRooms
from realtime.gateway import SocketGateway
from realtime.store import create_store
from realtime.transport import FastJson, no_websocket_deflate
from realtime.users import UserHeartbeats, UserStatusFeed
from realtime.widget import WidgetPresence

log = logging.getLogger("presence.app")

ROUTE_TABLES: list[RouteTable] = [
    operations.routes,
    conversations.routes,
    widget.routes,
    pages.routes,
    user_routes.routes,
    activity_routes.routes,
]


def create_app(settings: Settings, clock: Clock = system_clock) -> web.Application:
    settings.validate()
    metrics = Metrics()
    middlewares = [
        no_websocket_deflate,
        _latency_middleware(metrics),
        error_middleware,
        seen_middleware,
        activity_middleware,
    ]
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    node_id = uuid.uuid4().hex[:12]
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)
    tokens = TokenCodec(settings.resolved_jwt_secret())
    # The one place that knows whether this is a cluster: with Redis, presence,
    # cooldowns, job runs and Socket.IO fan-out are shared by every node.
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    store = create_store(settings, node_id, clock, redis)
    sio = socketio.AsyncServer(
        client_manager=(
            socketio.AsyncRedisManager(settings.redis_url, channel=f"{settings.redis_prefix}socketio")
            if settings.redis_url
            else None
        ),
        async_mode="aiohttp",
        cors_allowed_origins="*",
        logger=False,
        engineio_logger=False,
        max_http_buffer_size=MAX_BODY_BYTES,
        json=FastJson,
        # Each socket's events are handled one after another, in the order sent:
        # a widget:offline is never overtaken by its own disconnect, and no task
        # is spawned per event (~6% more heartbeats per CPU-second).
        async_handlers=False,
    )
    sio.attach(app)
    gateway = SocketGateway(sio, tokens, metrics, RateLimiter(settings.rate_limit, 2 * settings.rate_limit, clock))
    cooldowns = create_cooldowns(settings, redis)
    user_feed = UserStatusFeed(sio)
    users = UserDirectory(
        sessions,
        clock,
        cooldowns,
        touch_throttle=settings.user_touch_throttle,
        offline_after=settings.user_offline_after,
        on_online=user_feed.online,
        on_offline=user_feed.offline,
    )
    UserHeartbeats(gateway, users)
    activity_tracker = ActivityTracker(sessions, cooldowns, settings.activity_cooldown, clock)
    widget_presence = WidgetPresence(gateway, store, sessions, settings, clock, metrics, node_id)
    agent_rooms = AgentRooms(gateway, widget_presence, sessions, node_id)

    async def reclaim() -> None:  # this node was taken for dead: its live sockets count again
        await widget_presence.reclaim()
        await agent_rooms.reclaim()

    app[keys.RECLAIM] = reclaim
    jobs = JobRunner(clock, metrics, RedisJobLock(redis, settings.redis_prefix, node_id) if redis else LocalJobLock())
    jobs.add("widget_leases", settings.widget_sweep_every, widget_presence.sweep.run)
    jobs.add("users_offline", settings.user_sweep_every, users.sweep)

    app[keys.NODE_ID] = node_id
    app[keys.REDIS] = redis
    app[keys.SETTINGS] = settings
    app[keys.RATE_LIMIT] = RateLimiter(settings.rate_limit, 2 * settings.rate_limit, clock)
    app[keys.CLOCK] = clock
    app[keys.ENGINE] = engine
    app[keys.SESSIONS] = sessions
    app[keys.TOKENS] = tokens
    app[keys.USERS] = users
    app[keys.USER_FEED] = user_feed
    app[keys.ACTIVITY] = activity_tracker
    app[keys.COOLDOWNS] = cooldowns
    app[keys.STORE] = store
    app[keys.SIO] = sio
    app[keys.WIDGET] = widget_presence
    app[keys.METRICS] = metrics
    app[keys.JOBS] = jobs
    app[keys.ROUTE_TABLES] = ROUTE_TABLES
    for table in ROUTE_TABLES:
        table.register(app)

    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_presence_store)
    app.cleanup_ctx.append(_cooldowns)
    app.cleanup_ctx.append(_realtime)
    app.cleanup_ctx.append(_jobs)
    log.info(
        "node %s: database %s, presence %s",
        node_id,
        engine.url.render_as_string(hide_password=True),
        "redis" if settings.redis_url else "in-process",
    )
    return app


async def _bounded(step: str, work: Awaitable[object]) -> None:
    """A shutdown step that cannot hang the process: it gets SHUTDOWN_STEP seconds."""
    try:
        async with asyncio.timeout(SHUTDOWN_STEP):
            await work
    except TimeoutError:
        log.warning("shutdown: %s took over %s s; going on", step, SHUTDOWN_STEP)
    except Exception:
        log.exception("shutdown: %s failed; going on", step)


SHUTDOWN_STEP = 5.0


async def _database(app: web.Application) -> AsyncIterator[None]:
    yield
    await _bounded("database", app[keys.ENGINE].dispose())


async def _redis(app: web.Application) -> AsyncIterator[None]:
    yield
    redis = app[keys.REDIS]
    if redis is not None:
        await _bounded("redis", redis.aclose())


async def _presence_store(app: web.Application) -> AsyncIterator[None]:
    await app[keys.STORE].start(app[keys.RECLAIM])
    yield
    await _bounded("presence store", app[keys.STORE].close())


async def _cooldowns(app: web.Application) -> AsyncIterator[None]:
    yield
    await _bounded("cooldowns", app[keys.COOLDOWNS].close())


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    yield
    await _bounded("sockets", app[keys.SIO].shutdown())
    await _bounded("timers", app[keys.WIDGET].close())


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    app[keys.JOBS].start()
    yield
    await _bounded("jobs", app[keys.JOBS].shutdown())


def _latency_middleware(metrics: Metrics):  # type: ignore[no-untyped-def]
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
