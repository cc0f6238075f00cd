"""Cooldowns shared by every node: a claim is a Redis key set with NX and a TTL."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisCooldowns:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._r = redis
        self._p = f"{prefix}cd:"

    async def claim(self, key: str, period: float, now: float) -> bool:
        """Atomic across the cluster; the period is measured by Redis (one clock for all)."""
        return bool(await self._r.set(self._p + key, b"1", px=max(1, int(period * 1000)), nx=True))

    async def release(self, key: str) -> None:
        await self._r.delete(self._p + key)

    async def close(self) -> None:
        return None  # the shared client is closed by whoever made it
