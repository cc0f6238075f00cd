"""What one credit check did, and how it is told: logs, metrics and Socket.IO.

A check (monitor, heartbeat, check_credits, start, end) is one unit of work;
only once it has committed are its charges, warning and end told, so nobody
hears of a charge that was rolled back. Each is one log line, one count in
`/metrics`, and one event to the seller's room `user:{sub}` plus the same
event, with `"user_id"`, to room `admins` (the console's /admin/streams):

- `livestream:credits` `{"livestream_id", "remaining_credits", "credits_consumed"}`
  after each charged block (admins also get `"block"` and `"next_block_at"`);
- `livestream:warning` `{"livestream_id", "reason": "inactivity", "inactive_seconds"}`;
- `livestream:ended` `{"livestream_id", "reason"}` (admins also get `"ended_at"`);
- admins only: `livestream:started` (a row of `GET /api/admin/livestreams`) and
  `credits:granted` `{"user_id", "amount", "remaining_credits"}` (the user's room too).

Telling is best effort: the database already holds the truth, so a notice that
cannot be sent (Redis away) is logged and the check still answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from db.queries.livestreams import Stream
from domain import credits as rules
from domain.clock import iso
from domain.rooms import ADMINS_ROOM, user_room
from infra.broadcast import Broadcaster
from infra.metrics import Metrics
from services.credit_views import StreamFigures, admin_row

log = logging.getLogger("presence.credits")


@dataclass(frozen=True, slots=True)
class ChargedBlock:
    number: int
    starts_at: float
    remaining_credits: int
    """The owner's balance right after this block was paid."""


@dataclass(frozen=True, slots=True)
class StreamCheck:
    """What one check did to one stream, and the stream as it left it."""

    figures: StreamFigures
    charged: tuple[ChargedBlock, ...] = ()
    warned: bool = False
    inactive_seconds: float = 0.0
    ended: rules.Ending | None = None
    """The end this check decided (None if the stream was not ended by it)."""

    @property
    def stream(self) -> Stream:
        return self.figures.stream

    def line(self) -> str:
        """`stream <id>: charged N, warned yes|no, <live|ended REASON>, remaining R`
        (what `presence monitor-credits --verbose` prints)."""
        s = self.stream
        state = s.status if s.status != rules.ENDED else f"ended {s.end_reason}"
        return (
            f"stream {s.id}: charged {len(self.charged)}, warned {'yes' if self.warned else 'no'}, "
            f"{state}, remaining {self.figures.remaining_credits}"
        )


class CreditNotices:
    def __init__(self, broadcaster: Broadcaster, metrics: Metrics) -> None:
        self._broadcaster = broadcaster
        self._metrics = metrics

    async def checked(self, check: StreamCheck) -> None:
        """Tells a committed check: each charge in block order, then the warning or the end."""
        s = check.stream
        started = s.state().started_at
        for block in check.charged:
            self._metrics.charges.inc()
            log.info(
                "credit charged: stream %s block %d user %s remaining %d",
                s.id,
                block.number,
                s.user_id,
                block.remaining_credits,
            )
            payload = {
                "livestream_id": s.id,
                "remaining_credits": block.remaining_credits,
                "credits_consumed": block.number + 1,
            }
            next_at = None
            if check.ended is None and started is not None:
                next_at = iso(rules.block_starts_at(started, block.number + 1, check.figures.block))
            admin_extra = {"block": block.number, "next_block_at": next_at}
            await self._tell(s.user_id, "livestream:credits", payload, admin_extra)
        if check.warned:
            self._metrics.stream_warnings.inc()
            log.info("inactivity warning: stream %s user %s quiet %.1f s", s.id, s.user_id, check.inactive_seconds)
            payload = {
                "livestream_id": s.id,
                "reason": "inactivity",
                "inactive_seconds": round(check.inactive_seconds, 3),
            }
            await self._tell(s.user_id, "livestream:warning", payload)
        if check.ended is not None:
            await self.ended(s, check.ended.reason, iso(check.ended.at))

    async def ended(self, stream: Stream, reason: str, ended_at: str | None) -> None:
        self._metrics.stream_ends.labels(reason).inc()
        log.info(
            "stream ended: stream %s user %s reason %s at %s after %d credits",
            stream.id,
            stream.user_id,
            reason,
            ended_at,
            stream.credits_consumed,
        )
        await self._tell(
            stream.user_id, "livestream:ended", {"livestream_id": stream.id, "reason": reason}, {"ended_at": ended_at}
        )

    async def started(self, figures: StreamFigures) -> None:
        s = figures.stream
        log.info("stream started: stream %s user %s remaining %d", s.id, s.user_id, figures.remaining_credits)
        await self._emit("livestream:started", admin_row(figures), ADMINS_ROOM)

    async def granted(self, user_id: str, amount: int, remaining: int, granted_by: str | None) -> None:
        log.info("credits granted: user %s amount %d remaining %d by %s", user_id, amount, remaining, granted_by)
        payload = {"user_id": user_id, "amount": amount, "remaining_credits": remaining}
        await self._emit("credits:granted", payload, user_room(user_id))
        await self._emit("credits:granted", payload, ADMINS_ROOM)

    async def _tell(
        self, user_id: str, event: str, payload: dict[str, Any], admin_extra: dict[str, Any] | None = None
    ) -> None:
        await self._emit(event, payload, user_room(user_id))
        await self._emit(event, {**payload, "user_id": user_id, **(admin_extra or {})}, ADMINS_ROOM)

    async def _emit(self, event: str, payload: dict[str, Any], room: str) -> None:
        try:
            await self._broadcaster.emit(event, payload, room)
        except Exception:
            log.warning("could not send %s to %s", event, room, exc_info=True)
