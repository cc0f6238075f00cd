"""Times the §5 metrics query on 1,000,000 users in PostgreSQL.

    make bench-activity            # or: python bench/activity_metrics.py [--users N] [--runs N]

Uses PRESENCE_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
as the server to create a scratch database `presence_bench` in (dropped and
recreated each run). Users are loaded with generate_series (seconds, not
minutes): 10% never active, the rest active at a random time in the last 90
days, each with its last day and about two earlier days in the per-day record.
Then it times the exact code the API runs (`ActivityTracker.metrics`, with and
without the 30-day breakdown) and prints min / median / max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.engine import create_engine, create_session_factory
from db.migrate import upgrade
from domain.clock import system_clock
from infra.broadcast import NullBroadcaster
from infra.cooldowns import MemoryCooldowns
from infra.settings import Settings
from services.activity import ActivityTracker

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DB_NAME = "presence_bench"

LOAD_USERS = """
INSERT INTO users (id, name, role, company_id, created_at, is_online, last_seen, last_activity_at)
SELECT 'u' || g, NULL, 'user', 'co-' || (g % 100), now() - interval '120 days', false, NULL,
       CASE WHEN g % 10 = 0 THEN NULL ELSE now() - random() * interval '90 days' END
FROM generate_series(1, :n) AS g
"""
LOAD_DAYS = """
INSERT INTO user_activity_days (user_id, day)
SELECT id, d::date FROM (
    SELECT id, (last_activity_at AT TIME ZONE 'UTC')::date AS d FROM users WHERE last_activity_at IS NOT NULL
    UNION
    SELECT id, (last_activity_at AT TIME ZONE 'UTC')::date - (1 + (random() * 20)::int) FROM users
    WHERE last_activity_at IS NOT NULL
    UNION
    SELECT id, (last_activity_at AT TIME ZONE 'UTC')::date - (21 + (random() * 30)::int) FROM users
    WHERE last_activity_at IS NOT NULL
) AS x
"""


def scratch_database(server_url: str) -> str:
    url = make_url(server_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return url.set(database=DB_NAME).render_as_string(hide_password=False)


async def load(url: str, users: int) -> None:
    engine = create_engine(url)
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text(LOAD_USERS), {"n": users})
        await conn.execute(text(LOAD_DAYS))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE users"))
        await conn.execute(text("VACUUM ANALYZE user_activity_days"))
        days = await conn.scalar(text("SELECT count(*) FROM user_activity_days"))
    await engine.dispose()
    print(f"loaded {users:,} users and {days:,} activity days in {time.perf_counter() - started:.1f} s")


def tracker_on(engine: object) -> ActivityTracker:
    """The service the API's GET /api/activity/metrics calls, on this engine."""
    return ActivityTracker(
        create_session_factory(engine),  # type: ignore[arg-type]
        system_clock,
        NullBroadcaster(),
        Settings(),
        MemoryCooldowns(),
    )


async def measure(url: str, runs: int) -> None:
    engine = create_engine(url)
    tracker = tracker_on(engine)
    await tracker.metrics(detailed=True)  # warm the pool and the cache
    for detailed in (False, True):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            m = await tracker.metrics(detailed=detailed)
            times.append((time.perf_counter() - started) * 1000)
        f = m.figures
        print(
            f"metrics{' ?detailed=1' if detailed else '           '}: "
            f"min {min(times):.1f} ms, median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
            f"over {runs} runs (dau {f.dau:,}, wau {f.wau:,}, mau {f.mau:,}, "
            f"total {f.total_users:,}, never {f.never_active:,})"
        )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    url = scratch_database(os.environ.get("PRESENCE_BENCH_POSTGRES_URL", DEFAULT_URL))
    upgrade(url)
    asyncio.run(load(url, args.users))
    asyncio.run(measure(url, args.runs))


if __name__ == "__main__":
    main()
