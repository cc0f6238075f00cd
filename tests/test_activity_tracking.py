"""Activity (SPEC.md §5): what counts, the cooldown and force, reported events,
and the DAU/WAU/MAU figures for today and for past days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.activity import cooldown_key, daily_range, parse_iso, stickiness, utc_day
from infra.broadcast import NullBroadcaster
from infra.cooldowns import MemoryCooldowns
from infra.settings import Settings
from presence.app import RUNTIME
from services.activity import ActivityTracker
from tests.conftest import Server
from tests.users_support import at, database, days_of, user_row


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- pure rules
def test_the_cooldown_key_names_the_utc_day() -> None:
    late = at("2026-11-23T23:59:00Z").timestamp()
    assert cooldown_key("u1", late) == cooldown_key("u1", late - 3600)
    assert cooldown_key("u1", late) != cooldown_key("u1", late + 120)  # 00:01 the next day
    assert stickiness(3, 0) == 0 and stickiness(1, 4) == 0.25
    days = daily_range(late)
    assert len(days) == 30 and days[-1] == utc_day(late) and days[0] < days[1]
    assert parse_iso("2026-11-23T09:30:00+02:00") == at("2026-11-23T07:30:00Z").timestamp()


# ---------------------------------------------------------------- touch_last_activity
async def test_cooldown_force_new_day_and_forward_only(database_url: str) -> None:
    clock = FakeClock(at("2026-11-23T23:50:00Z").timestamp())
    async with database(database_url) as sessions:
        tracker = ActivityTracker(
            sessions, clock, NullBroadcaster(), Settings(activity_cooldown=300), MemoryCooldowns()
        )
        assert await tracker.touch_last_activity("u1") is True  # unknown users are created
        clock.now += 60
        assert await tracker.touch_last_activity("u1") is False  # cooled down
        assert await tracker.touch_last_activity("u1", force=True) is True
        async with sessions() as s:
            assert (await user_row(s, "u1")).last_activity_at == at("2026-11-23T23:51:00Z")
        clock.now += 60  # 23:52: still cooling down
        assert await tracker.touch_last_activity("u1") is False
        clock.now = at("2026-11-24T00:00:30Z").timestamp()  # a new UTC day, 2.5 min later
        assert await tracker.touch_last_activity("u1") is True
        clock.now += 301
        assert await tracker.touch_last_activity("u1") is True  # the cooldown is over
        # An older time records its day but never moves last_activity_at back.
        assert await tracker.touch_last_activity("u1", ts=at("2026-11-20T12:00:00Z").timestamp()) is True
        async with sessions() as s:
            row = await user_row(s, "u1")
            assert row.last_activity_at == at("2026-11-24T00:05:31Z")
            assert [d.isoformat() for d in await days_of(s, "u1")] == ["2026-11-20", "2026-11-23", "2026-11-24"]


# ---------------------------------------------------------------- what counts
async def activity_of(server: Server, user_id: str) -> datetime | None:
    async with server.app[RUNTIME].db() as s:
        row = await user_row(s, user_id)
        return None if row is None else row.last_activity_at


async def test_mutations_count_reads_heartbeats_and_refusals_do_not(server: Server) -> None:
    user = {"role": "user", "sub": "u1", "company": "co-1"}
    await server.request("POST", "/api/users/heartbeat/", **user)
    await server.request("GET", "/api/users/me/credits", **user)  # a read (404 or 200: not a mutation)
    status, _ = await server.request("POST", "/api/activity/events", json={"events": []}, **user)
    assert status == 403  # refused
    status, _ = await server.request("GET", "/api/users/admin/users/u1/online-status/", **user)
    assert status == 403
    assert await activity_of(server, "u1") is None
    status, _ = await server.request("POST", "/api/users/logout/", **user)
    assert status == 200
    assert await activity_of(server, "u1") is not None  # logout counts

    # An admin's 2xx PUT is a mutation by a person; a service's is not.
    status, _ = await server.request("PUT", "/api/conversations/c1", sub="boss", json=conv("co-1"))
    assert status == 201 and await activity_of(server, "boss") is not None
    status, _ = await server.request("PUT", "/api/conversations/c2", role="service", sub="svc", json=conv("co-1"))
    assert status == 201 and await activity_of(server, "svc") is None
    # A refused mutation (409) is not activity.
    status, _ = await server.request("PUT", "/api/conversations/c1", sub="boss2", json=conv("co-2"))
    assert status == 409 and await activity_of(server, "boss2") is None


def conv(company: str) -> dict[str, str]:
    return {"companyId": company, "platform": "WIDGET", "sessionId": "s1"}


# ---------------------------------------------------------------- reported events
async def test_events_are_accepted_or_rejected_one_by_one(server: Server) -> None:
    now = datetime.now(UTC)
    events = [
        {"user_id": "e1", "ts": iso(now), "kind": "login"},
        {"user_id": "e2", "ts": iso(now - timedelta(days=3)), "kind": "payment"},
        {"user_id": "e3", "ts": iso(now + timedelta(minutes=10)), "kind": "login"},  # too far ahead
        {"user_id": "e4", "ts": "yesterday", "kind": "login"},
        {"user_id": "", "ts": iso(now)},
        "not an object",
        {"user_id": "e5", "ts": iso(now + timedelta(minutes=4))},  # within 5 minutes: fine
    ]
    status, body = await server.request("POST", "/api/activity/events", role="service", json={"events": events})
    assert status == 202, body
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [2, 3, 4, 5]
    assert all(isinstance(r["error"], str) and r["error"] for r in body["rejected"])
    assert "future" in body["rejected"][0]["error"]
    assert await activity_of(server, "e1") is not None and await activity_of(server, "e2") is not None
    async with server.app[RUNTIME].db() as s:
        assert await user_row(s, "e3") is None and await user_row(s, "e4") is None  # rejected: no user


async def test_a_rejected_request_changes_nothing(server: Server) -> None:
    now = iso(datetime.now(UTC))
    too_many = [{"user_id": f"m{n}", "ts": now} for n in range(1001)]
    status, body = await server.request("POST", "/api/activity/events", json={"events": too_many})
    assert status == 400 and "events" in body["details"]
    for bad in ({"events": "nope"}, {}, []):
        status, body = await server.request("POST", "/api/activity/events", json=bad)
        assert status == 400, bad
    status, _ = await server.request("POST", "/api/activity/events", data=b"{not json", role="service")
    assert status == 400
    status, _ = await server.request("POST", "/api/activity/events", role="agent", company="co-1", json={"events": []})
    assert status == 403
    _, metrics = await server.request("GET", "/api/admin/activity/metrics", sub="boss")
    # Refused requests made no user (not even admin-1's); boss is recorded once its request is answered.
    assert metrics["total_users"] == 0
    status, body = await server.request("POST", "/api/activity/events", json={"events": too_many[:1000]})
    assert status == 202 and body == {"accepted": 1000, "rejected": []}


# ---------------------------------------------------------------- the figures
async def test_metrics_for_today_and_past_days(server: Server) -> None:
    now = datetime.now(UTC)
    ago = {
        "today": now,
        "d3": now - timedelta(days=3),
        "d10": now - timedelta(days=10),
        "d40": now - timedelta(days=40),
    }
    events = [{"user_id": name, "ts": iso(ts), "kind": "x"} for name, ts in ago.items()]
    events.append({"user_id": "d3", "ts": iso(now - timedelta(days=5)), "kind": "x"})  # d3 also 5 days ago
    status, body = await server.request("POST", "/api/activity/events", role="service", json={"events": events})
    assert status == 202 and body["accepted"] == 5
    await server.request("POST", "/api/users/heartbeat/", role="user", sub="idle", company="co-1")
    for role in ("user", "agent", "service"):
        status, _ = await server.request("GET", "/api/admin/activity/metrics", role=role, company="co-1")
        assert status == 403
    await server.request("GET", "/api/admin/activity/metrics", sub="boss")  # boss is recorded once answered
    status, m = await server.request("GET", "/api/admin/activity/metrics", sub="boss")
    assert status == 200
    assert (m["dau"], m["wau"], m["mau"]) == (1, 2, 3)
    assert m["total_users"] == 6 and m["never_active"] == 2  # idle and boss
    assert m["stickiness"] == 1 / 3 and m["as_of"].endswith("Z") and "daily" not in m
    status, m = await server.request("GET", "/api/admin/activity/metrics?detailed=1", sub="boss")
    daily = {d["date"]: d["active"] for d in m["daily"]}
    assert len(m["daily"]) == 30 and m["daily"][-1]["date"] == now.date().isoformat()
    assert [d["date"] for d in m["daily"]] == sorted(daily)
    assert daily[now.date().isoformat()] == 1
    assert daily[(now - timedelta(days=3)).date().isoformat()] == 1
    assert daily[(now - timedelta(days=5)).date().isoformat()] == 1  # a past day stays answerable
    assert daily[(now - timedelta(days=10)).date().isoformat()] == 1
    assert sum(daily.values()) == 4


async def test_an_event_time_out_of_range_is_rejected_alone(server) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = await server.request(
        "POST",
        "/api/activity/events",
        role="service",
        sub="backend",
        json={
            "events": [
                {"user_id": "far", "ts": "0001-01-01T00:00:00+14:00", "kind": "x"},
                {"user_id": "near", "ts": now, "kind": "x"},
            ]
        },
    )
    assert status == 202 and body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [0] and "1970-01-01" in body["rejected"][0]["error"]


async def test_a_batch_presence_read_is_not_activity(server: Server) -> None:
    await server.conversation("c1")
    status, _ = await server.request(
        "POST",
        "/api/widget/presence/batch",
        role="agent",
        sub="reader",
        company="co-1",
        json={"conversationIds": ["c1"]},
    )
    assert status == 200
    async with database(server.settings.database_url) as sessions, sessions() as s:
        row = await user_row(s, "reader")
        assert row is not None and row.last_activity_at is None
