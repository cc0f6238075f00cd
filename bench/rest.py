"""Part 3: REST user heartbeats (§4): requests/s, and the database writes they cost.

A fresh `presence serve` (pinned to core 0) on a scratch PostgreSQL database,
rate limit off; an aiohttp client (core 1) keeps CONCURRENCY requests in flight
of `POST /api/users/heartbeat/` over USERS tokens for DURATION seconds.
Database work is read from PostgreSQL's own counters for that database
(pg_stat_database, pg_stat_user_tables): commits, rows inserted/updated in
`users`, index scans on it, over the measured window. With the §4 throttle
(10 s) a user's `last_seen` is written at most once per 10 s, so writes should
be about USERS / 10 per second whatever the request rate.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

import aiohttp
import peer
import psycopg
from sqlalchemy.engine import make_url

USERS = 1000
CONCURRENCY = 64
DURATION = 10.0
DB_NAME = "presence_bench_rest"


def _counters(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        db = conn.execute(
            "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        t = conn.execute(
            "SELECT n_tup_ins, n_tup_upd, coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'users'"
        ).fetchone() or (0, 0, 0)
    return {
        "commits": db[0],
        "rows_inserted": db[1],
        "rows_updated": db[2],
        "users_inserted": t[0],
        "users_updated": t[1],
        "users_index_scans": t[2],
    }


async def _warm(port: int, tokens: list[str]) -> None:
    url = f"http://127.0.0.1:{port}/api/users/heartbeat/"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(token: str) -> None:
            async with sem, http.post(url, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()

        await asyncio.gather(*(one(t) for t in tokens))


async def _load(port: int, tokens: list[str], duration: float) -> dict:
    url = f"http://127.0.0.1:{port}/api/users/heartbeat/"
    counts = {"ok": 0, "errors": 0}
    latencies: list[float] = []
    end = time.monotonic() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:

        async def worker(k: int) -> None:
            i = k
            while time.monotonic() < end:
                t = time.perf_counter()
                async with http.post(url, headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"}) as r:
                    await r.read()
                    counts["ok" if r.status == 200 else "errors"] += 1
                latencies.append(time.perf_counter() - t)
                i += CONCURRENCY

        await asyncio.gather(*(worker(k) for k in range(CONCURRENCY)))
    latencies.sort()
    counts["p50_ms"] = round(1000 * latencies[len(latencies) // 2], 2) if latencies else None
    counts["p99_ms"] = round(1000 * latencies[int(len(latencies) * 0.99)], 2) if latencies else None
    return counts


def run(postgres_url: str, env_extra: dict[str, str] | None = None, duration: float = DURATION, log=print) -> dict:
    from domain.identity import TokenCodec

    url = make_url(postgres_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    db_url = url.set(database=DB_NAME).render_as_string(hide_password=False)
    dsn = url.set(drivername="postgresql", database=DB_NAME).render_as_string(hide_password=False)
    rc = peer.run_compare()
    server_pin, load_pin = peer.pins()
    secret = secrets.token_hex(32)
    port = peer.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(PRESENCE_DATABASE_URL=db_url, PRESENCE_JWT_SECRET=secret, PRESENCE_RATE_LIMIT="0", **(env_extra or {}))
    work = Path(tempfile.mkdtemp(prefix="presence-bench-rest-"))
    server = rc.Server(
        [*server_pin, str(peer.python_exe() / "presence"), "serve", "--port", str(port)],
        env,
        peer.ROOT,
        work / "server.log",
        port,
    )
    try:
        server.wait_healthy(90)
        codec = TokenCodec(secret)
        tokens = [codec.encode_valid(f"rest-user-{i}", "user", "perf-co", f"User {i}", 3600) for i in range(USERS)]
        # warm: every user's row exists and is online (first sight creates it), as in a running system
        if load_pin:
            os.sched_setaffinity(0, {int(load_pin[-1])})
        asyncio.run(_warm(port, tokens))
        time.sleep(1.1)
        before = _counters(dsn)
        cpu0 = _cpu(server.proc.pid)
        started = time.monotonic()
        result = asyncio.run(_load(port, tokens, duration))
        secs = time.monotonic() - started
        cpu1 = _cpu(server.proc.pid)
        time.sleep(1.1)
        after = _counters(dsn)
        delta = {k: after[k] - before[k] for k in after}
        out = {
            "users": USERS,
            "concurrency": CONCURRENCY,
            "requests_per_s": round(result["ok"] / secs, 1),
            "errors": result["errors"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "server_cpu_pct": round(100 * (cpu1 - cpu0) / secs, 1),
            "db": delta,
            "db_commits_per_request": round(delta["commits"] / max(1, result["ok"]), 3),
            "users_written_per_s": round((delta["users_updated"] + delta["users_inserted"]) / secs, 1),
        }
        log(f"rest: {out}")
        return out
    finally:
        server.stop()
        if load_pin:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def _cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


if __name__ == "__main__":
    print(run(os.environ.get("PRESENCE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")))
