"""Livestream credit rules alone (domain.credits): time is a number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import credits as rules
from domain.credits import Block, Ending, Metering, StreamState

M = Metering(block=1800, warn_after=600, end_after=900)
T0 = 1_760_259_600.0


def live(consumed: int = 1, heartbeat: float | None = None, warned: float | None = None) -> StreamState:
    return StreamState("live", T0, heartbeat, warned, consumed)


def numbers(p: rules.Plan) -> list[int]:
    return [b.number for b in p.charges]


def test_block_zero_is_due_at_the_start() -> None:
    p = rules.plan(live(consumed=0), T0, M)
    assert p.charges == (Block(0, T0),)
    assert p.end is None and not p.warn


def test_block_k_is_due_at_start_plus_k_blocks_and_only_once() -> None:
    assert numbers(rules.plan(live(1, heartbeat=T0 + 1799), T0 + 1799.999, M)) == []
    assert rules.plan(live(1, heartbeat=T0 + 1799), T0 + 1800, M).charges == (Block(1, T0 + 1800),)
    assert numbers(rules.plan(live(2, heartbeat=T0 + 1799), T0 + 1800, M)) == []


def test_a_monitor_down_for_several_blocks_catches_up_oldest_first() -> None:
    # Heartbeats kept coming (the stream is alive), nobody charged for 2 hours.
    now = T0 + 2 * 3600 + 5
    p = rules.plan(live(1, heartbeat=now - 60), now, M)
    assert p.charges == tuple(Block(k, T0 + k * 1800) for k in range(1, 5))
    assert p.end is None


def test_an_inactivity_end_while_nobody_looked_charges_only_blocks_before_it() -> None:
    # Last heartbeat at 40 min; the stream ended at 55 min; the check runs at 3 h.
    hb = T0 + 2400
    p = rules.plan(live(1, heartbeat=hb), T0 + 3 * 3600, M)
    assert p.end == Ending("inactivity", hb + 900)
    assert numbers(p) == [1]  # block 1 started at 30 min; block 2 (60 min) is after the end
    assert not p.warn


def test_no_block_starting_exactly_at_the_end_is_charged() -> None:
    hb = T0 + 900  # ends at T0 + 1800, exactly when block 1 would start
    p = rules.plan(live(1, heartbeat=hb), T0 + 5000, M)
    assert p.end == Ending("inactivity", T0 + 1800)
    assert numbers(p) == []


def test_quiet_since_the_start_counts_from_the_start() -> None:
    p = rules.plan(live(1), T0 + 900, M)
    assert p.end == Ending("inactivity", T0 + 900) and numbers(p) == []


def test_warning_once_per_quiet_stretch() -> None:
    hb = T0 + 100
    first = rules.plan(live(1, heartbeat=hb), hb + 600, M)
    assert first.warn and first.end is None and first.inactive_seconds == 600
    again = rules.plan(live(1, heartbeat=hb, warned=hb + 600), hb + 700, M)
    assert not again.warn
    # A heartbeat starts a new stretch: the old warning no longer counts.
    later = hb + 1000
    assert rules.plan(live(1, heartbeat=later, warned=hb + 600), later + 600, M).warn
    assert not rules.plan(live(1, heartbeat=hb), hb + 599, M).warn


def test_a_heartbeat_check_never_warns_but_cannot_revive_an_ended_stream() -> None:
    hb = T0 + 100
    assert not rules.plan(live(1, heartbeat=hb), hb + 700, M, heartbeat=True).warn
    late = rules.plan(live(1, heartbeat=hb), hb + 901, M, heartbeat=True)
    assert late.end == Ending("inactivity", hb + 900)


def test_manual_end_charges_what_came_due_before_now() -> None:
    hb = T0 + 3500
    p = rules.plan(live(1, heartbeat=hb), T0 + 3600, M, end_requested=True)
    assert p.end == Ending("manual", T0 + 3600)
    assert numbers(p) == [1]  # block 2 starts at exactly 3600: not charged
    # An inactivity end that fell earlier wins over the request.
    q = rules.plan(live(1, heartbeat=T0 + 100), T0 + 1500, M, end_requested=True)
    assert q.end == Ending("inactivity", T0 + 1000)


def test_the_first_unpaid_block_ends_the_stream_when_its_paid_time_ran_out() -> None:
    now = T0 + 3 * 1800 + 1
    p = rules.plan(live(1, heartbeat=now - 5), now, M)
    assert numbers(p) == [1, 2, 3]
    assert rules.outcome(p, 3) is None
    assert rules.outcome(p, 1) == Ending("credits_exhausted", T0 + 2 * 1800)
    ended = rules.plan(live(1, heartbeat=T0 + 2400), T0 + 9999, M)
    assert rules.outcome(ended, 1) == Ending("inactivity", T0 + 3300)
    assert rules.outcome(ended, 0) == Ending("credits_exhausted", T0 + 1800)


def test_nothing_to_do_unless_live() -> None:
    assert rules.plan(StreamState("scheduled", None, None, None, 0), T0, M) is rules.NOTHING
    assert rules.plan(StreamState("ended", T0, None, None, 3), T0 + 99_999, M) is rules.NOTHING


def test_time_until_next_deduction() -> None:
    assert rules.time_until_next_deduction_minutes(live(1), T0 + 300, 1800) == 25.0
    assert rules.time_until_next_deduction_minutes(live(1), T0 + 301, 1800) == 24.98
    assert rules.time_until_next_deduction_minutes(live(1), T0 + 1900, 1800) == 0.0  # overdue
    assert rules.time_until_next_deduction_minutes(StreamState("ended", T0, None, None, 1), T0, 1800) is None


def test_blocks_with_fractional_seconds_agree_with_their_recorded_start() -> None:
    m = Metering(block=0.3, warn_after=10, end_after=20)
    start = 1_760_259_600.1
    for consumed in range(0, 40):
        now = start + consumed * 0.3
        for b in rules.plan(StreamState("live", start, now, None, consumed), now, m).charges:
            assert b.starts_at <= now and b.starts_at == start + b.number * 0.3


def test_low_credits_and_grants() -> None:
    assert rules.low_credits(2) and rules.low_credits(0) and not rules.low_credits(3)
    assert rules.grant_error(5) is None
    assert rules.grant_error(0) and rules.grant_error(-1) and rules.grant_error(True) and rules.grant_error(1.5)
    assert rules.grant_error(2**63) is not None
    assert rules.grant_amount(5) == 5 and rules.grant_amount(5.0) == 5  # one JSON number
    assert all(isinstance(rules.grant_amount(bad), str) for bad in (5.5, "5", True, 0.0, -2.0, 1e30, None))


def test_metering_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Metering(block=0)


# ------------------------------------------------------------------ due_at: when a check can next do anything
def test_due_at_is_the_earliest_of_next_block_warning_and_end() -> None:
    assert rules.due_at(live(consumed=0), M) == T0  # block 0, at the start
    assert rules.due_at(live(), M) == T0 + 600  # quiet since the start: the warning first
    assert rules.due_at(live(warned=T0 + 600), M) == T0 + 900  # warned: the end next
    assert rules.due_at(live(heartbeat=T0 + 1500), M) == T0 + 1800  # seller there: block 1
    assert rules.due_at(live(2, heartbeat=T0 + 1500), M) == T0 + 2100  # block 2 later than the warning
    # A warning from an earlier quiet stretch does not count for this one.
    assert rules.due_at(live(2, heartbeat=T0 + 1500, warned=T0 + 600), M) == T0 + 2100
    # WARN_AFTER longer than END_AFTER: the end comes first.
    assert rules.due_at(live(), Metering(block=1800, warn_after=1000, end_after=900)) == T0 + 900


def test_due_at_is_none_unless_live() -> None:
    assert rules.due_at(StreamState("scheduled", None, None, None, 0), M) is None
    assert rules.due_at(StreamState("ended", T0, None, None, 3), M) is None


def test_before_due_at_a_check_has_nothing_to_do_and_at_it_something() -> None:
    for state in (live(0), live(), live(warned=T0 + 600), live(heartbeat=T0 + 1500), live(3, heartbeat=T0 + 5000)):
        due = rules.due_at(state, M)
        assert due is not None
        for before in (state.started_at or T0, due - 1, due - 0.001):
            if before < due:
                p = rules.plan(state, before, M)
                assert (p.charges, p.warn, p.end) == ((), False, None), (state, before)
        p = rules.plan(state, due, M)
        assert p.charges or p.warn or p.end is not None, state


@settings(max_examples=200, deadline=None)
@given(
    block=st.integers(min_value=5, max_value=40),
    warn=st.integers(min_value=2, max_value=30),
    end_extra=st.integers(min_value=1, max_value=30),
    beats=st.lists(st.integers(min_value=1, max_value=300), max_size=25),
    credits=st.integers(min_value=1, max_value=12),
)
def test_checking_only_at_due_at_does_what_checking_every_second_does(
    block: int, warn: int, end_extra: int, beats: list[int], credits: int
) -> None:
    """A moved clock, one second at a time, for two monitors over the same seller (the
    same heartbeats): one checks every second (the old monitor), the other only when
    `due_at` has come. Both charge, warn and end at the same seconds."""
    m = Metering(block=block, warn_after=warn, end_after=warn + end_extra)
    heartbeats = set(beats)

    def run(only_when_due: bool) -> list[tuple[int, str, object]]:
        state, balance, log = live(consumed=1), credits - 1, []
        for now in range(int(T0) + 1, int(T0) + 400):
            if state.status != "live":
                break
            due = rules.due_at(state, m)
            assert due is not None
            t = float(now)
            if now - int(T0) in heartbeats:  # a heartbeat's own check, then the heartbeat
                p = rules.plan(state, t, m, heartbeat=True)
            elif only_when_due and t < due:
                p = rules.plan(state, t, m)
                assert (p.charges, p.warn, p.end) == ((), False, None)
                continue
            else:
                p = rules.plan(state, t, m)
            paid = min(len(p.charges), balance)
            balance -= paid
            log += [(now, "charge", b.number) for b in p.charges[:paid]]
            ending = rules.outcome(p, paid)
            consumed = state.credits_consumed + paid
            if ending is not None:
                log.append((now, "end", (ending.reason, ending.at)))
                state = StreamState("ended", state.started_at, state.last_heartbeat, state.warned_at, consumed)
            elif p.warn:
                log.append((now, "warn", t))
                state = StreamState("live", state.started_at, state.last_heartbeat, t, consumed)
            else:
                hb = t if now - int(T0) in heartbeats else state.last_heartbeat
                state = StreamState("live", state.started_at, hb, state.warned_at, consumed)
        return log

    assert run(only_when_due=True) == run(only_when_due=False)
