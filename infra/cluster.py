"""What nodes share when PRESENCE_REDIS_URL is set: one Redis client, the lock
that makes each periodic job run once per period across the cluster, and the
book of each job's last run (so any node's `/api/health` tells the cluster's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from redis.asyncio import Redis


class JobLock(Protocol):
    async def acquire(self, job: str, period: float) -> bool:
        """True when this node should run `job` for the current period."""

    async def extend(self, job: str, period: float) -> bool:
        """Keeps holding `job` while a long run goes on; False if the hold was lost."""


class LocalJobLock:
    """One node: every run is this node's."""

    async def acquire(self, job: str, period: float) -> bool:
        return True

    async def extend(self, job: str, period: float) -> bool:
        return True


class RedisJobLock:
    """The first node to ask in a period runs the job; the lock lapses just before
    the next period (a node that dies hands its jobs over after one period), and
    is extended while a run lasts longer than that, so runs never overlap."""

    def __init__(self, redis: Redis, prefix: str, node_id: str) -> None:
        self._r = redis
        self._p = prefix
        self._node = node_id

    async def acquire(self, job: str, period: float) -> bool:
        ttl_ms = max(1, int(period * 1000 * 0.9))
        return bool(await self._r.set(f"{self._p}job:{job}", self._node, px=ttl_ms, nx=True))

    async def extend(self, job: str, period: float) -> bool:
        ttl_ms = max(1, int(period * 1000 * 0.9))
        return bool(await self._r.eval(_EXTEND_IF_MINE, 1, f"{self._p}job:{job}", self._node, ttl_ms))


class JobBook(Protocol):
    async def write(self, job: str, last_run: float, last_result: Any) -> None:
        """Records a job's run (whichever node ran it)."""

    async def read(self) -> dict[str, tuple[float, Any]]:
        """`{job: (last_run, last_result)}` of every job that ran, on any node."""


class LocalJobBook:
    def __init__(self) -> None:
        self._runs: dict[str, tuple[float, Any]] = {}

    async def write(self, job: str, last_run: float, last_result: Any) -> None:
        self._runs[job] = (last_run, last_result)

    async def read(self) -> dict[str, tuple[float, Any]]:
        return dict(self._runs)


class RedisJobBook:
    """One hash, job -> JSON `[last_run, last_result]`, shared by every node (and CLI run)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._key = f"{prefix}jobs"

    async def write(self, job: str, last_run: float, last_result: Any) -> None:
        await self._r.hset(self._key, job, orjson.dumps([last_run, last_result]))

    async def read(self) -> dict[str, tuple[float, Any]]:
        raw = await self._r.hgetall(self._key)
        runs: dict[str, tuple[float, Any]] = {}
        for job, value in raw.items():
            last_run, last_result = orjson.loads(value)
            runs[job.decode() if isinstance(job, bytes) else job] = (last_run, last_result)
        return runs


# Extends the lock only if this node still holds it (atomic compare-and-expire).
_EXTEND_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def connect_redis(url: str, command_timeout: float | None = None) -> Redis:
    """A client for `url` (connections open lazily); a sentence if the package is missing.

    `command_timeout`: a command not answered in that many seconds fails (a frozen
    or partitioned Redis: nothing closes the connection, so without it a request
    waits as long as the freeze). Not for a subscriber, which waits for messages."""
    try:
        from redis.asyncio import BlockingConnectionPool, Redis
    except ImportError:  # pragma: no cover - redis is a dependency; this guards a trimmed install
        raise RuntimeError(
            "PRESENCE_REDIS_URL is set but the `redis` package is not installed: pip install redis"
        ) from None
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    # A blocking pool: under a burst (a reconnect storm after a deploy) callers
    # wait their turn for a connection instead of failing; WATCH transactions
    # hold one across a few round trips. A command that finds its pooled
    # connection closed (Redis restarted since it was last used) is sent once
    # more on a fresh one, so the first request after a restart does not fail;
    # a transaction under WATCH is never resent (redis-py raises instead).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT,
        health_check_interval=30,
        socket_keepalive=True,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=command_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis(connection_pool=pool)


async def redis_time(redis: Redis, monotonic: Callable[[], float] = time.monotonic) -> tuple[float, float]:
    """`(Redis server time, this process's monotonic time at that moment)`: the
    cluster's one clock, read at the middle of the round trip."""
    sent = monotonic()
    seconds, micros = await redis.time()
    received = monotonic()
    return seconds + micros / 1_000_000, (sent + received) / 2


def redis_unavailable(error: BaseException) -> bool:
    """True when `error` says Redis cannot be reached right now (down, restarting):
    the caller may try again shortly, so adapters answer 503, not 500."""
    try:
        from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, ConnectionError | TimeoutError | BusyLoadingError)


MAX_CONNECTIONS = 64
POOL_WAIT = 10.0
CONNECT_TIMEOUT = 5.0
"""Seconds a new Redis connection may take: a host that does not answer fails, not hangs."""
COMMAND_TIMEOUT = 5.0
"""Seconds a Redis command may take before it fails (answered 503), for the nodes' commands."""
