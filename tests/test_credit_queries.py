"""Credit storage (db.queries.credits, db.queries.livestreams) on real SQLite and PostgreSQL.

`check` below is what the credit service does in one unit of work, written with
the query functions and domain.credits, so the tests exercise the same pieces.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from db.engine import SessionFactory, begin_write
from db.models import CreditGrant, Livestream, LivestreamCharge, User
from db.queries import credits as cq
from db.queries import livestreams as lq
from db.sql import is_literal
from domain import credits as rules
from domain.clock import to_datetime

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
M = rules.Metering(block=1800, warn_after=600, end_after=900)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def seller(sessions: SessionFactory, credits: int, user: str = "u1") -> None:
    async with sessions.begin() as s:
        assert await cq.grant(s, user, credits, T0, granted_by="admin-1") is not None


async def live_stream(sessions: SessionFactory, user: str = "u1", now: datetime = T0) -> str:
    """A stream started at `now` with block 0 paid (what the start endpoint does)."""
    async with sessions.begin() as s:
        stream = await lq.create(s, user, "Spring sale", now)
        assert await lq.start(s, stream.id, now) is not None
        charge = await lq.charge_block(s, stream.id, user, 0, now, now)
        assert charge.outcome == "charged", charge
        return stream.id


async def check(sessions: SessionFactory, stream_id: str, now: datetime) -> tuple[int, rules.Ending | None, bool]:
    """One credit check: (blocks charged, how it ended if it did, warned)."""
    async with begin_write(sessions) as s:
        stream = await lq.lock_for_check(s, stream_id)
        assert stream is not None
        plan = rules.plan(stream.state(), now.timestamp(), M)
        charged = 0
        for block in plan.charges:
            result = await lq.charge_block(
                s, stream.id, stream.user_id, block.number, to_datetime(block.starts_at), now
            )
            if result.outcome != "charged":
                break
            charged += 1
        ending = rules.outcome(plan, charged)
        if ending is not None:
            assert await lq.end(s, stream.id, to_datetime(ending.at), ending.reason) is not None
        elif plan.warn:
            assert await lq.mark_warned(s, stream.id, now)
        return charged, ending, plan.warn and ending is None


async def ledger_of(sessions: SessionFactory, user: str = "u1") -> cq.Ledger:
    async with sessions() as s:
        return await cq.ledger(s, user)


async def test_grants_add_up_and_refuse_overflow(sessions: SessionFactory) -> None:
    async with sessions.begin() as s:
        assert await cq.grant(s, "new-user", 5, T0) == 5  # the user is created
        assert await cq.grant(s, "new-user", 7, T0) == 12
        assert await cq.grant(s, "new-user", rules.MAX_CREDITS - 12, T0) == rules.MAX_CREDITS
        assert await cq.grant(s, "new-user", 1, T0) is None  # would overflow: nothing granted
        with pytest.raises(ValueError):
            await cq.grant(s, "new-user", 0, T0)
    async with sessions() as s:
        assert await cq.balance(s, "new-user") == rules.MAX_CREDITS
        assert await cq.balance(s, "nobody") is None
        assert await s.scalar(select(func.count()).select_from(CreditGrant)) == 3
        assert (await cq.ledger(s, "new-user")).balanced


async def test_a_stream_lifecycle_is_guarded_by_status(sessions: SessionFactory) -> None:
    await seller(sessions, 3)
    async with sessions.begin() as s:
        stream = await lq.create(s, "u1", "Spring sale", T0)
        assert stream.status == "scheduled" and stream.last_activity is None
        assert await lq.record_heartbeat(s, stream.id, T0) is None  # not live yet
        started = await lq.start(s, stream.id, at(10))
        assert started is not None and started.status == "live" and started.last_activity == at(10)
        assert await lq.start(s, stream.id, at(11)) is None  # already live: 409
        beat = await lq.record_heartbeat(s, stream.id, at(100))
        assert beat is not None and beat.last_heartbeat_at == at(100)
        beat = await lq.record_heartbeat(s, stream.id, at(90))  # a crossed heartbeat never moves back
        assert beat is not None and beat.last_heartbeat_at == at(100)
        ended = await lq.end(s, stream.id, at(200), "manual")
        assert ended is not None and (ended.status, ended.ended_at, ended.end_reason) == ("ended", at(200), "manual")
        assert await lq.end(s, stream.id, at(300), "manual") is None
        assert await lq.record_heartbeat(s, stream.id, at(300)) is None
        assert not await lq.mark_warned(s, stream.id, at(300))


async def test_a_start_that_cannot_pay_block_zero_leaves_nothing(sessions: SessionFactory) -> None:
    async with sessions.begin() as s:
        await cq.grant(s, "u1", 1, T0)
        spent = await lq.create(s, "u1", "first", T0)
        await lq.start(s, spent.id, T0)
        assert (await lq.charge_block(s, spent.id, "u1", 0, T0, T0)).outcome == "charged"
        broke = await lq.create(s, "u1", "second", T0)
    with pytest.raises(LookupError):  # the service raises PaymentRequired: the unit rolls back
        async with sessions.begin() as s:
            assert await lq.start(s, broke.id, at(5)) is not None
            charge = await lq.charge_block(s, broke.id, "u1", 0, at(5), at(5))
            assert charge == lq.Charge("unpaid", 0)
            raise LookupError("Insufficient credits")
    async with sessions() as s:
        stream = await lq.get(s, broke.id)
        assert stream is not None and stream.status == "scheduled" and stream.credits_consumed == 0
        assert await lq.statement(s, broke.id) == []
        assert await cq.balance(s, "u1") == 0


async def test_an_unpaid_block_leaves_no_charge_even_if_the_unit_commits(sessions: SessionFactory) -> None:
    await seller(sessions, 1)
    stream_id = await live_stream(sessions)  # block 0 took the only credit
    async with sessions.begin() as s:
        assert await lq.charge_block(s, stream_id, "u1", 1, at(1800), at(1800)) == lq.Charge("unpaid", 0)
    async with sessions() as s:
        stream = await lq.get(s, stream_id)
        assert stream is not None and stream.credits_consumed == 1
        assert [c.block for c in await lq.statement(s, stream_id)] == [0]
    assert await ledger_of(sessions) == cq.Ledger(granted=1, charged=1, balance=0)


async def test_a_monitor_down_for_hours_catches_up_until_the_credits_run_out(sessions: SessionFactory) -> None:
    await seller(sessions, 3)
    stream_id = await live_stream(sessions)  # block 0 paid: 2 left
    async with sessions.begin() as s:
        await lq.record_heartbeat(s, stream_id, at(3 * 3600 - 60))  # the seller is still there
    charged, ending, _ = await check(sessions, stream_id, at(3 * 3600))
    # Blocks 1..6 are due; 2 credits pay blocks 1 and 2; block 3 (1:30) cannot be paid.
    assert charged == 2 and ending == rules.Ending("credits_exhausted", (at(3 * 1800)).timestamp())
    async with sessions() as s:
        stream = await lq.get(s, stream_id)
        assert stream is not None
        assert (stream.status, stream.end_reason, stream.ended_at) == ("ended", "credits_exhausted", at(5400))
        charges = await lq.statement(s, stream_id)
    assert [(c.block, c.block_starts_at, c.credits) for c in charges] == [(k, at(k * 1800), 1) for k in range(3)]
    assert stream.credits_consumed == len(charges)
    assert await ledger_of(sessions) == cq.Ledger(granted=3, charged=3, balance=0)


async def test_an_inactivity_end_while_nobody_looked_charges_only_blocks_before_it(sessions: SessionFactory) -> None:
    await seller(sessions, 10)
    stream_id = await live_stream(sessions)
    async with sessions.begin() as s:
        await lq.record_heartbeat(s, stream_id, at(2400))  # last sign of life at 40 min
    assert await check(sessions, stream_id, at(2400 + 600)) == (1, None, True)  # block 1, a warning
    assert await check(sessions, stream_id, at(2400 + 700)) == (0, None, False)  # warned once
    charged, ending, _ = await check(sessions, stream_id, at(5 * 3600))
    assert charged == 0 and ending == rules.Ending("inactivity", at(3300).timestamp())
    async with sessions() as s:
        stream = await lq.get(s, stream_id)
        assert stream is not None and stream.ended_at == at(3300) and stream.credits_consumed == 2
    assert await ledger_of(sessions) == cq.Ledger(granted=10, charged=2, balance=8)


async def test_twenty_concurrent_checks_charge_a_block_once(sessions: SessionFactory) -> None:
    await seller(sessions, 10)
    stream_id = await live_stream(sessions)
    async with sessions.begin() as s:
        await lq.record_heartbeat(s, stream_id, at(1790))
    results = await asyncio.gather(*(check(sessions, stream_id, at(1800)) for _ in range(20)))
    assert sorted(r[0] for r in results) == [0] * 19 + [1]
    async with sessions() as s:
        assert [c.block for c in await lq.statement(s, stream_id)] == [0, 1]
    assert await ledger_of(sessions) == cq.Ledger(granted=10, charged=2, balance=8)


async def test_twenty_unlocked_chargers_of_one_block_charge_it_once(sessions: SessionFactory) -> None:
    """Even without lock_for_check, the compare-and-set on credits_consumed lets one win."""
    await seller(sessions, 10)
    stream_id = await live_stream(sessions)

    async def charge() -> str:
        async with sessions.begin() as s:
            return (await lq.charge_block(s, stream_id, "u1", 1, at(1800), at(1800))).outcome

    outcomes = await asyncio.gather(*(charge() for _ in range(20)))
    assert sorted(outcomes) == ["charged"] + ["stale"] * 19
    assert await ledger_of(sessions) == cq.Ledger(granted=10, charged=2, balance=8)


async def test_the_balance_never_goes_below_zero(sessions: SessionFactory) -> None:
    await seller(sessions, 20)
    streams = [await live_stream(sessions) for _ in range(17)]  # 17 paid: 3 left
    async with sessions.begin() as s:
        for sid in streams:
            await lq.record_heartbeat(s, sid, at(1790))
    results = await asyncio.gather(*(check(sessions, sid, at(1800)) for sid in streams))
    assert sum(r[0] for r in results) == 3
    assert sum(1 for r in results if r[1] is not None and r[1].reason == "credits_exhausted") == 14
    async with sessions() as s:
        assert await cq.balance(s, "u1") == 0
        assert await s.scalar(select(func.count()).select_from(LivestreamCharge)) == 20
        consumed = [(await lq.get(s, sid)).credits_consumed for sid in streams]  # type: ignore[union-attr]
    assert sorted(consumed) == [1] * 14 + [2] * 3
    assert await ledger_of(sessions) == cq.Ledger(granted=20, charged=20, balance=0)


async def test_a_check_holds_the_stream_and_plain_reads_do_not_wait(sessions: SessionFactory) -> None:
    await seller(sessions, 5)
    stream_id = await live_stream(sessions)
    locked, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with begin_write(sessions) as s:
            assert await lq.lock_for_check(s, stream_id) is not None
            locked.set()
            await release.wait()

    async def second() -> None:
        async with begin_write(sessions) as s:
            assert await lq.lock_for_check(s, stream_id) is not None

    holder = asyncio.create_task(first())
    await locked.wait()
    waiter = asyncio.create_task(second())
    async with sessions() as s:  # a plain read is answered at once
        assert (await asyncio.wait_for(lq.get(s, stream_id), 2)) is not None
    await asyncio.sleep(0.3)
    assert not waiter.done()  # the second check waits for the first
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), 10)


async def test_lock_for_check_on_sqlite_needs_begin_write(database_url: str, sessions: SessionFactory) -> None:
    await seller(sessions, 1)
    async with sessions.begin() as s:
        stream = await lq.create(s, "u1", "x", T0)
    async with sessions.begin() as s:
        if database_url.startswith("sqlite"):
            with pytest.raises(RuntimeError, match="begin_write"):
                await lq.lock_for_check(s, stream.id)
        else:
            assert await lq.lock_for_check(s, stream.id) is not None


async def test_the_admin_page(sessions: SessionFactory) -> None:
    await seller(sessions, 5, "u1")
    await seller(sessions, 7, "u2")
    first = await live_stream(sessions, "u1", now=at(1))
    second = await live_stream(sessions, "u2", now=at(2))
    async with sessions.begin() as s:
        scheduled = await lq.create(s, "u1", "later", at(3))
        await lq.end(s, second, at(4), "manual")
    async with sessions() as s:
        count, rows = await lq.page(s)
        assert count == 3 and [r.stream.id for r in rows] == [scheduled.id, second, first]
        assert [r.remaining_credits for r in rows] == [4, 6, 4]
        count, rows = await lq.page(s, status="ended")
        assert count == 1 and rows[0].stream.end_reason == "manual"


async def test_the_monitor_reads_only_due_live_streams_through_the_partial_index(
    sessions: SessionFactory, database_url: str
) -> None:
    """`due_ids` returns the live streams whose due_at has come and nothing else (not
    the live ones not yet due, not ended ones however old their due_at), from
    ix_livestreams_live_due_at: the monitor's read costs the due rows."""
    now = at(3600)
    async with sessions.begin() as s:
        await s.execute(insert(User), [{"id": f"u{i}", "role": "user", "created_at": T0} for i in range(3000)])
        await s.execute(
            insert(Livestream),
            [{"id": f"ls{i:04}", "user_id": f"u{i}", "title": "t", "created_at": T0, "started_at": T0,
              "status": "live" if i < 2000 else "ended",
              # 3 live streams due (one exactly now), the other live ones later; ended ones long "due"
              "due_at": at(3600 - i) if i < 3 else (at(3700 + i) if i < 2000 else T0)}
             for i in range(3000)],
        )  # fmt: skip
    sqlite_db = database_url.startswith("sqlite")
    async with sessions.begin() as s:
        await s.execute(text("ANALYZE" if sqlite_db else "ANALYZE livestreams"))
    async with sessions() as s:
        assert await lq.due_ids(s, now) == ["ls0002", "ls0001", "ls0000"]  # earliest first
        assert await lq.due_ids(s, at(3700 + 5)) == ["ls0002", "ls0001", "ls0000", "ls0003", "ls0004", "ls0005"]
        stmt = select(Livestream.id).where(is_literal(Livestream.status, "live"), Livestream.due_at <= now)
        sql = str(
            stmt.compile(
                dialect=sqlite.dialect() if sqlite_db else postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
        )
        explained = await s.execute(text(f"EXPLAIN QUERY PLAN {sql}" if sqlite_db else f"EXPLAIN {sql}"))
        plan = " ".join(str(r[-1] if sqlite_db else r[0]) for r in explained)
        assert "ix_livestreams_live_due_at" in plan, plan


async def test_no_live_stream_without_due_at(sessions: SessionFactory) -> None:
    """The CHECK keeps every live stream visible to the monitor."""
    await seller(sessions, 5)
    stream_id = await live_stream(sessions)
    with pytest.raises(IntegrityError):
        async with sessions.begin() as s:
            await s.execute(update(Livestream).where(Livestream.id == stream_id).values(due_at=None))
