"""The in-process cooldown store: a dict of expiry times, bounded in size."""

from __future__ import annotations

DEFAULT_MAX_KEYS = 1_000_000


class MemoryCooldowns:
    """Claims live in this process only (one node, or one node's share of a cluster).

    Expired claims are pruned when the dict reaches `max_keys`; if it is still
    full, the oldest claims are dropped. Losing a claim early costs at most one
    extra write, never a missed one.
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._until: dict[str, float] = {}
        self._max = max_keys

    async def claim(self, key: str, period: float, now: float) -> bool:
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until.pop(key, None)  # re-insert at the end: insertion order is claim order
        if len(self._until) >= self._max:
            self._prune(now)
        self._until[key] = now + period
        return True

    async def release(self, key: str) -> None:
        self._until.pop(key, None)

    async def close(self) -> None:
        self._until.clear()

    def _prune(self, now: float) -> None:
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]
        while len(self._until) >= self._max:
            del self._until[next(iter(self._until))]

    def __len__(self) -> int:
        return len(self._until)
