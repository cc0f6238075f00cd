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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from db.queries import activity as queries
from domain import activity as rules
from domain.clock import iso, iso_dt, system_clock
from domain.ids import MAX_ID_LENGTH
from infra.settings import Settings
from presence.container import open_services
from services.registry import Services

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


def run_with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Applies the migrations (as `serve` does), then runs `work` on the services
    built by the server's own builder."""
    from db.migrate import upgrade

    upgrade(settings.database_url)

    async def main() -> T:
        async with open_services(settings) as services:
            return await work(services)

    return asyncio.run(main())


def check_offline_users(args: argparse.Namespace, settings: Settings) -> int:
    """One run of the job `users_offline` (recorded for /api/health like the server's).
    With Redis, admins' sockets on every node hear `user:offline` and the users'
    throttle claims are released cluster-wide."""

    async def work(services: Services) -> int:
        return int(await services.jobs.run("users_offline", reraise=True))

    gone = run_with_services(settings, work)
    print(f"{gone} users went offline")
    return 0


# ---------------------------------------------------------------- activity-metrics
def activity_metrics(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> dict[str, Any]:
        activity = services.activity
        metrics = await activity.metrics(detailed=args.detailed)
        report = metrics.as_json()
        if args.compare_methods:
            report["compare_methods"] = await activity.compare_methods(metrics)
        if args.validate:
            report["validation"] = _problems_json(await activity.problems(metrics.as_of))
        return report

    report = run_with_services(settings, work)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 1 if report.get("validation", {}).get("problems", 0) else 0


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

    async def work(services: Services) -> int:
        with tqdm(unit="users", desc="backfill") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return await services.activity.backfill_from_days(progress)

    changed = run_with_services(settings, work)
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

    async def work(services: Services) -> int:
        changed = 0
        with tqdm(total=len(good), unit="rows", desc="backfill") as bar:
            for start in range(0, len(good), BATCH):
                chunk = good[start : start + BATCH]
                changed += await services.activity.backfill_rows(chunk)
                bar.update(len(chunk))
        return changed

    changed = run_with_services(settings, work)
    for line in bad:
        print(line)
    print(f"imported {len(good)} rows ({changed} changed something), {len(bad)} bad rows; as of {iso(now)}")
    return 1 if bad else 0
