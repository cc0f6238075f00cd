"""Cooldowns: "at most one write per key per period", behind a small interface.

Used by the `last_seen` throttle (§4) and the activity cooldown (§5). The
in-process store is the default; a Redis sibling (shared by every node) will
implement the same `CooldownStore`, and nothing outside this package may assume
which one runs.
"""

from infra.cooldowns.base import CooldownStore
from infra.cooldowns.factory import create_cooldowns
from infra.cooldowns.memory import MemoryCooldowns

__all__ = ["CooldownStore", "MemoryCooldowns", "create_cooldowns"]
