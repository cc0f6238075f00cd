"""Part 4: periodic sweeps at 10k, 100k, 1M rows with 0.1% expired (PostgreSQL), and the widget lease sweep.

Each sweep is a `SweepCase`: `seed(url, rows, expired)` loads a scratch
database with generate_series (seconds for a million rows), `run(url)` is the
exact code the job runs and returns how many it expired. The time of `run`
should grow with the expired rows, not with all rows: the table shows both.

Registered: `users` (db/queries/users.py `sweep`, the job `users_offline`),
`widget_leases` (realtime/store/memory.py `expired()` + `expire()`, in process),
`sessions` (services/attendance.py `sweep`, the job `session_timeout`) and
`streams` (services/credits.py `monitor`, the job `credit_monitor`: 0.1% of the
live streams silent past PRESENCE_STREAM_END_AFTER, the rest heartbeating).
`register_sweep(name, seed, run)` adds another.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

SIZES = (10_000, 100_000, 1_000_000)
EXPIRED_SHARE = 0.001
RUNS = 5
DB_NAME = "presence_bench_sweeps"


@dataclass
class SweepCase:
    seed: Callable[[str, int, int], Awaitable[None]]
    run: Callable[[str], Awaitable[int]]
    needs_postgres: bool = True


SWEEPS: dict[str, SweepCase | None] = {}


def register_sweep(
    name: str, seed: Callable[[str, int, int], Awaitable[None]], run: Callable[[str], Awaitable[int]]
) -> None:
    """The hook for the sweeps still to come (sessions §6, streams §7): seed(url, rows, expired), run(url) -> count."""
    SWEEPS[name] = SweepCase(seed, run)


# ------------------------------------------------------------------ users (§4)
USER_OFFLINE_AFTER = 1800

SEED_USERS = """
INSERT INTO users (id, name, role, company_id, created_at, is_online, last_seen)
SELECT 'u' || g, NULL, 'user', 'co-' || (g % 100), now() - interval '30 days',
       g % 10 = 0 OR g <= :expired,
       CASE WHEN g <= :expired THEN now() - interval '2 hours'
            WHEN g % 10 = 0 THEN now() - random() * interval '10 minutes'
            ELSE now() - interval '1 day' - random() * interval '20 days' END
FROM generate_series(1, :n) AS g
"""
# Before each timed run: the same expired users online again (the previous run took them offline).
REARM_USERS = "UPDATE users SET is_online = true WHERE id = ANY(:ids)"


async def _users_seed(url: str, rows: int, expired: int) -> None:
    from db.engine import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE users CASCADE"))
        await conn.execute(text(SEED_USERS), {"n": rows, "expired": expired})
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE users"))
    await engine.dispose()
    _users_state["ids"] = [f"u{g}" for g in range(1, expired + 1)]


_users_state: dict[str, list[str]] = {"ids": []}
FIXED_EXPIRED = 100
"""The second measure at every size: this many expired whatever the size (time should stay flat)."""
_rearm: dict[str, int | None] = {"limit": None}


def _ids(ids: list[str]) -> list[str]:
    limit = _rearm["limit"]
    return ids if limit is None else ids[:limit]


async def _users_run(url: str) -> int:
    from db.engine import create_engine, create_session_factory
    from db.queries import users as user_queries

    engine = create_engine(url)
    sessions = create_session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(text(REARM_USERS), {"ids": _ids(_users_state["ids"])})
    cutoff = datetime.now(UTC) - timedelta(seconds=USER_OFFLINE_AFTER)
    started = time.perf_counter()
    async with sessions() as session:
        gone = await user_queries.sweep(session, cutoff)
    _users_state["last_s"] = time.perf_counter() - started  # type: ignore[assignment]
    await engine.dispose()
    return len(gone)


# ------------------------------------------------------------------ widget leases (§3, in process)
_leases: dict[str, object] = {}


async def _leases_seed(_url: str, rows: int, expired: int) -> None:
    from realtime.store.memory import MemoryPresenceStore

    store = MemoryPresenceStore()
    now = time.time()
    for i in range(rows):
        await store.bind(f"c{i}", f"s{i}", f"sid{i}", "node", now - (120 if i < expired else 1))
    _leases["store"], _leases["now"], _leases["rows"] = store, now, rows


async def _leases_run(_url: str) -> int:
    store = _leases["store"]
    now = _leases["now"]
    started = time.perf_counter()
    found = await store.expired(now, 60)  # type: ignore[attr-defined]
    for conversation_id, sid in found:
        await store.expire(conversation_id, sid, now, 60)  # type: ignore[attr-defined]
    _leases["last_s"] = time.perf_counter() - started
    return len(found)


# ------------------------------------------------------------------ services (sessions §6, streams §7)
_state: dict[str, object] = {}


def _services(url: str):  # type: ignore[no-untyped-def]
    from infra.broadcast import NullBroadcaster
    from infra.settings import Settings
    from presence.container import build

    return build(Settings(database_url=url, jwt_secret="b" * 32), NullBroadcaster())


async def _vacuum(url: str, *tables: str) -> None:
    from db.engine import create_engine

    engine = create_engine(url)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for t in tables:
            await conn.execute(text(f"VACUUM ANALYZE {t}"))
    await engine.dispose()


SEED_SESSIONS = """
INSERT INTO meetings (id, title, zoom_url, teacher_id, teacher_name, starts_at, created_at, updated_at)
SELECT 'm' || g, 'Meeting ' || g, 'https://zoom.example/j/' || g, 't' || (g % 50), NULL, now(), now(), now()
FROM generate_series(1, greatest(1, :n / 100)) AS g;
"""
# History (ended), a few live ones heartbeating, and `expired` active ones silent for an hour.
SEED_SESSION_ROWS = """
INSERT INTO attendance_sessions (id, meeting_id, student_id, student_name, clicked_at, last_activity_at,
                                 session_ended_at, status, duration_minutes)
