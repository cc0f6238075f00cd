"""Livestream credit metering (SPEC.md §7) through the real server, with the clock
moved by hand: the seed guide's scenarios on SQLite and PostgreSQL.

The server runs on a `FakeClock`; the monitor runs when a test says so (its
period is an hour of real time), exactly as its scheduler would run it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from api.keys import SERVICES
from tests.conftest import Server
from tests.credits_support import (
    BY_HAND,
    MINUTE,
    SEED,
    Seller,
    assert_books_agree,
    iso_at,
    ledger,
    monitor,
    parse,
    stored,
)
from tests.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(make_server: Any, clock: FakeClock) -> Server:
    return await make_server(clock=clock, **SEED, **BY_HAND)


async def test_a_normal_stream(server: Server, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="presence.credits")
    seller = Seller(server)
    assert await seller.grant(10) == 10
    assert await seller.balance() == 10
    events = await seller.socket()
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    stream_id = await seller.create()
    t0 = clock.now
    body = await seller.start(stream_id)
    assert body["status"] == "live" and body["credits_consumed"] == 1 and body["started_at"] == iso_at(t0)
    assert body["last_activity"] == iso_at(t0) and body["ended_at"] is None and body["end_reason"] is None
    assert await events.next("livestream:credits") == {
        "livestream_id": stream_id,
        "remaining_credits": 9,
        "credits_consumed": 1,
    }
    started = await admin.next("livestream:started")
    assert started["id"] == stream_id and started["user_id"] == seller.sub and started["remaining_credits"] == 9
    assert started["time_until_next_deduction_minutes"] == 30.0
    assert (await admin.next("livestream:credits"))["user_id"] == seller.sub

    clock.now = t0 + 10 * MINUTE
    status, beat = await seller.heartbeat(stream_id)
    assert status == 200, beat
    assert beat == {
        "message": "Heartbeat recorded successfully",
        "last_activity": iso_at(clock.now),
        "remaining_credits": 9,
        "credits_consumed": 1,
        "low_credits": False,
    }
    for minutes in (20, 28):
        clock.now = t0 + minutes * MINUTE
        assert (await seller.heartbeat(stream_id))[0] == 200
    clock.now = t0 + 30 * MINUTE  # block 1 comes due: the monitor charges it
    assert await monitor(server) == {"checked": 1, "charged": 1, "warned": 0, "ended": 0}
    assert await events.next("livestream:credits") == {
        "livestream_id": stream_id,
        "remaining_credits": 8,
        "credits_consumed": 2,
    }
    clock.now = t0 + 38 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200
    clock.now = t0 + 40 * MINUTE
    checked = await seller.check(stream_id)  # a check, not a sign of the seller
    assert checked == {
        "message": "Credits checked successfully",
        "livestream_ended": False,
        "remaining_credits": 8,
        "credits_consumed": 2,
        "time_until_next_deduction_minutes": 20.0,
        "low_credits": False,
    }
    clock.now = t0 + 50 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200
    clock.now = t0 + 61 * MINUTE  # block 2 (60 min) is due: charged before the end
    status, ended = await seller.end(stream_id)
    assert status == 200, ended
    assert (ended["status"], ended["end_reason"], ended["credits_consumed"]) == ("ended", "manual", 3)
    assert ended["ended_at"] == iso_at(clock.now) and ended["last_activity"] == iso_at(t0 + 50 * MINUTE)
    assert (await events.next("livestream:credits"))["credits_consumed"] == 3
    assert await events.next("livestream:ended") == {"livestream_id": stream_id, "reason": "manual"}
    admin_end = await admin.next("livestream:ended")
    assert admin_end["user_id"] == seller.sub and admin_end["reason"] == "manual"

    statement = await seller.statement(stream_id)
    assert statement["livestream_id"] == stream_id and statement["credits_consumed"] == 3
    assert [(c["block"], c["credits"], c["block_starts_at"]) for c in statement["charges"]] == [
        (k, 1, iso_at(t0 + k * 30 * MINUTE)) for k in range(3)
    ]
    assert [c["charged_at"] for c in statement["charges"]] == [
        iso_at(t0),
        iso_at(t0 + 30 * MINUTE),
        iso_at(t0 + 61 * MINUTE),
    ]
    await assert_books_agree(server, seller, stream_id)
    assert (await ledger(server, seller.sub)).balance == 7

    # Over: refused with the reason, and nothing changes.
    status, body = await seller.heartbeat(stream_id)
    assert status == 400 and body == {
        "error": "Livestream is not currently live",
        "reason": "manual",
        "status": "ended",
    }
    assert (await seller.end(stream_id))[0] == 409
    assert (await seller.call("PATCH", f"/api/livestreams/start/{stream_id}/"))[0] == 409
    after = await seller.check(stream_id)
    assert after["livestream_ended"] is True and after["time_until_next_deduction_minutes"] is None
    assert after["remaining_credits"] == 7 and after["credits_consumed"] == 3
    await assert_books_agree(server, seller, stream_id)

    # One log line per charge and per end.
    messages = [r.getMessage() for r in caplog.records if r.name == "presence.credits"]
    assert sum(m.startswith("credit charged:") for m in messages) == 3
    assert sum(m.startswith("stream ended:") and "reason manual" in m for m in messages) == 1


async def test_low_credits_then_credits_run_out(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(3)
    events = await seller.socket()
    stream_id = await seller.create()
    t0 = clock.now
    await seller.start(stream_id)  # block 0: 2 left, which is low
    status, beat = await seller.heartbeat(stream_id)
    assert status == 200 and beat["remaining_credits"] == 2 and beat["low_credits"] is True
    for minutes in (10, 20):
        clock.now = t0 + minutes * MINUTE
        assert (await seller.heartbeat(stream_id))[0] == 200
    clock.now = t0 + 30 * MINUTE
    status, beat = await seller.heartbeat(stream_id)  # a heartbeat is a check: it charges block 1
    assert status == 200 and (beat["remaining_credits"], beat["credits_consumed"]) == (1, 2)
    for minutes in (40, 50, 60, 70, 80):
        clock.now = t0 + minutes * MINUTE
        assert (await seller.heartbeat(stream_id))[0] == 200
    assert (await seller.balance()) == 0  # block 2 took the last credit
    clock.now = t0 + 90 * MINUTE  # block 3 cannot be paid
    assert await monitor(server) == {"checked": 1, "charged": 0, "warned": 0, "ended": 1}
    assert [e["credits_consumed"] for e in events.pending("livestream:credits")] == [1, 2, 3]
    assert await events.next("livestream:ended") == {"livestream_id": stream_id, "reason": "credits_exhausted"}
    stream = await seller.stream(stream_id)
    assert (stream["status"], stream["end_reason"]) == ("ended", "credits_exhausted")
    assert stream["ended_at"] == iso_at(t0 + 90 * MINUTE)  # when its paid time ran out
    status, body = await seller.heartbeat(stream_id)
    assert status == 400 and body["reason"] == "credits_exhausted"
    await assert_books_agree(server, seller, stream_id)

    # No credit, no start: 402, and the stream stays scheduled with nothing charged.
    second = await seller.create("Encore")
    status, body = await seller.call("PATCH", f"/api/livestreams/start/{second}/")
    assert status == 402 and body == {"error": "Insufficient credits"}
    again = await seller.stream(second)
    assert (again["status"], again["started_at"], again["credits_consumed"]) == ("scheduled", None, 0)
    assert (await seller.statement(second))["charges"] == []
    await seller.grant(1)
    assert (await seller.start(second))["status"] == "live"
    await assert_books_agree(server, seller, stream_id, second)


async def test_a_block_due_at_a_heartbeat_that_cannot_be_paid_ends_the_stream(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(1)
    events = await seller.socket()
    t0 = clock.now
    stream_id = await seller.live()
    for minutes in (10, 20):
        clock.now = t0 + minutes * MINUTE
        assert (await seller.heartbeat(stream_id))[0] == 200
    clock.now = t0 + 31 * MINUTE
    status, body = await seller.heartbeat(stream_id)
    assert status == 400 and body["reason"] == "credits_exhausted"
    assert (await events.next("livestream:ended"))["reason"] == "credits_exhausted"
    stream = await stored(server, stream_id)
    assert stream.last_heartbeat_at is not None and stream.last_heartbeat_at.timestamp() == t0 + 20 * MINUTE
    assert stream.ended_at is not None
    assert stream.ended_at.timestamp() == pytest.approx(t0 + 30 * MINUTE, abs=1e-3)
    await assert_books_agree(server, seller, stream_id)


async def test_a_seller_who_walked_away_is_warned_once_then_ended(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(10)
    events = await seller.socket()
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    t0 = clock.now
    stream_id = await seller.live()
    clock.now = t0 + 5 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200  # the last sign of life
    clock.now = t0 + 14 * MINUTE
    assert (await monitor(server))["warned"] == 0  # 9 quiet minutes
    clock.now = t0 + 15 * MINUTE
    assert (await monitor(server))["warned"] == 1  # 10 quiet minutes: warned
    assert await events.next("livestream:warning") == {
        "livestream_id": stream_id,
        "reason": "inactivity",
        "inactive_seconds": 600.0,
    }
    warning = await admin.next("livestream:warning")
    assert warning["user_id"] == seller.sub and warning["inactive_seconds"] == 600.0
    clock.now = t0 + 17 * MINUTE
    assert (await monitor(server))["warned"] == 0  # once per quiet stretch
    assert (await seller.check(stream_id))["livestream_ended"] is False  # a check warns no more either
    # The monitor next looks three hours later: the stream ended at last activity + 15 min,
    # and block 1 (30 min), which starts after that, is never charged.
    clock.now = t0 + 3 * 60 * MINUTE
    assert await monitor(server) == {"checked": 1, "charged": 0, "warned": 0, "ended": 1}
    assert await events.next("livestream:ended") == {"livestream_id": stream_id, "reason": "inactivity"}
    stream = await seller.stream(stream_id)
    assert (stream["end_reason"], stream["ended_at"], stream["credits_consumed"]) == (
        "inactivity",
        iso_at(t0 + 20 * MINUTE),
        1,
    )
    assert (await admin.next("livestream:ended"))["ended_at"] == iso_at(t0 + 20 * MINUTE)
    status, body = await seller.heartbeat(stream_id)
    assert status == 400 and body["reason"] == "inactivity"
    assert events.names().count("livestream:warning") == 1
    await assert_books_agree(server, seller, stream_id)
    assert (await ledger(server, seller.sub)).balance == 9


async def test_a_late_heartbeat_does_not_revive_a_stream_inactivity_ended(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(10)
    t0 = clock.now
    stream_id = await seller.live()
    clock.now = t0 + 10 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200
    clock.now = t0 + 40 * MINUTE  # the deadline was 25 min; no monitor ran since
    status, body = await seller.heartbeat(stream_id)
    assert status == 400 and body == {
        "error": "Livestream is not currently live",
        "reason": "inactivity",
        "status": "ended",
    }
    stream = await seller.stream(stream_id)
    assert stream["ended_at"] == iso_at(t0 + 25 * MINUTE) and stream["credits_consumed"] == 1
    assert stream["last_activity"] == iso_at(t0 + 10 * MINUTE)  # the late heartbeat was not recorded
    # The seller's own end request finds it over, by inactivity.
    status, body = await seller.end(stream_id)
    assert status == 409 and body["reason"] == "inactivity"
    await assert_books_agree(server, seller, stream_id)


async def test_an_end_request_after_the_inactivity_deadline_ends_by_inactivity(
    server: Server, clock: FakeClock
) -> None:
    seller = Seller(server)
    await seller.grant(10)
    events = await seller.socket()
    t0 = clock.now
    stream_id = await seller.live()
    clock.now = t0 + 45 * MINUTE
    status, body = await seller.end(stream_id)
    assert status == 200 and (body["end_reason"], body["ended_at"]) == ("inactivity", iso_at(t0 + 15 * MINUTE))
    assert body["credits_consumed"] == 1  # block 1 (30 min) started after the end
    assert (await events.next("livestream:ended"))["reason"] == "inactivity"


async def test_each_quiet_stretch_gets_its_own_warning(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(10)
    events = await seller.socket()
    t0 = clock.now
    stream_id = await seller.live()
    clock.now = t0 + 11 * MINUTE
    await monitor(server)
    assert (await events.next("livestream:warning"))["inactive_seconds"] == 660.0
    clock.now = t0 + 12 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200  # back: a new stretch
    clock.now = t0 + 21 * MINUTE
    await monitor(server)
    assert events.pending("livestream:warning") == []
    clock.now = t0 + 22 * MINUTE
    await monitor(server)
    assert (await events.next("livestream:warning"))["inactive_seconds"] == 600.0
    assert (await seller.stream(stream_id))["status"] == "live"


async def test_a_monitor_down_for_several_blocks_catches_up(make_server: Any, clock: FakeClock) -> None:
    # Minute blocks, so several come due inside the quiet time the seller is allowed.
    server = await make_server(
        clock=clock, stream_credit_block=60.0, stream_warn_after=600.0, stream_end_after=900.0, **BY_HAND
    )
    seller = Seller(server)
    await seller.grant(4)
    events = await seller.socket()
    t0 = clock.now
    stream_id = await seller.live()
    other = Seller(server, "seller-2")
    await other.grant(10)
    second = await other.live("Other shop")
    clock.now = t0 + 5 * MINUTE + 1  # nobody looked for five blocks
    result = await monitor(server)
    # seller-1: blocks 1..3 paid, block 4 unpaid: ended at 4 min. seller-2: blocks 1..5.
    assert result == {"checked": 2, "charged": 8, "warned": 0, "ended": 1}
    credits = [e for e in events.pending("livestream:credits")]
    while len(credits) < 4:
        credits.append(await events.next("livestream:credits"))
    assert [(e["credits_consumed"], e["remaining_credits"]) for e in credits] == [(1, 3), (2, 2), (3, 1), (4, 0)]
    assert (await events.next("livestream:ended"))["reason"] == "credits_exhausted"
    stream = await seller.stream(stream_id)
    assert stream["ended_at"] == iso_at(t0 + 4 * MINUTE)
    statement = await other.statement(second)
    assert [parse(c["block_starts_at"]) for c in statement["charges"]] == pytest.approx(
        [parse(statement["charges"][0]["block_starts_at"]) + k * MINUTE for k in range(6)], abs=1e-3
    )
    assert {c["charged_at"] for c in statement["charges"][1:]} == {iso_at(clock.now)}
    await assert_books_agree(server, seller, stream_id)
    await assert_books_agree(server, other, second)
    status, health = await server.request("GET", "/api/health", role=None)
    assert status == 200 and health["jobs"]["credit_monitor"]["last_result"] == result


async def test_the_admin_list(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(5)
    t0 = clock.now
    live = await seller.live("Live one")
    clock.advance(1)
    scheduled = await seller.create("Later")
    clock.now = t0 + 10 * MINUTE
    status, body = await server.request("GET", "/api/admin/livestreams", role="admin")
    assert status == 200 and body["count"] == 2
    assert [r["id"] for r in body["results"]] == [scheduled, live]
    row = body["results"][1]
    assert row["user_id"] == seller.sub and row["remaining_credits"] == 4 and row["status"] == "live"
    assert row["time_until_next_deduction_minutes"] == 20.0 and row["next_block_at"] == iso_at(t0 + 30 * MINUTE)
    assert set(row) >= {"title", "started_at", "ended_at", "end_reason", "credits_consumed", "last_activity"}
    status, body = await server.request("GET", "/api/admin/livestreams?status=live", role="admin")
    assert body["count"] == 1 and body["results"][0]["id"] == live
    status, body = await server.request("GET", "/api/admin/livestreams?status=scheduled", role="admin")
    assert [r["id"] for r in body["results"]] == [scheduled]
    assert body["results"][0]["time_until_next_deduction_minutes"] is None
    status, body = await server.request("GET", "/api/admin/livestreams?status=paused", role="admin")
    assert status == 400 and "status" in body["details"]
    assert (await seller.call("GET", "/api/admin/livestreams"))[0] == 403
    # An admin may read any stream and its statement, and check its credits.
    status, body = await server.request("GET", f"/api/livestreams/{live}/charges/", role="admin")
    assert status == 200 and body["credits_consumed"] == 1
    status, body = await server.request("POST", f"/api/livestreams/{live}/check_credits/", role="admin")
    assert status == 200 and body["remaining_credits"] == 4


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    rival = Seller(server, "seller-2")
    await seller.grant(3)
    path = f"/api/admin/users/{seller.sub}/credits"
    for amount in (-1, 0, -1.0, "5", 2.5, True, False, None, [1], 2**63, 10**30, 1e30):
        status, body = await server.request("POST", path, role="admin", json={"amount": amount})
        assert status == 400, (amount, body)
        assert "amount" in body["details"], body
    status, body = await server.request("POST", path, role="admin", json={})
    assert status == 400 and "amount" in body["details"]
    status, body = await server.request("POST", path, role="admin", data=b"{not json")
    assert status == 400
    status, body = await server.request("POST", path, role="admin", json={"amount": 2**63 - 1 - 2})
    assert status == 409 and "would pass" in body["error"]  # 3 + that overflows the column: the balance's fault
    assert (await seller.call("POST", path, json={"amount": 5}))[0] == 403  # sellers cannot grant themselves
    assert await seller.balance() == 3

    assert (await seller.call("POST", "/api/livestreams/", json={}))[0] == 400
    assert (await seller.call("POST", "/api/livestreams/", json={"title": "x" * 201}))[0] == 400
    status, _ = await server.request("POST", "/api/livestreams/", role="agent", company="co", json={"title": "t"})
    assert status == 403  # only sellers (role user) create streams

    stream_id = await seller.create()
    status, body = await seller.heartbeat(stream_id)
    assert status == 400 and body["reason"] == "not_started" and body["status"] == "scheduled"
    status, body = await rival.call("PATCH", f"/api/livestreams/start/{stream_id}/")
    assert status == 403, body
    assert (await server.request("PATCH", f"/api/livestreams/start/{stream_id}/", role="admin"))[0] == 403
    assert (await seller.call("PATCH", "/api/livestreams/start/nope/"))[0] == 404
    assert (await seller.heartbeat("nope"))[0] == 404
    assert (await seller.call("POST", "/api/livestreams/nope/check_credits/"))[0] == 404
    assert (await seller.call("GET", "/api/livestreams/nope/charges/"))[0] == 404
    assert (await rival.call("GET", f"/api/livestreams/{stream_id}/"))[0] == 403
    await seller.start(stream_id)
    status, body = await seller.call("PATCH", f"/api/livestreams/start/{stream_id}/")
    assert status == 409 and body["status"] == "live"
    assert (await rival.heartbeat(stream_id))[0] == 403
    assert (await rival.call("POST", f"/api/livestreams/{stream_id}/check_credits/"))[0] == 403
    assert (await rival.end(stream_id))[0] == 403
    status, body = await rival.call("GET", f"/api/livestreams/{stream_id}/charges/")
    assert status == 403 and "another user" in body["error"]
    status, _ = await server.request("POST", f"/api/livestreams/{stream_id}/heartbeat/", role="service")
    assert status == 403

    stream = await seller.stream(stream_id)
    assert (stream["status"], stream["credits_consumed"]) == ("live", 1)
    await assert_books_agree(server, seller, stream_id)
    assert await seller.balance() == 2
    assert await rival.balance() == 0


async def test_a_scheduled_stream_can_be_called_off(server: Server) -> None:
    seller = Seller(server)
    events = await seller.socket()
    stream_id = await seller.create()
    status, body = await seller.end(stream_id)
    assert status == 200 and (body["status"], body["end_reason"], body["started_at"]) == ("ended", "manual", None)
    assert (await events.next("livestream:ended"))["reason"] == "manual"
    assert (await seller.call("PATCH", f"/api/livestreams/start/{stream_id}/"))[0] == 409


async def test_heartbeats_are_not_activity_but_the_other_mutations_are(server: Server, clock: FakeClock) -> None:
    from db.models import User
    from presence.app import RUNTIME

    async def last_activity() -> float | None:
        async with server.app[RUNTIME].db() as s:
            user = await s.get(User, "seller-1")
        assert user is not None
        return None if user.last_activity_at is None else user.last_activity_at.timestamp()

    seller = Seller(server)
    await seller.grant(5)
    stream_id = await seller.live()
    started = await last_activity()
    assert started == pytest.approx(clock.now, abs=1e-3)
    clock.advance(server.settings.activity_cooldown + 1)
    assert (await seller.heartbeat(stream_id))[0] == 200
    assert await last_activity() == started
    await seller.check(stream_id)
    assert await last_activity() == pytest.approx(clock.now, abs=1e-3)


async def test_metrics_count_charges_warnings_and_ends(server: Server, clock: FakeClock) -> None:
    seller = Seller(server)
    await seller.grant(5)
    t0 = clock.now
    first = await seller.live()
    clock.now = t0 + 12 * MINUTE
    await monitor(server)  # warned
    clock.now = t0 + 31 * MINUTE
    await monitor(server)  # ended by inactivity at 15 min: block 1 never charged
    second = await seller.live()
    await seller.end(second)
    status, text = await server.request("GET", "/metrics", role=None)
    assert status == 200
    lines = text.splitlines()
    assert "presence_credit_charges_total 2.0" in lines
    assert "presence_stream_warnings_total 1.0" in lines
    assert 'presence_stream_ends_total{reason="inactivity"} 1.0' in lines
    assert 'presence_stream_ends_total{reason="manual"} 1.0' in lines
    await assert_books_agree(server, seller, first, second)
    status, health = await server.request("GET", "/api/health", role=None)
    assert "credit_monitor" in health["jobs"]


async def due_at(server: Server, stream_id: str) -> float | None:
    stream = await stored(server, stream_id)
    return None if stream.due_at is None else stream.due_at.timestamp()


async def test_each_change_stores_when_the_stream_is_next_due_and_the_monitor_skips_the_rest(
    server: Server, clock: FakeClock
) -> None:
    """Start, heartbeat, warning, charge: each stores `due_at` (next block, warning
    point, end) in its own unit of work; a pass checks only the streams whose due_at
    came, and the others are not even looked at."""
    seller, other = Seller(server), Seller(server, "seller-2")
    await seller.grant(10)
    await other.grant(10)
    t0 = clock.now
    stream_id = await seller.live()
    quiet = await other.live("Other shop")
    assert await due_at(server, stream_id) == t0 + 10 * MINUTE  # quiet since the start: the warning point
    clock.now = t0 + 8 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200
    assert await due_at(server, stream_id) == t0 + 18 * MINUTE
    looked_at: list[str] = []
    server.app[SERVICES].credits.watch(lambda check: looked_at.append(check.stream.id))
    clock.now = t0 + 10 * MINUTE  # only the quiet stream is due (its warning)
    assert await monitor(server) == {"checked": 1, "charged": 0, "warned": 1, "ended": 0}
    assert looked_at == [quiet]
    assert await due_at(server, quiet) == t0 + 15 * MINUTE  # warned: the end next
    clock.now = t0 + 12 * MINUTE
    assert await monitor(server) == {"checked": 0, "charged": 0, "warned": 0, "ended": 0}
    assert looked_at == [quiet]
    for minutes in (16, 24):
        clock.now = t0 + minutes * MINUTE
        assert (await seller.heartbeat(stream_id))[0] == 200
    assert await due_at(server, stream_id) == t0 + 30 * MINUTE  # block 1 before the warning point (34)
    clock.now = t0 + 30 * MINUTE
    assert await monitor(server) == {"checked": 2, "charged": 1, "warned": 0, "ended": 1}  # quiet one ended at 15
    assert await due_at(server, stream_id) == t0 + 34 * MINUTE
    assert (await stored(server, quiet)).end_reason == "inactivity"
    await assert_books_agree(server, seller, stream_id)


async def test_shorter_timeouts_after_a_restart_are_met(make_server: Any, clock: FakeClock) -> None:
    """`due_at` was stored with END_AFTER 15 minutes; the server restarts with 5 (and
    WARN_AFTER 3): the first pass recomputes every live stream's due_at with the new
    settings before it reads who is due, so the stream ends on the new deadline."""
    first = await make_server(clock=clock, **SEED, **BY_HAND)
    seller = Seller(first)
    await seller.grant(10)
    t0 = clock.now
    stream_id = await seller.live()
    clock.now = t0 + 2 * MINUTE
    assert (await seller.heartbeat(stream_id))[0] == 200
    assert await monitor(first) == {"checked": 0, "charged": 0, "warned": 0, "ended": 0}  # settings recorded
    assert await due_at(first, stream_id) == t0 + 12 * MINUTE
    await first.stop()
    shorter = {**SEED, "stream_warn_after": 3 * MINUTE, "stream_end_after": 5 * MINUTE}
    second = await make_server(clock=clock, **shorter, **BY_HAND)
    clock.now = t0 + 8 * MINUTE  # quiet for 6 minutes: past the new END_AFTER
    assert await monitor(second) == {"checked": 1, "charged": 0, "warned": 0, "ended": 1}
    stream = await stored(second, stream_id)
    assert stream.end_reason == "inactivity" and stream.ended_at is not None
    assert stream.ended_at.timestamp() == t0 + 7 * MINUTE
    # And back to the longer settings: a live stream started meanwhile gets its due_at recomputed.
    other = Seller(second, "seller-2")
    await other.grant(3)
    started = clock.now
    other_id = await other.live()
    assert await due_at(second, other_id) == started + 3 * MINUTE
    third = await make_server(clock=clock, **SEED, **BY_HAND)
    assert await monitor(third) == {"checked": 0, "charged": 0, "warned": 0, "ended": 0}
    assert await due_at(third, other_id) == started + 10 * MINUTE
