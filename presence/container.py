"""The one builder of services, shared by the server (`presence.app`) and every
CLI command (`open_services`).

`build` makes the resources (engine, Redis client, presence store, cooldowns)
and the services on them, all through the same code whoever calls it; only
the `Broadcaster` differs: the Socket.IO server's, a CLI process's write-only
Socket.IO Redis manager, or none. The one place that knows whether this is a
cluster: with Redis, presence, cooldowns, job locks and job runs are shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import SessionFactory, create_engine, create_session_factory
from domain.clock import Clock, system_clock
from domain.identity import TokenCodec
from domain.rate_limit import RateLimiter
from infra import perf
from infra.broadcast import Broadcaster, NullBroadcaster
from infra.cluster import (
    COMMAND_TIMEOUT,
    LocalJobBook,
    LocalJobLock,
    RedisJobBook,
    RedisJobLock,
    connect_redis,
    redis_time,
)
from infra.cooldowns import CooldownStore, create_cooldowns
from infra.jobs import JobRunner
from infra.metrics import Metrics
from infra.settings import Settings
from infra.steady_clock import SteadyClock
from infra.tasks import cancelling
from realtime.store import create_store
from realtime.store.base import PresenceStore
from realtime.store.connections import Connections
from services.activity import ActivityTracker
from services.attendance import Attendance
from services.credits import Credits
from services.operations import Operations
from services.overview import Overview
from services.registry import Services
from services.user_status import UserStatus
from services.widget import AgentRooms, Conversations, WidgetPresence

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("presence.container")

SHUTDOWN_STEP = 5.0
"""Seconds each shutdown step may take before the process goes on without it."""


CLOCK_SYNC_EVERY = 1.0
"""Seconds between two readings of Redis's clock, which every node's clock follows."""


@dataclass(slots=True)
class Runtime:
    """The services and the resources behind them, to start and to close."""

    services: Services
    broadcaster: Broadcaster
    node_id: str
    engine: AsyncEngine
    db: SessionFactory
    redis: Redis | None
    store: PresenceStore
    cooldowns: CooldownStore
    steady: SteadyClock | None = None
    subscriber: Redis | None = None
    _clock_sync: asyncio.Task[None] | None = None

    async def follow_redis_time(self, step: bool = False) -> None:
        """With Redis, this node's clock follows Redis's (one clock for the cluster)."""
        if self.redis is None or self.steady is None:
            return
        try:
            remote, at = await redis_time(self.redis)
        except Exception:
            if cancelling():
                raise asyncio.CancelledError from None
            log.debug("could not read Redis's clock; keeping the last reading", exc_info=True)
            return
        self.steady.observe(remote, at, step=step)

    async def _keep_following(self) -> None:
        while not cancelling():
            await asyncio.sleep(CLOCK_SYNC_EVERY)
            await self.follow_redis_time()
        raise asyncio.CancelledError

    async def start_node(self) -> None:
        """What a serving node runs besides requests: the store's node keepalive
        and change subscription, the feed to agents, the periodic jobs."""
        if self.redis is not None and self.steady is not None:
            await self.follow_redis_time(step=True)  # before anything is timed
            self._clock_sync = asyncio.create_task(self._keep_following(), name="clock-sync")
        widget = self.services.widget
        await widget.start()

        async def reclaim() -> None:  # this node was taken for dead: its live sockets count again
            await widget.reclaim()
            await self.services.agents.reclaim()

        await self.store.start(reclaim, widget.resync)
        self.services.jobs.start()

    async def stop_jobs(self) -> None:
        await bounded("jobs", self.services.jobs.shutdown())

    async def close(self) -> None:
        """Releases every resource, each step bounded so the process never hangs."""
        if self._clock_sync is not None:
            self._clock_sync.cancel()
            await bounded("clock", _finished(self._clock_sync))
        await bounded("timers", self.services.widget.close())
        await bounded("overview", self.services.overview.close())
        await bounded("presence store", self.store.close())
        await bounded("cooldowns", self.cooldowns.close())
        await bounded("database", self.engine.dispose())
        if self.redis is not None:
            await bounded("redis", self.redis.aclose())
        if self.subscriber is not None:
            await bounded("redis subscriber", self.subscriber.aclose())


async def _finished(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def bounded(step: str, work: Awaitable[object]) -> None:
    """A shutdown step that cannot hang the process: it gets SHUTDOWN_STEP seconds."""
    try:
        async with asyncio.timeout(SHUTDOWN_STEP):
            await work
    except TimeoutError:
        log.warning("shutdown: %s took over %s s; going on", step, SHUTDOWN_STEP)
    except Exception:
        log.exception("shutdown: %s failed; going on", step)


def build(
    settings: Settings, broadcaster: Broadcaster, clock: Clock = system_clock, node_id: str | None = None
) -> Runtime:
    settings.validate()
    # Durations are measured on a clock that never jumps (infra/steady_clock.py). A
    # SteadyClock given is used as is; the system clock is made one; any other clock
    # (a test's fake clock) is taken as it is, so a test that moves it moves time.
    if clock is system_clock:
        clock = SteadyClock()
    steady = clock if isinstance(clock, SteadyClock) else None
    node_id = node_id or uuid.uuid4().hex[:12]
    metrics = Metrics()
    engine = create_engine(settings.database_url)
    db = create_session_factory(engine)
    redis = subscriber = None
    if settings.redis_url:
        redis = connect_redis(settings.redis_url, command_timeout=COMMAND_TIMEOUT)
        subscriber = connect_redis(settings.redis_url)  # waits for messages: no command timeout
    store = create_store(settings, node_id, clock, redis, subscriber)
    cooldowns = create_cooldowns(settings, redis)
    connections = Connections()
    if redis is not None:
        lock, book = RedisJobLock(redis, settings.redis_prefix, node_id), RedisJobBook(redis, settings.redis_prefix)
        jobs = JobRunner(clock, metrics, lock, book)
    else:
        jobs = JobRunner(clock, metrics, LocalJobLock(), LocalJobBook())
    on = perf.enabled_set()
    widget = WidgetPresence(
        db,
        clock,
        broadcaster,
        settings,
        store,
        connections,
        metrics,
        node_id,
        registry="registry" in on,  # perf: widget:online and conversation:join read the store's copy
        batched_departures="departures" in on,  # perf: lastSeen writes group-committed
    )
    conversations = Conversations(db, clock, store, widget)
    users = UserStatus(db, clock, broadcaster, settings, cooldowns)
    attendance = Attendance(db, clock, broadcaster, settings, cooldowns, metrics)
    credits = Credits(db, clock, broadcaster, settings, metrics)
    services = Services(
        settings=settings,
        clock=clock,
        metrics=metrics,
        tokens=TokenCodec(settings.resolved_jwt_secret()),
        rate_limit=RateLimiter(settings.rate_limit, 2 * settings.rate_limit, clock),
        jobs=jobs,
        connections=connections,
        widget=widget,
        conversations=conversations,
        agents=AgentRooms(conversations, broadcaster, store, connections, node_id),
        users=users,
        activity=ActivityTracker(db, clock, broadcaster, settings, cooldowns),
        attendance=attendance,
        operations=Operations(db, store, jobs, redis is not None),
        credits=credits,
        overview=Overview(db, clock, broadcaster, settings, store),
    )
    jobs.add("widget_leases", settings.widget_sweep_every, widget.sweep.run)
    jobs.add("users_offline", settings.user_sweep_every, users.sweep)
    jobs.add("session_timeout", settings.session_sweep_every, attendance.sweep)
    jobs.add("credit_monitor", settings.stream_check_every, credits.monitor)
    return Runtime(services, broadcaster, node_id, engine, db, redis, store, cooldowns, steady, subscriber)


@contextlib.asynccontextmanager
async def open_services(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[Services]:
    """The services for a CLI command: the same builder as the server's; with Redis,
    what they tell sockets is published to every node through a write-only
    Socket.IO Redis manager."""
    from realtime.sockets.broadcaster import ManagerBroadcaster, redis_manager

    broadcaster: Broadcaster = NullBroadcaster()
    if settings.redis_url:
        broadcaster = ManagerBroadcaster(redis_manager(settings.redis_url, settings.redis_prefix, write_only=True))
    runtime = build(settings, broadcaster, clock)
    await runtime.follow_redis_time(step=True)  # a command's times on the cluster's clock too
    try:
        yield runtime.services
    finally:
        await runtime.close()
