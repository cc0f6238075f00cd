"""Token buckets: at most `rate` actions per second per key, with bursts of `burst`.

Used for 429 answers (SPEC.md §2): per person token over REST, per socket over
Socket.IO. Limits are per node; with several nodes a client spread over them
gets each node's allowance, which still stops a runaway client.
"""

from __future__ import annotations

from domain.clock import Clock

DEFAULT_MAX_KEYS = 200_000


class RateLimiter:
    def __init__(self, rate: float, burst: float, clock: Clock, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._clock = clock
        self._max = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def allow(self, key: str) -> float | None:
        """None when the action may go ahead; else the seconds until it may."""
        if self._rate <= 0:
            return None
        now = self._clock()
        tokens, at = self._buckets.get(key, (self._burst, now))
        # A clock stepped back must not drain the bucket (and refuse everyone for as long).
        tokens = min(self._burst, tokens + max(0.0, now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
        if key not in self._buckets and len(self._buckets) >= self._max:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return None

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def _prune(self, now: float) -> None:
        """Drops buckets that have refilled (forgetting them changes nothing), then the oldest."""
        full = [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self._rate >= self._burst]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) >= self._max:
            del self._buckets[next(iter(self._buckets))]
