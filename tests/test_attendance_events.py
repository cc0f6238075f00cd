"""Admins' sockets (room `admins`) hear attendance sessions as they happen (§6):
`session:started`, `session:heartbeat` at most once per session per heartbeat
interval, `session:ended`, each with the row of GET /api/admin/sessions; on one
node, and across two nodes sharing Redis."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from domain.activity import parse_iso
from tests.attendance_support import STILL, FakeClock, beat, click, end, link, meeting, row, sweep
from tests.conftest import Server
from tests.helpers import EventLog

SESSION_EVENTS = ("session:started", "session:heartbeat", "session:ended")


async def admin(server: Server, sub: str = "admin-7") -> EventLog:
    _, log = await server.socket(server.token(sub, "admin"))
    return log


def session_events(log: EventLog) -> list[tuple[str, Any]]:
    return [(name, data) for name, data in log.events if name in SESSION_EVENTS]


async def test_admins_hear_start_throttled_heartbeats_and_end(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)  # heartbeat interval 30 s, on the test's clock
    await meeting(server, title="Algebra", teacher_name="Ann")
    admins = await admin(server)
    _, agent = await server.socket(server.token("agent-1", "agent", "co"))
    _, user = await server.socket(server.token("st1", "user", "co"))

    page = await click(server, await link(server, student="st1", name="Bob"))
    started = await admins.next("session:started")
    assert started == await row(server, page.session_id)
    assert (started["status"], started["studentName"], started["meetingTitle"]) == ("active", "Bob", "Algebra")

    beats_at = []
    for step in (10, 10, 11, 9, 22, 1):  # t = 10, 20, 31, 40, 62, 63
        clock.advance(step)
        assert (await beat(server, page))[0] == 200
        beats_at.append(clock.now)
    # The start was the news at t=0: the next heartbeat event is at t=31, then none until t=62.
    first = await admins.next("session:heartbeat")
    second = await admins.next("session:heartbeat")
    assert [parse_iso(first["lastActivityAt"]), parse_iso(second["lastActivityAt"])] == [beats_at[2], beats_at[4]]
    assert second["durationMinutes"] == 1  # live: 62 s since the click

    assert (await end(server, page))[0] == 200
    ended = await admins.next("session:ended")
    assert (ended["status"], ended["durationMinutes"], ended["id"]) == ("completed", 1, page.session_id)
    assert ended == await row(server, page.session_id)
    assert [name for name, _ in session_events(admins)] == [
        "session:started",
        "session:heartbeat",
        "session:heartbeat",
        "session:ended",
    ]

    # A sweep's ends are told too, and a reused click is news as a heartbeat (its lastActivityAt moved).
    again = await click(server, await link(server, student="st2"))
    await admins.next("session:started")
    clock.advance(31)
    assert (await click(server, await link(server, student="st2"))).session_id == again.session_id
    assert parse_iso((await admins.next("session:heartbeat"))["lastActivityAt"]) == clock.now
    clock.advance(300)
    assert await sweep(server) == 1
    timed_out = await admins.next("session:ended")
    assert (timed_out["id"], timed_out["status"]) == (again.session_id, "timeout")
    # Only admins: other sockets heard none of it.
    assert session_events(agent) == [] and session_events(user) == []


async def test_across_two_nodes_each_admin_hears_each_event_once(
    make_server: Any, redis_settings: dict[str, str]
) -> None:
    interval = 1.0
    timings = {"session_heartbeat_interval": interval, "session_timeout_after": 10.0, "session_sweep_every": 60.0}
    a = await make_server(**redis_settings, **timings)
    b = await make_server(**redis_settings, **timings)
    await meeting(a)
    on_a, on_b = await admin(a, "admin-a"), await admin(b, "admin-b")

    page = await click(a, await link(a))
    for log in (on_a, on_b):
        assert (await log.next("session:started"))["id"] == page.session_id

    # Heartbeats to both nodes, ten a second for 2.6 s: the cooldown is shared (Redis),
    # so at most one event per interval reaches the admins, whichever node took the beat.
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 2.6:
        status, body = await beat(a if n % 2 else b, page)
        assert status == 200, body
        n += 1
        await asyncio.sleep(0.1)
    assert (await end(b, page))[0] == 200
    for log in (on_a, on_b):
        assert (await log.next("session:ended", timeout=10))["status"] == "completed"
    heard_a = [data for name, data in session_events(on_a) if name == "session:heartbeat"]
    heard_b = [data for name, data in session_events(on_b) if name == "session:heartbeat"]
    assert heard_a == heard_b, "both admins hear the same events"
    assert 1 <= len(heard_a) <= 3, [h["lastActivityAt"] for h in heard_a]
    times = [parse_iso(h["lastActivityAt"]) for h in heard_a]
    # Redis measures the period; allow its clock and the nodes' a little slack.
    assert all(later - earlier >= interval * 0.9 for earlier, later in itertools.pairwise(times)), times
    for log in (on_a, on_b):
        assert [name for name, _ in session_events(log)].count("session:started") == 1
        assert [name for name, _ in session_events(log)].count("session:ended") == 1
