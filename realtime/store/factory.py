"""Chooses the presence store from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.clock import Clock
from infra.settings import Settings
from realtime.store.base import PresenceStore
from realtime.store.memory import MemoryPresenceStore

if TYPE_CHECKING:
    from redis.asyncio import Redis


def create_store(
    settings: Settings, node_id: str, clock: Clock, redis: Redis | None = None, subscriber: Redis | None = None
) -> PresenceStore:
    """In-process without Redis; with it, shared by every node of the cluster.
    `subscriber`: the client whose connection waits for the changes channel (no
    command timeout), if not `redis` itself."""
    if redis is None:
        return MemoryPresenceStore()
    from realtime.store.redis import RedisPresenceStore

    return RedisPresenceStore(
        redis, settings.redis_prefix, node_id, clock, keepalive_every=settings.widget_sweep_every, subscriber=subscriber
    )
