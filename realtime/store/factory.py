"""Chooses the presence store from the settings."""

from __future__ import annotations

from presence.settings import Settings
from realtime.store.base import PresenceStore
from realtime.store.memory import MemoryPresenceStore


def create_store(settings: Settings) -> PresenceStore:
    """In-process when PRESENCE_REDIS_URL is unset; otherwise shared through Redis."""
    if not settings.redis_url:
        return MemoryPresenceStore()
    raise NotImplementedError(
        "PRESENCE_REDIS_URL is set, but this build has no Redis presence store yet: "
        "unset PRESENCE_REDIS_URL to run a single node"
    )
