"""Chooses the cooldown store: in-process, or shared through Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.cooldowns.base import CooldownStore
from infra.cooldowns.memory import MemoryCooldowns
from infra.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis


def create_cooldowns(settings: Settings, redis: Redis | None = None) -> CooldownStore:
    """In-process without Redis; with it, one claim per key for the whole cluster."""
    if redis is None:
        return MemoryCooldowns()
    from infra.cooldowns.redis import RedisCooldowns

    return RedisCooldowns(redis, settings.redis_prefix)
