"""Livestream credit metering (SPEC.md §7) as plain functions of time.

Live time is sold in *blocks* of `PRESENCE_STREAM_CREDIT_BLOCK` seconds (default
1800). Block k starts at `started_at + k·block` and costs one credit, charged
when it starts (block 0 at the start). Blocks are charged in order from 0, so a
stream's `credits_consumed` is also the number of its next block.

*Inactivity*: the stream's last activity is the later of its start and its last
heartbeat. After `warn_after` seconds of quiet (default 600) the seller is warned,
once per quiet stretch; after `end_after` (default 900) the stream ends, reason
`inactivity`, with `ended_at = last activity + end_after` however late the check
runs, and no block starting at or after `ended_at` is ever charged.

`plan` turns a stream's state and `now` into what a check must do; the service
applies it in one transaction, charging the blocks in order and stopping at the
first one the balance cannot pay, then asks `outcome` how the stream ends. One
rule for the monitor, heartbeats, `check_credits` and the end request:

- a monitor that was down for several blocks catches up: every due block is in
  the plan, oldest first;
- an inactivity end that fell while nobody looked charges only the blocks that
  started before it;
- a heartbeat that arrives after the end deadline does not revive the stream:
  plan with the state *before* the heartbeat (`heartbeat=True`), and record it
  only if the plan leaves the stream live;
- the seller's end request charges what came due before it, then ends the
  stream (`end_requested=True`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

StreamStatus = Literal["scheduled", "live", "ended"]
SCHEDULED: StreamStatus = "scheduled"
LIVE: StreamStatus = "live"
ENDED: StreamStatus = "ended"
STREAM_STATUSES: tuple[StreamStatus, ...] = (SCHEDULED, LIVE, ENDED)

EndReason = Literal["manual", "inactivity", "credits_exhausted"]
END_REASONS: tuple[EndReason, ...] = ("manual", "inactivity", "credits_exhausted")

LOW_CREDITS = 2
"""`low_credits` is true at this many remaining credits or fewer."""

MAX_CREDITS = 2**63 - 1
"""The most a balance can hold (a signed 64-bit column on both databases)."""


@dataclass(frozen=True, slots=True)
class Metering:
    """The settings of §7, in seconds (`PRESENCE_STREAM_*`)."""

    block: float = 1800
    warn_after: float = 600
    end_after: float = 900

    def __post_init__(self) -> None:
        if not (self.block > 0 and self.warn_after > 0 and self.end_after > 0):
            raise ValueError("block, warn_after and end_after must be positive seconds")


@dataclass(frozen=True, slots=True)
class StreamState:
    """What a check needs to know of a stream (times in epoch seconds)."""

    status: StreamStatus
    started_at: float | None
    last_heartbeat: float | None
    warned_at: float | None
    credits_consumed: int


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    starts_at: float


@dataclass(frozen=True, slots=True)
class Ending:
    reason: EndReason
    at: float


@dataclass(frozen=True, slots=True)
class Plan:
    """What one check must do, in this order:

    1. charge `charges` oldest first, stopping at the first the balance cannot pay;
    2. end the stream as `outcome(plan, charged)` says, if it says so;
    3. else, if `warn`: record the warning (`warned_at = now`) and tell the seller.
    """

    charges: tuple[Block, ...]
    warn: bool
    inactive_seconds: float
    end: Ending | None
    """The end due by inactivity or asked for (`manual`), if any. A block the
    balance cannot pay ends the stream earlier: see `outcome`."""


NOTHING = Plan((), False, 0.0, None)


def block_starts_at(started_at: float, number: int, block: float) -> float:
    return started_at + number * block


def blocks_due(started_at: float, charged: int, now: float, block: float, before: float | None = None) -> list[Block]:
    """Blocks from number `charged` on that have started by `now` (and, when `before`
    is given, start strictly before it), oldest first. Block 0 is due at the start."""
    limit = now if before is None else min(now, math.nextafter(before, -math.inf))
    if limit < started_at:
        return []
    # An estimate, then the exact comparison used for `starts_at`, so float rounding
    # can never make a block due here but not due by its own recorded start.
    last = int((limit - started_at) // block)
    while last >= 0 and block_starts_at(started_at, last, block) > limit:
        last -= 1
    while block_starts_at(started_at, last + 1, block) <= limit:
        last += 1
    return [Block(k, block_starts_at(started_at, k, block)) for k in range(max(charged, 0), last + 1)]


def last_activity(started_at: float, last_heartbeat: float | None) -> float:
    """The later of the start and the last heartbeat."""
    return started_at if last_heartbeat is None else max(started_at, last_heartbeat)


def warned_this_stretch(warned_at: float | None, since: float) -> bool:
    """A warning at or after the stretch's start (the last activity) belongs to it;
    a heartbeat starts a new stretch, so nothing needs clearing."""
    return warned_at is not None and warned_at >= since


def plan(
    state: StreamState, now: float, metering: Metering, *, heartbeat: bool = False, end_requested: bool = False
) -> Plan:
    """What a check at `now` must do to this stream.

    `heartbeat=True`: the check is made for a heartbeat arriving at `now` (no
    warning, since the seller is there; an end already due still ends the stream).
    `end_requested=True`: the seller ends it now (reason `manual`, unless an
    inactivity end fell earlier); a block starting at that very moment is not charged.
    """
    if state.status != LIVE or state.started_at is None:
        return NOTHING
    started = state.started_at
    last = last_activity(started, state.last_heartbeat)
    quiet = max(0.0, now - last)
    end: Ending | None = None
    if quiet >= metering.end_after:
        end = Ending("inactivity", last + metering.end_after)
    elif end_requested:
        end = Ending("manual", now)
    charges = blocks_due(
        started, state.credits_consumed, now, metering.block, before=end.at if end is not None else None
    )
    warn = (
        end is None
        and not heartbeat
        and quiet >= metering.warn_after
        and not warned_this_stretch(state.warned_at, last)
    )
    return Plan(tuple(charges), warn, quiet, end)


def outcome(p: Plan, charged: int) -> Ending | None:
    """How the stream ends once `charged` of the plan's blocks were paid: the first
    unpaid block ends it (`credits_exhausted`) at that block's start, the moment its
    paid time ran out; else the plan's end (inactivity or manual), if any; else it
    stays live (None)."""
    if charged < len(p.charges):
        return Ending("credits_exhausted", p.charges[charged].starts_at)
    return p.end


def due_at(state: StreamState, metering: Metering) -> float | None:
    """The earliest instant at which a check of this stream can have anything to do
    (a block to charge, the warning, the end by inactivity), or None unless live.

    It is the earliest of the next block's start (`started_at + credits_consumed·block`),
    the warning point (last activity + `warn_after`, unless this quiet stretch was
    already warned) and the inactivity deadline (last activity + `end_after`); any
    of them may lie in the past (then the stream is due at once). Before it, `plan`
    (without a heartbeat or an end request) has nothing to do: no block has started,
    the stream has not been quiet for `warn_after`, nor for `end_after`. The end for
    want of credits needs no point of its own, it falls at a block's start; a grant
    changes none of these, and `low_credits` is only a figure of the answers.

    The monitor stores this on each live stream (`livestreams.due_at`, rewritten in
    the unit of work of every check that changes the stream) and reads only the
    streams whose instant has come. It is a function of the settings too: after a
    change of `PRESENCE_STREAM_*` the stored instants are recomputed before the
    monitor trusts them (`services.credits.Credits.monitor`), so a shorter timeout
    is never missed.
    """
    if state.status != LIVE or state.started_at is None:
        return None
    started = state.started_at
    last = last_activity(started, state.last_heartbeat)
    points = [block_starts_at(started, max(state.credits_consumed, 0), metering.block), last + metering.end_after]
    if not warned_this_stretch(state.warned_at, last):
        points.append(last + metering.warn_after)
    return min(points)


def time_until_next_deduction_minutes(state: StreamState, now: float, block: float) -> float | None:
    """Minutes (two decimals) until the next block is charged; None unless live."""
    if state.status != LIVE or state.started_at is None:
        return None
    next_at = block_starts_at(state.started_at, state.credits_consumed, block)
    return round(max(0.0, next_at - now) / 60, 2)


def low_credits(remaining: int) -> bool:
    return remaining <= LOW_CREDITS


def grant_amount(amount: object) -> int | str:
    """The credits `amount` grants, or why it cannot be granted (a sentence).

    A positive whole number that fits; `5.0` is the number 5 (JSON and JSON Schema
    make no difference between them), `5.5`, `"5"` and `true` are not numbers of credits.
    """
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    problem = grant_error(amount)
    if problem is not None or not isinstance(amount, int):
        return problem or "amount must be a positive integer"
    return amount


def grant_error(amount: object) -> str | None:
    """Why `amount` cannot be granted, or None (a positive whole number that fits)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return "amount must be a positive integer"
    if amount > MAX_CREDITS:
        return f"amount must be at most {MAX_CREDITS}"
    return None
