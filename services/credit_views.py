"""The wire shapes of livestream credits (SPEC.md §7), written once.

The REST answers and the Socket.IO notices show a stream the same way, so both
build it here: the stream shape of `GET /api/livestreams/{id}/` (also the
answer of start and end), the admin list's row (that shape plus the owner, the
balance and the minutes to the next block), and the statement's charge rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.queries.livestreams import ChargeRow, Stream
from domain import credits as rules
from domain.clock import iso, iso_dt


@dataclass(frozen=True, slots=True)
class StreamFigures:
    """A stream as of `now`, with its owner's balance: what every answer is made from."""

    stream: Stream
    remaining_credits: int
    now: float
    block: float
    """PRESENCE_STREAM_CREDIT_BLOCK, for the minutes to the next block."""

    @property
    def low_credits(self) -> bool:
        return rules.low_credits(self.remaining_credits)

    @property
    def ended(self) -> bool:
        return self.stream.status == rules.ENDED

    @property
    def time_until_next_deduction_minutes(self) -> float | None:
        """Minutes (two decimals) until the next block is charged; None unless live."""
        return rules.time_until_next_deduction_minutes(self.stream.state(), self.now, self.block)

    @property
    def next_block_at(self) -> str | None:
        """When the next block is charged (ISO 8601 UTC), so a page can count down to it
        without knowing the block length; None unless live."""
        return next_block_at(self.stream, self.block)


def next_block_at(stream: Stream, block: float) -> str | None:
    state = stream.state()
    if state.status != rules.LIVE or state.started_at is None:
        return None
    return iso(rules.block_starts_at(state.started_at, state.credits_consumed, block))


def stream_body(stream: Stream) -> dict[str, Any]:
    """`{"id", "title", "status", "started_at", "ended_at", "end_reason", "credits_consumed", "last_activity"}`."""
    return {
        "id": stream.id,
        "title": stream.title,
        "status": stream.status,
        "started_at": iso_dt(stream.started_at),
        "ended_at": iso_dt(stream.ended_at),
        "end_reason": stream.end_reason,
        "credits_consumed": stream.credits_consumed,
        "last_activity": iso_dt(stream.last_activity),
    }


def admin_row(figures: StreamFigures) -> dict[str, Any]:
    """A row of `GET /api/admin/livestreams` (and the payload of `livestream:started` to admins)."""
    return {
        **stream_body(figures.stream),
        "user_id": figures.stream.user_id,
        "remaining_credits": figures.remaining_credits,
        "time_until_next_deduction_minutes": figures.time_until_next_deduction_minutes,
        "next_block_at": figures.next_block_at,
    }


def charge_body(row: ChargeRow) -> dict[str, Any]:
    """One line of a stream's statement."""
    return {
        "block": row.block,
        "credits": row.credits,
        "charged_at": iso_dt(row.charged_at),
        "block_starts_at": iso_dt(row.block_starts_at),
    }