SELECT 's' || g, 'm' || (1 + g % greatest(1, :n / 100)), 'st' || g, NULL,
       now() - interval '2 hours',
       CASE WHEN g <= :expired THEN now() - interval '1 hour' ELSE now() - interval '30 seconds' END,
       CASE WHEN g <= :expired OR g % 100 = 0 THEN NULL ELSE now() - interval '1 hour' END,
       CASE WHEN g <= :expired OR g % 100 = 0 THEN 'active' ELSE 'completed' END,
       CASE WHEN g <= :expired OR g % 100 = 0 THEN NULL ELSE 60 END
FROM generate_series(1, :n) AS g
"""
REARM_SESSIONS = (
    "UPDATE attendance_sessions SET status = 'active', session_ended_at = NULL, duration_minutes = NULL "
    "WHERE id = ANY(:ids)"
)


async def _sessions_seed(url: str, rows: int, expired: int) -> None:
    from db.engine import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE attendance_sessions, meetings CASCADE"))
        await conn.execute(text(SEED_SESSIONS), {"n": rows})
        await conn.execute(text(SEED_SESSION_ROWS), {"n": rows, "expired": expired})
    await engine.dispose()
    await _vacuum(url, "attendance_sessions", "meetings")
    _state["session_ids"] = [f"s{g}" for g in range(1, expired + 1)]


async def _sessions_run(url: str) -> int:
    runtime = _services(url)
    async with runtime.engine.begin() as conn:
        await conn.execute(text(REARM_SESSIONS), {"ids": _ids(_state["session_ids"])})  # type: ignore[arg-type]
    started = time.perf_counter()
    n = await runtime.services.attendance.sweep()
    _state["last_s"] = time.perf_counter() - started
    await runtime.close()
    return n


SEED_STREAM_USERS = """
INSERT INTO users (id, name, role, company_id, created_at, is_online, last_seen, credits)
SELECT 'u' || g, NULL, 'user', 'co-' || (g % 100), now() - interval '30 days', false, NULL, 1000
FROM generate_series(1, :n) AS g
"""
# Every stream live with block 0 paid: `expired` ones started 25 minutes ago and silent for 20 (past
# END_AFTER), the rest started 10 minutes ago and heartbeating. `due_at` as the server stores it
# (domain.credits.due_at with the default settings, recorded in credit_metering): 10 minutes ago for
# the silent ones (their warning point, then the end), about 10 minutes ahead (the warning point) for
# the others, whose next block starts in 20 minutes: nothing of theirs comes due while the bench runs.
SEED_STREAMS = """
INSERT INTO livestreams (id, user_id, title, status, created_at, started_at, credits_consumed, last_heartbeat_at,
                         due_at)
SELECT 'l' || g, 'u' || g, 'Stream ' || g, 'live', t.started, t.started, 1, t.heartbeat,
       LEAST(t.started + interval '30 minutes', t.heartbeat + interval '10 minutes')
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT CASE WHEN g <= :expired THEN now() - interval '25 minutes'
                          ELSE now() - interval '10 minutes' END AS started,
                     CASE WHEN g <= :expired THEN now() - interval '20 minutes'
                          ELSE now() - interval '10 seconds' END AS heartbeat) AS t
