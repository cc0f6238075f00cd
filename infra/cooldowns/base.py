"""The cooldown store interface."""

from __future__ import annotations

from typing import Protocol


class CooldownStore(Protocol):
    async def claim(self, key: str, period: float, now: float) -> bool:
        """True when no claim on `key` is live; the caller then holds it for `period` seconds.

        Atomic: of callers racing for one key, one gets True. `now` is the
        caller's clock (a shared store may use its own).
        """

    async def release(self, key: str) -> None:
        """Drops a claim (the write it stood for failed, or the state it guarded changed)."""

    async def close(self) -> None:
        """Releases connections; claims of an in-process store are simply forgotten."""
