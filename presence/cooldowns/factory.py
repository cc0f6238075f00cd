"""Chooses the cooldown store from the settings."""

from __future__ import annotations

import logging

from presence.cooldowns.base import CooldownStore
from presence.cooldowns.memory import MemoryCooldowns
from presence.settings import Settings

log = logging.getLogger("presence.cooldowns")


def create_cooldowns(settings: Settings) -> CooldownStore:
    """In-process for now. With PRESENCE_REDIS_URL set, each node keeps its own
    cooldowns until the Redis sibling lands: correct, only more writes (one per
    node per period instead of one per cluster)."""
    if settings.redis_url:
        log.warning("cooldowns are per node: the Redis cooldown store is not implemented yet")
    return MemoryCooldowns()