"""
SEED_METERING = """
INSERT INTO credit_metering (id, block, warn_after, end_after, updated_at)
VALUES (1, :block, :warn_after, :end_after, now())
"""
REARM_STREAMS = (
    "UPDATE livestreams SET status = 'live', ended_at = NULL, end_reason = NULL, warned_at = NULL, "
    "due_at = last_heartbeat_at + interval '10 minutes' WHERE id = ANY(:ids)"
)


async def _streams_seed(url: str, rows: int, expired: int) -> None:
    from db.engine import create_engine
    from infra.settings import Settings

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE livestream_charges, livestreams, credit_grants, credit_metering, users CASCADE")
        )
        await conn.execute(text(SEED_STREAM_USERS), {"n": rows})
        await conn.execute(text(SEED_STREAMS), {"n": rows, "expired": expired})
        s = Settings(database_url=url, jwt_secret="b" * 32)
        await conn.execute(
            text(SEED_METERING),
            {"block": s.stream_credit_block, "warn_after": s.stream_warn_after, "end_after": s.stream_end_after},
        )
    await engine.dispose()
    await _vacuum(url, "users", "livestreams")
    _state["stream_ids"] = [f"l{g}" for g in range(1, expired + 1)]


async def _streams_run(url: str) -> int:
    runtime = _services(url)
    async with runtime.engine.begin() as conn:
        await conn.execute(text(REARM_STREAMS), {"ids": _ids(_state["stream_ids"])})  # type: ignore[arg-type]
    started = time.perf_counter()
    done = await runtime.services.credits.monitor()
    _state["last_s"] = time.perf_counter() - started
    await runtime.close()
    return int(done.get("ended", 0))


SWEEPS["users"] = SweepCase(_users_seed, _users_run)
SWEEPS["widget_leases"] = SweepCase(_leases_seed, _leases_run, needs_postgres=False)
SWEEPS["sessions"] = SweepCase(_sessions_seed, _sessions_run)
SWEEPS["streams"] = SweepCase(_streams_seed, _streams_run)


def scratch_database(server_url: str) -> str:
    from db.migrate import upgrade

    url = make_url(server_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    scratch = url.set(database=DB_NAME).render_as_string(hide_password=False)
    upgrade(scratch)
    return scratch


def run(postgres_url: str | None, sizes=SIZES, runs: int = RUNS, log=print) -> dict:
    url = None
    if postgres_url:
        try:
            url = scratch_database(postgres_url)
        except Exception as e:
            log(f"sweeps: no PostgreSQL ({e}); database sweeps skipped")
    out: dict = {}
    for name, case in SWEEPS.items():
        if case is None:
            out[name] = {"status": f"not implemented (bench/sweeps.py register_sweep({name!r}, seed, run))"}
            continue
        if case.needs_postgres and url is None:
            out[name] = {"status": "skipped: no PostgreSQL"}
            continue
        rows_out = {}
        for n in sizes:
            expired = max(1, int(n * EXPIRED_SHARE))
            asyncio.run(case.seed(url or "", n, expired))
            row: dict = {"expired": expired}
            # 0.1% expired, then FIXED_EXPIRED expired on the same rows (time should follow the expired)
            for label, limit in (("", None), ("fixed_", min(FIXED_EXPIRED, expired))):
                if label and limit == expired:  # the same measure as the first
                    row.update({f"fixed_{k}": row[k] for k in ("swept", "median_ms", "min_ms")})
                    continue
                _rearm["limit"] = limit
                times, counts = [], []
                for _ in range(runs):
                    if name == "widget_leases":
                        asyncio.run(case.seed(url or "", n, limit or expired))
                    started = time.perf_counter()
                    counts.append(asyncio.run(case.run(url or "")))
                    inner = {"users": _users_state, "widget_leases": _leases}.get(name, _state).get("last_s")
                    times.append(float(inner) if inner is not None else time.perf_counter() - started)  # type: ignore[arg-type]
                row[f"{label}swept"] = statistics.median(counts)
                row[f"{label}median_ms"] = round(1000 * statistics.median(times), 2)
                row[f"{label}min_ms"] = round(1000 * min(times), 2)
            _rearm["limit"] = None
            rows_out[str(n)] = row
            log(f"sweep {name} {n:,} rows, {expired:,} expired: {row}")
        out[name] = rows_out
    return out
