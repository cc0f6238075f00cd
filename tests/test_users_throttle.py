"""The `last_seen` write throttle (§4), measured by counting the UPDATE statements
the database actually receives (an `after_cursor_execute` listener)."""

from __future__ import annotations

import asyncio
import time

from domain.identity import Identity
from infra.broadcast import NullBroadcaster
from infra.cooldowns import MemoryCooldowns
from infra.settings import Settings
from presence.app import RUNTIME
from services.user_status import UserStatus
from tests.users_support import count_statements, database

USERS = 100
PER_SECOND = 1000


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_thousand_heartbeats_a_second_from_100_users_cost_about_10_writes_a_second(database_url) -> None:
    """60 simulated seconds of 1,000 touches a second (10 per user per second)."""
    clock = FakeClock()
    start = clock.now
    async with database(database_url) as sessions:
        settings = Settings(user_touch_throttle=10, user_offline_after=1800)
        users = UserStatus(sessions, clock, NullBroadcaster(), settings, MemoryCooldowns())
        people = [Identity(f"u{n}", "user", "co-1") for n in range(USERS)]
        engine = sessions.kw["bind"]
        with count_statements(engine, "UPDATE users") as updates:
            for tick in range(60 * PER_SECOND):
                clock.now = start + tick / PER_SECOND
                await users.seen(people[tick % USERS])
    # First sight: one UPDATE finds each user offline, one brings them online (200);
    # then one write per user per 10 s: t = 10, 20, 30, 40, 50 → 500 writes in 50 s = 10 a second.
    steady = len(updates) - 2 * USERS
    assert steady == 5 * USERS
    print(f"\nthrottle: {60 * PER_SECOND} touches in 60 s → {len(updates)} UPDATEs; steady state {steady / 50:.1f}/s")


async def test_rest_heartbeats_are_throttled_end_to_end(make_server) -> None:
    throttle = 30.0  # much longer than the run, so the bound below stays tight on a slow machine
    server = await make_server(user_touch_throttle=throttle)
    engine = server.app[RUNTIME].engine
    tokens = [server.auth(f"u{n}", "user", "co-1") for n in range(USERS)]

    async def beat(n: int) -> None:
        async with server.http.post("/api/users/heartbeat/", headers=tokens[n % USERS]) as resp:
            assert resp.status == 200

    with count_statements(engine, "UPDATE users") as updates:
        started = time.perf_counter()
        sent = 0
        while sent < 2000:
            await asyncio.gather(*(beat(sent + i) for i in range(USERS)))
            sent += USERS
        elapsed = time.perf_counter() - started
    windows = elapsed / throttle + 1  # throttle periods each user can write in
    assert len(updates) <= USERS * (windows + 1) + USERS  # + one extra statement at first sight
    assert len(updates) < sent / 4  # without the throttle there would be one per heartbeat
    print(
        f"\nREST: {sent} heartbeats from {USERS} users in {elapsed:.2f} s ({sent / elapsed:.0f}/s) → "
        f"{len(updates)} UPDATE statements ({len(updates) / elapsed:.0f}/s) with a {throttle:g} s throttle"
    )
