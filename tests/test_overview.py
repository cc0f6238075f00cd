"""The admin console's overview (SPEC §9): `GET /api/admin/overview` and the
`overview:changed` nudge, on SQLite and PostgreSQL (and two nodes on Redis);
the counts read their indexes, never the whole table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite

from db.engine import SessionFactory
from db.models import AttendanceSession, Livestream, Meeting, User
from db.queries import overview as q
from presence.app import RUNTIME
from tests.conftest import Server
from tests.test_widget_presence import ids


def db_of(server: Server) -> SessionFactory:
    return server.app[RUNTIME].db


async def overview(server: Server, limit: int | None = None) -> dict[str, Any]:
    path = "/api/admin/overview" + (f"?limit={limit}" if limit is not None else "")
    status, body = await server.request("GET", path)
    assert status == 200, body
    return body


async def seed_sessions_and_streams(server: Server) -> None:
    """Two live sessions, one over but not swept, one ended; one live stream, one ended."""
    now = datetime.now(UTC)
    timeout = timedelta(seconds=server.settings.session_timeout_after)
    async with db_of(server).begin() as s:
        await s.execute(
            insert(Meeting),
            [{"id": "m1", "title": "Algebra <b>", "zoom_url": "https://zoom.example/j/1", "teacher_id": "t1",
              "teacher_name": "Ann", "created_at": now, "updated_at": now}],
        )  # fmt: skip
        base = {"meeting_id": "m1", "clicked_at": now - timedelta(minutes=5)}
        await s.execute(
            insert(AttendanceSession),
            [
                {**base, "id": "live-1", "student_id": "st1", "student_name": "Bob", "status": "active",
                 "last_activity_at": now - timedelta(seconds=20)},
                {**base, "id": "live-2", "student_id": "st2", "student_name": "Eve", "status": "active",
                 "last_activity_at": now - timedelta(seconds=5)},
                {**base, "id": "over", "student_id": "st3", "student_name": "Old", "status": "active",
                 "last_activity_at": now - timeout - timedelta(seconds=1)},
                {**base, "id": "ended", "student_id": "st4", "student_name": "Done", "status": "completed",
                 "last_activity_at": now, "session_ended_at": now, "duration_minutes": 5},
            ],
        )  # fmt: skip
        await s.execute(
            insert(User),
            [{"id": "seller-1", "name": "Sam Seller", "role": "user", "created_at": now, "credits": 7},
             {"id": "seller-2", "name": None, "role": "user", "created_at": now, "credits": 1}],
        )  # fmt: skip
        await s.execute(
            insert(Livestream),
            [{"id": "ls-live", "user_id": "seller-1", "title": "Spring sale", "status": "live", "created_at": now,
              "started_at": now, "credits_consumed": 2, "due_at": now},
             {"id": "ls-ended", "user_id": "seller-2", "title": "Old sale", "status": "ended", "created_at": now,
              "started_at": now, "ended_at": now, "end_reason": "manual", "credits_consumed": 1}],
        )  # fmt: skip


async def test_an_empty_server_has_nothing_live(server: Server) -> None:
    body = await overview(server)
    assert body["customers"] == {"online": 0, "recent": []}
    assert body["sessions"] == {"live": 0, "recent": []}
    assert body["streams"] == {"live": 0, "recent": []}
    # The admin asking is a person seen by this very request (or the one before).
    assert body["users"]["online"] in (0, 1)
    assert body["as_of"].endswith("Z")


async def test_only_admins_see_the_overview(server: Server) -> None:
    for role, status in (("agent", 403), ("user", 403), ("service", 403)):
        got, body = await server.request("GET", "/api/admin/overview", role=role, company="co-1")
        assert got == status and "admin" in body["error"]
    got, body = await server.request("GET", "/api/admin/overview", role=None)
    assert got == 401 and body["error"]


async def test_the_overview_counts_what_is_live_now_with_the_latest_names(make_server: Any) -> None:
    server = await make_server(widget_offline_after=60)  # these widgets do not heartbeat by themselves
    await server.conversation("c1", customer_name="Ada <Lovelace>")
    await server.conversation("c2", company="co-2", customer_name=None)
    await server.conversation("c3", customer_name="Gone")
    await server.widget("c1")
    await server.widget("c2")
    await server.widget("c2")  # a second tab: still one customer
    _, admin = await server.socket(server.token("admin-1", "admin"))  # the admin asking below
    third, _ = await server.widget("c3")
    await third.call("widget:offline", ids("c3"))  # gone, after the grace
    while (await admin.next("overview:changed"))["customers"]["online"] != 2:
        pass
    for sub in ("u1", "u2", "u3"):
        status, _ = await server.request("POST", "/api/users/heartbeat/", role="user", sub=sub, company="co-1")
        assert status == 200
    await seed_sessions_and_streams(server)
    status, online = await server.request("GET", "/api/users/admin/users/online/")

    body = await overview(server, limit=1)
    assert body["customers"]["online"] == 2
    assert body["customers"]["recent"] == [
        {
            "conversationId": "c2",
            "customerName": None,
            "companyId": "co-2",
            "onlineSince": body["customers"]["recent"][0]["onlineSince"],
        }
    ]
    # Users: the three heartbeats and the admin (its socket); the list holds `limit` of them.
    assert body["users"]["online"] == online["count"] == 4
    assert len(body["users"]["recent"]) == 1
    assert body["sessions"]["live"] == 2  # "over" is not live, swept or not
    assert body["sessions"]["recent"][0]["id"] == "live-2"  # the most recently heard from
    assert body["sessions"]["recent"][0]["meetingTitle"] == "Algebra <b>"
    assert body["streams"] == {
        "live": 1,
        "recent": [
            {"id": "ls-live", "title": "Spring sale", "user_id": "seller-1", "owner_name": "Sam Seller",
             "started_at": body["streams"]["recent"][0]["started_at"], "credits_consumed": 2, "remaining_credits": 7}
        ],
    }  # fmt: skip

    full = await overview(server)
    assert [c["conversationId"] for c in full["customers"]["recent"]] == ["c2", "c1"]
    assert full["customers"]["recent"][1]["customerName"] == "Ada <Lovelace>"
    assert {s["id"] for s in full["sessions"]["recent"]} == {"live-1", "live-2"}

    status, body = await server.request("GET", "/api/admin/overview?limit=51")
    assert status == 400 and "limit" in body["details"]


async def test_the_database_figures_are_at_most_a_second_old(server: Server) -> None:
    first = await overview(server)
    await seed_sessions_and_streams(server)
    # Within the second the figures may be the cached ones; after it, never.
    await asyncio.sleep(1.05)
    later = await overview(server)
    assert (first["sessions"]["live"], later["sessions"]["live"]) == (0, 2)
    assert later["streams"]["live"] == 1


async def test_admins_hear_overview_changed_when_customers_come_and_go(make_server: Any) -> None:
    server = await make_server(widget_offline_after=30)  # these widgets do not heartbeat by themselves
    await server.conversation("c1")
    await server.conversation("c2")
    _, admin = await server.socket(server.token("admin-1", "admin"))
    _, agent = await server.agent()  # not an admin: hears nothing of it
    one, _ = await server.widget("c1")
    nudge = await admin.next("overview:changed")
    assert nudge["customers"] == {"online": 1} and nudge["as_of"].endswith("Z")

    # A burst: at most one nudge per second, and the last one tells the final count.
    two, _ = await server.widget("c2")
    await one.call("widget:offline", ids("c1"))
    await asyncio.sleep(server.settings.widget_offline_grace + 1.3)
    burst = admin.pending("overview:changed")
    assert 1 <= len(burst) <= 2
    assert burst[-1]["customers"] == {"online": 1}
    # Heartbeats move nothing: no nudge.
    for _ in range(3):
        await two.call("widget:heartbeat", ids("c2"))
    await asyncio.sleep(1.2)
    assert admin.pending("overview:changed") == []
    assert "overview:changed" not in agent.names()


async def test_with_two_nodes_each_admin_hears_each_nudge_once(
    make_server: Any, redis_settings: dict[str, str]
) -> None:
    a = await make_server(**redis_settings)
    b = await make_server(**redis_settings)
    await a.conversation("c1")
    _, admin_a = await a.socket(a.token("admin-1", "admin"))
    _, admin_b = await b.socket(b.token("admin-2", "admin"))
    await b.widget("c1")
    assert (await admin_a.next("overview:changed"))["customers"] == {"online": 1}
    assert (await admin_b.next("overview:changed"))["customers"] == {"online": 1}
    await asyncio.sleep(0.5)
    assert admin_a.pending("overview:changed") == [] and admin_b.pending("overview:changed") == []
    assert (await overview(a))["customers"]["online"] == 1
    assert (await overview(b))["customers"]["recent"][0]["conversationId"] == "c1"


async def test_the_counts_read_their_indexes(database_url: str, server: Server) -> None:
    """With a long history and little live, every count of the overview is answered
    from the index that holds what is live (no scan of the table)."""
    now = datetime.now(UTC)
    old = now - timedelta(days=30)
    async with db_of(server).begin() as s:
        await s.execute(
            insert(Meeting),
            [{"id": "m1", "title": "T", "zoom_url": "z", "teacher_id": "t", "created_at": now, "updated_at": now}],
        )
        await s.execute(
            insert(User),
            [{"id": f"u{i}", "role": "user", "created_at": old, "is_online": i < 10,
              "last_seen": now if i < 10 else old} for i in range(3000)],
        )  # fmt: skip
        await s.execute(
            insert(AttendanceSession),
            [{"id": f"s{i}", "meeting_id": "m1", "student_id": f"st{i}", "clicked_at": old,
              "last_activity_at": now if i < 5 else old, "status": "active" if i < 5 else "timeout"}
             for i in range(3000)],
        )  # fmt: skip
        await s.execute(
            insert(Livestream),
            [{"id": f"ls{i}", "user_id": f"u{i}", "title": "t", "created_at": old,
              "status": "live" if i < 3 else "ended", "due_at": old} for i in range(3000)],
        )  # fmt: skip
    sqlite_db = database_url.startswith("sqlite")
    async with db_of(server).begin() as s:
        for table in ("users", "attendance_sessions", "livestreams"):
            await s.execute(text("ANALYZE" if sqlite_db else f"ANALYZE {table}"))
    cutoff = now - timedelta(seconds=60)
    dialect = sqlite.dialect() if sqlite_db else postgresql.dialect()
    async with db_of(server)() as s:
        for name, (stmt, index) in q.statements(cutoff, cutoff).items():
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            explained = await s.execute(text(f"EXPLAIN QUERY PLAN {sql}" if sqlite_db else f"EXPLAIN {sql}"))
            plan = " ".join(str(r[-1] if sqlite_db else r[0]) for r in explained)
            assert index in plan, f"{name}: {plan}"
    body = await overview(server)
    assert (body["sessions"]["live"], body["streams"]["live"]) == (5, 3)
    assert body["users"]["online"] == 10  # the admin asking is seen once answered
