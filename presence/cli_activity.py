"""The §4/§5 commands: `check-offline-users`, `activity-metrics`, `backfill-last-activity`.

Each runs one unit of work against PRESENCE_DATABASE_URL (migrations applied
first, as `serve` does) and exits 0, or 1 when it found something wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from db.engine import SessionFactory, create_engine, create_session_factory
from db.queries import activity as queries
from db.queries import users as user_queries
from domain import activity as rules
from domain.clock import iso, iso_dt, system_clock
from domain.ids import MAX_ID_LENGTH
from presence.settings import Settings

BATCH = 1000
T = TypeVar("T")


def add_parsers(sub: Any) -> None:
    sub.add_parser("check-offline-users", help="one sweep of §4: marks offline the users gone quiet")
    p = sub.add_parser("activity-metrics", help="DAU, WAU, MAU and stickiness (§5)")
    p.add_argument("--detailed", action="store_true", help="add active users per UTC day, last 30 days")
    p.add_argument("--validate", action="store_true", help="report inconsistent last_activity_at; exit 1 if any")
    p.add_argument("--compare-methods", action="store_true", help="last_activity_at beside the per-day record")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p = sub.add_parser("backfill-last-activity", help="fill last_activity_at and the per-day record (§5)")
    p.add_argument("--from-csv", metavar="FILE", type=Path, help="a CSV with the header user_id,timestamp")


def _run(settings: Settings, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    from db.migrate import upgrade

    upgrade(settings.database_url)

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def check_offline_users(args: argparse.Namespace, settings: Settings) -> int:
    """With Redis, the admins' sockets on every node hear `user:offline` (through
    a write-only Socket.IO manager), and the users' throttle claims are released
    cluster-wide; without it there are no sockets to tell outside the server."""
    from db.users import UserDirectory

    async def work(sessions: SessionFactory) -> int:
        if not settings.redis_url:
            return await UserDirectory(sessions, system_clock, offline_after=settings.user_offline_after).sweep()
        import socketio

        from presence.cluster import connect_redis
        from presence.cooldowns import create_cooldowns
        from realtime.users import UserStatusFeed

        redis = connect_redis(settings.redis_url)
        manager = socketio.AsyncRedisManager(
            settings.redis_url, channel=f"{settings.redis_prefix}socketio", write_only=True
        )
        feed = UserStatusFeed(manager)  # type: ignore[arg-type]
        try:
            users = UserDirectory(
                sessions,
                system_clock,
                create_cooldowns(settings, redis),
                offline_after=settings.user_offline_after,
                on_offline=feed.offline,
            )
            return await users.sweep()
        finally:
            await redis.aclose()

    gone = _run(settings, work)
    print(f"{gone} users went offline")
    return 0


# ---------------------------------------------------------------- activity-metrics
def activity_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from presence.activity import ActivityTracker
    from presence.cooldowns import MemoryCooldowns

    async def work(sessions: SessionFactory) -> dict[str, Any]:
        tracker = ActivityTracker(sessions, MemoryCooldowns(), settings.activity_cooldown, system_clock)
        metrics = await tracker.metrics(detailed=args.detailed)
        report = metrics.as_json()
        async with sessions() as session:
            if args.compare_methods:
                report["compare_methods"] = await _compare(session, metrics)
            if args.validate:
                found = await queries.problems(session, datetime.fromtimestamp(metrics.as_of + rules.MAX_FUTURE, UTC))
                report["validation"] = _problems_json(found)
        return report

    report = _run(settings, work)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 1 if report.get("validation", {}).get("problems", 0) else 0


async def _compare(session: Any, metrics: Any) -> dict[str, dict[str, int]]:
    """The per-day method counts whole UTC days: DAU = today, WAU = the last 7 days
    (today included), MAU = the last 30; the window method counts 24 h spans."""
    today = rules.utc_day(metrics.as_of)
    per_day = {
        name: await queries.distinct_since(session, today - timedelta(days=days - 1))
        for name, days in (("dau", 1), ("wau", 7), ("mau", 30))
    }
    f = metrics.figures
    return {"last_activity_at": {"dau": f.dau, "wau": f.wau, "mau": f.mau}, "per_day_record": per_day}


def _problems_json(p: queries.Problems) -> dict[str, Any]:
    return {
        "problems": p.total,
        "null_but_active": p.null_but_active,
        "in_future": [{"user_id": u, "last_activity_at": iso_dt(at)} for u, at in p.in_future],
        "older_than_recorded": [
            {"user_id": u, "last_activity_at": iso_dt(at), "newest_day": day.isoformat()}
            for u, at, day in p.behind_days
        ],
    }


def _print_report(r: dict[str, Any]) -> None:
    print(f"as of {r['as_of']}")
    for label, key in (("DAU", "dau"), ("WAU", "wau"), ("MAU", "mau")):
        print(f"{label:<13}{r[key]:>10}")
    print(f"{'stickiness':<13}{r['stickiness']:>10.3f}")
    print(f"{'total users':<13}{r['total_users']:>10}")
    print(f"{'never active':<13}{r['never_active']:>10}")
    if "daily" in r:
        print("active per UTC day:")
        for d in r["daily"]:
            print(f"  {d['date']}{d['active']:>10}")
    if "compare_methods" in r:
        c = r["compare_methods"]
        print(f"{'method':<18}{'DAU':>10}{'WAU':>10}{'MAU':>10}")
        for name, row in (("last_activity_at", c["last_activity_at"]), ("per-day record", c["per_day_record"])):
            print(f"{name:<18}{row['dau']:>10}{row['wau']:>10}{row['mau']:>10}")
    if "validation" in r:
        v = r["validation"]
        print(f"validation: {v['problems'] or 'no'} problem{'' if v['problems'] == 1 else 's'}")
        for u in v["null_but_active"]:
            print(f"  {u}: last_activity_at is null but activity is recorded")
        for item in v["in_future"]:
            print(f"  {item['user_id']}: last_activity_at {item['last_activity_at']} is in the future")
        for item in v["older_than_recorded"]:
            print(
                f"  {item['user_id']}: last_activity_at {item['last_activity_at']} is older than "
                f"its newest recorded day {item['newest_day']}"
            )


# ---------------------------------------------------------------- backfill-last-activity
def backfill_last_activity(args: argparse.Namespace, settings: Settings) -> int:
    if args.from_csv is not None:
        return _backfill_csv(args.from_csv, settings)

    async def work(sessions: SessionFactory) -> int:
        """Keyset passes of BATCH users, each committed: an interrupted run resumes
        by running again (finished batches change nothing the second time)."""
        async with sessions() as session:
            total = (await queries.figures(session, rules.windows(system_clock()))).total_users
        changed, after = 0, None
        with tqdm(total=total, unit="users", desc="backfill") as bar:
            while True:
                async with sessions() as session:
                    ids = await queries.user_ids_after(session, after, BATCH)
                    if not ids:
                        break
                    not_after = datetime.fromtimestamp(system_clock() + rules.MAX_FUTURE, UTC)
                    changed += await queries.backfill_from_days(session, ids, not_after)
                    await session.commit()
                after = ids[-1]
                bar.update(len(ids))
        return changed

    changed = _run(settings, work)
    print(f"{changed} users updated from the per-day record")
    return 0


def _read_csv(path: Path, now: float) -> tuple[list[queries.Activity], list[str]]:
    """Good rows, and `line N: why` for each bad one (the header is line 1)."""
    good: list[queries.Activity] = []
    bad: list[str] = []
    # Undecodable bytes become U+FFFD so one bad row is reported, not the whole file lost.
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header] != ["user_id", "timestamp"]:
            return [], ["line 1: the header must be user_id,timestamp"]
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                bad.append(f"line {line}: expected 2 fields (user_id,timestamp), got {len(row)}")
                continue
            if any("\ufffd" in cell for cell in row):
                bad.append(f"line {line}: not valid UTF-8")
                continue
            user_id, raw_ts = row[0].strip(), row[1].strip()
            if not user_id or len(user_id) > MAX_ID_LENGTH:
                bad.append(f"line {line}: user_id must be 1 to {MAX_ID_LENGTH} characters")
                continue
            try:
                ts = rules.parse_iso(raw_ts)
            except ValueError as e:
                bad.append(f"line {line}: {str(e).replace('ts ', 'timestamp ', 1)}")
                continue
            if ts > now + rules.MAX_FUTURE:
                bad.append(f"line {line}: timestamp {raw_ts} is in the future")
                continue
            good.append(queries.Activity(user_id, datetime.fromtimestamp(ts, UTC)))
    return good, bad


def _backfill_csv(path: Path, settings: Settings) -> int:
    if not path.is_file():
        print(f"presence backfill-last-activity: no such file {path}", file=sys.stderr)
        return 2
    now = system_clock()
    good, bad = _read_csv(path, now)
    if bad and bad[0].startswith("line 1:"):
        print(bad[0])
        return 1

    async def work(sessions: SessionFactory) -> int:
        changed = 0
        with tqdm(total=len(good), unit="rows", desc="backfill") as bar:
            for start in range(0, len(good), BATCH):
                chunk = good[start : start + BATCH]
                async with sessions() as session:
                    at = datetime.fromtimestamp(now, UTC)
                    await user_queries.ensure_many(session, [a.user_id for a in chunk], at)
                    changed += await queries.backfill_rows(session, chunk)
                    await session.commit()
                bar.update(len(chunk))
        return changed

    changed = _run(settings, work)
    for line in bad:
        print(line)
    print(f"imported {len(good)} rows ({changed} changed something), {len(bad)} bad rows; as of {iso(now)}")
    return 1 if bad else 0
