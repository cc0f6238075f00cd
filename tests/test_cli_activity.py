"""The §4/§5 commands, run in-process against the test database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from presence.cli import main
from tests.helpers import preserved_logging
from tests.users_support import add_user, database, days_of, user_row


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRESENCE_DATABASE_URL", database_url)
    monkeypatch.setenv("PRESENCE_JWT_SECRET", "cli-secret-0123456789abcdef0123456789abcdef")

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        with preserved_logging():
            code = await asyncio.to_thread(main, list(argv))
        return code, capsys.readouterr().out

    return run


async def test_check_offline_users(cli, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    async with database(database_url) as sessions, sessions() as s:
        await add_user(s, "stale", online=True, last_seen=now - timedelta(seconds=120))
        await add_user(s, "fresh", online=True, last_seen=now)
        await add_user(s, "gone", online=False, last_seen=now - timedelta(days=1))
    monkeypatch.setenv("PRESENCE_USER_OFFLINE_AFTER", "60")
    code, out = await cli("check-offline-users")
    assert code == 0 and out.strip().splitlines()[-1] == "1 users went offline"
    code, out = await cli("check-offline-users")
    assert out.strip().splitlines()[-1] == "0 users went offline"
    async with database(database_url) as sessions, sessions() as s:
        assert (await user_row(s, "stale")).is_online is False and (await user_row(s, "fresh")).is_online is True


async def test_metrics_compare_and_validate(cli, database_url: str) -> None:
    now = datetime.now(UTC)
    today = now.date()
    async with database(database_url) as sessions, sessions() as s:
        await add_user(s, "ok", last_activity_at=now, days=(today,))
        await add_user(s, "null", days=(today - timedelta(days=2),))
        await add_user(s, "future", last_activity_at=now + timedelta(hours=2), days=(today,))
        await add_user(s, "behind", last_activity_at=now - timedelta(days=9), days=(today - timedelta(days=1),))
        await add_user(s, "never")
    code, out = await cli("activity-metrics")
    assert code == 0 and "DAU" in out and "never active" in out
    code, out = await cli("activity-metrics", "--json", "--detailed", "--compare-methods")
    import json

    report = json.loads(out)
    assert (report["dau"], report["mau"], report["total_users"], report["never_active"]) == (2, 3, 5, 2)
    assert len(report["daily"]) == 30 and report["daily"][-1] == {"date": today.isoformat(), "active": 2}
    assert report["compare_methods"]["last_activity_at"] == {"dau": 2, "wau": 2, "mau": 3}
    assert report["compare_methods"]["per_day_record"] == {"dau": 2, "wau": 4, "mau": 4}
    code, out = await cli("activity-metrics", "--compare-methods")
    assert "per-day record" in out and "last_activity_at" in out
    code, out = await cli("activity-metrics", "--validate")
    assert code == 1
    assert "null: last_activity_at is null" in out
    assert "future: last_activity_at" in out and "in the future" in out
    assert "behind: last_activity_at" in out and "older than" in out
    assert "ok:" not in out and "never:" not in out
    code, out = await cli("backfill-last-activity")
    assert code == 0
    code, out = await cli("activity-metrics", "--validate", "--json")
    assert code == 1 and json.loads(out)["validation"]["in_future"][0]["user_id"] == "future"  # never moved back


async def test_backfill_from_the_per_day_record_is_idempotent(cli, database_url: str) -> None:
    today = datetime.now(UTC).date()
    async with database(database_url) as sessions, sessions() as s:
        await add_user(s, "a", days=(today - timedelta(days=3), today - timedelta(days=1)))
        await add_user(s, "b", last_activity_at=datetime.now(UTC) - timedelta(days=20))  # no day recorded yet
        await add_user(s, "c", last_activity_at=datetime.now(UTC), days=(today - timedelta(days=5),))
    code, out = await cli("backfill-last-activity")
    assert code == 0 and out.strip().splitlines()[-1] == "3 users updated from the per-day record"
    async with database(database_url) as sessions, sessions() as s:
        yesterday = today - timedelta(days=1)
        assert (await user_row(s, "a")).last_activity_at == datetime(
            yesterday.year, yesterday.month, yesterday.day, tzinfo=UTC
        )
        assert await days_of(s, "b") == [today - timedelta(days=20)]
        assert (await user_row(s, "c")).last_activity_at.date() == today  # not moved back
    code, out = await cli("backfill-last-activity")
    assert out.strip().splitlines()[-1] == "0 users updated from the per-day record"
    code, out = await cli("activity-metrics", "--validate")
    assert code == 0 and "validation: no problems" in out


async def test_backfill_from_csv_reports_bad_lines_and_imports_the_rest(cli, database_url: str, tmp_path) -> None:
    now = datetime.now(UTC)
    async with database(database_url) as sessions, sessions() as s:
        await add_user(s, "known", last_activity_at=now)
    good_old = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    csv = tmp_path / "activity.csv"
    csv.write_text(
        "user_id,timestamp\n"
        f"new1,{good_old}\n"
        "new2,not-a-time\n"
        f",{good_old}\n"
        f"known,{good_old}\n"  # older than stored: day recorded, time not moved back
        f"new3,{(now + timedelta(days=1)).isoformat()}\n"
        "new4,2026-01-01T00:00:00Z,extra\n"
    )
    code, out = await cli("backfill-last-activity", "--from-csv", str(csv))
    assert code == 1
    lines = out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines if ln.startswith("line ")] == ["line 3", "line 4", "line 6", "line 7"]
    assert lines[-1].startswith("imported 2 rows")
    async with database(database_url) as sessions, sessions() as s:
        assert (await user_row(s, "new1")).last_activity_at.isoformat().startswith(good_old[:19])
        assert (await user_row(s, "known")).last_activity_at == (await user_row(s, "known")).last_activity_at
        assert (await user_row(s, "known")).last_activity_at > now - timedelta(seconds=5)
        assert await days_of(s, "known") == [(now - timedelta(days=2)).date()]
        for absent in ("new2", "new3", "new4"):
            assert await user_row(s, absent) is None
    code, out = await cli("backfill-last-activity", "--from-csv", str(csv))
    assert "imported 2 rows (0 changed something)" in out.strip().splitlines()[-1]
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,when\nx,2026-01-01T00:00:00Z\n")
    code, out = await cli("backfill-last-activity", "--from-csv", str(bad_header))
    assert code == 1 and out.strip() == "line 1: the header must be user_id,timestamp"


async def test_backfill_reports_out_of_range_times_and_bad_bytes_by_line(cli, database_url: str, tmp_path) -> None:
    good = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    csv = tmp_path / "odd.csv"
    csv.write_bytes(
        b"user_id,timestamp\n"
        b"early,0001-01-01T00:00:00+05:00\n"
        b"bytes\xff,2026-01-01T00:00:00Z\n" + f"fine,{good}\n".encode()
    )
    code, out = await cli("backfill-last-activity", "--from-csv", str(csv))
    assert code == 1
    lines = out.strip().splitlines()
    assert any(ln.startswith("line 2: ") and "1970-01-01" in ln for ln in lines), lines
    assert "line 3: not valid UTF-8" in lines
    assert lines[-1].startswith("imported 1 rows")
    async with database(database_url) as sessions, sessions() as s:
        assert await user_row(s, "fine") is not None
        assert await user_row(s, "early") is None


async def test_backfill_does_not_copy_a_future_time_into_the_per_day_record(cli, database_url: str) -> None:
    future = datetime.now(UTC) + timedelta(days=400)
    async with database(database_url) as sessions, sessions() as s:
        await add_user(s, "clock-skewed", last_activity_at=future)
    code, _ = await cli("backfill-last-activity")
    assert code == 0
    async with database(database_url) as sessions, sessions() as s:
        assert await days_of(s, "clock-skewed") == []
    code, out = await cli("activity-metrics", "--validate")
    assert code == 1 and "clock-skewed" in out  # still reported, for a person to look at
