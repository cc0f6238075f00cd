"""The `CooldownStore` contract over both siblings: one claim per key per period."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra.cluster import connect_redis
from infra.cooldowns import CooldownStore, create_cooldowns
from infra.settings import Settings


@pytest.fixture(params=["memory", "redis"])
async def cooldowns(request: pytest.FixtureRequest) -> AsyncIterator[CooldownStore]:
    if request.param == "memory":
        yield create_cooldowns(Settings())
        return
    cfg: dict[str, Any] = request.getfixturevalue("redis_settings")
    redis = connect_redis(cfg["redis_url"])
    yield create_cooldowns(Settings(redis_prefix=cfg["redis_prefix"]), redis)
    await redis.aclose()


async def test_one_claim_per_period_and_release(cooldowns: CooldownStore) -> None:
    import time

    now = time.time()
    assert await cooldowns.claim("k", 0.3, now) is True
    assert await cooldowns.claim("k", 0.3, now) is False
    assert await cooldowns.claim("other", 0.3, now) is True
    await cooldowns.release("k")
    assert await cooldowns.claim("k", 0.3, now) is True


async def test_racing_claims_give_one_winner(cooldowns: CooldownStore) -> None:
    import time

    now = time.time()
    results = await asyncio.gather(*(cooldowns.claim("race", 5, now) for _ in range(20)))
    assert results.count(True) == 1
