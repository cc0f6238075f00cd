"""Livestream credit metering (SPEC.md §7): the one service behind the monitor
job, the stream heartbeat, check_credits, start, end and `presence monitor-credits`.

Every rule is in `domain.credits` (which blocks are due, the warning, the
inactivity end) and every write in `db.queries.livestreams`; this module runs
them the one way that keeps each block charged exactly once:

    one check = one unit of work opened with `begin_write`:
      lock_for_check → plan(state, now) → charge_block for each planned block,
      oldest first, stopping at the first that is not `charged` →
      outcome(plan, charged) applied with `end`, else `mark_warned` if planned →
      the stream's `due_at` rewritten from the state it is left in (`set_due`).

`lock_for_check` holds the stream (FOR UPDATE on PostgreSQL, the write lock on
SQLite) until the unit commits, so two monitors, a heartbeat and a check_credits
racing on one stream, on one node or several, decide one after the other from
what the previous one wrote; and should anything still slip past it,
`charge_block`'s compare-and-set and the ledger's primary key (stream, block)
refuse a second charge. Balance and ledger change in the same transaction.

Only after a unit commits is anything told (`services.credit_notices`): the
seller's room and the admins hear each charge, warning and end once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import SessionFactory, begin_write
from db.queries import credits as balances
from db.queries import livestreams as streams
from db.queries.livestreams import ChargeRow, Stream
from db.queries.users import ensure_person
from domain import credits as rules
from domain.clock import Clock, to_datetime
from domain.identity import Identity
from infra.broadcast import Broadcaster
from infra.metrics import Metrics
from infra.settings import Settings
from services.credit_notices import ChargedBlock, CreditNotices, StreamCheck
from services.credit_views import StreamFigures
from services.errors import BadInput, Conflict, Forbidden, NotFound, PaymentRequired, Refused

log = logging.getLogger("presence.credits")

NOT_LIVE = "Livestream is not currently live"
INSUFFICIENT = "Insufficient credits"
NOT_STARTED = "not_started"
"""The `reason` of a heartbeat refused because the stream was never started."""

Listener = Callable[[StreamCheck], None]

MICROSECOND = timedelta(microseconds=1)
RESYNC_BATCH = 1000
"""Live streams locked per unit of work while `due_at` is recomputed after a change of settings."""


class MonitorError(RuntimeError):
    """Some live streams could not be checked in a monitor pass (the others were)."""


@dataclass(frozen=True, slots=True)
class Statement:
    """A stream's charges, oldest block first, read in the same unit as its
    `credits_consumed` (so the two always agree)."""

    stream_id: str
    charges: list[ChargeRow]
    credits_consumed: int


class Credits:
    def __init__(
        self, db: SessionFactory, clock: Clock, broadcaster: Broadcaster, settings: Settings, metrics: Metrics
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._metering = rules.Metering(
            block=settings.stream_credit_block,
            warn_after=settings.stream_warn_after,
            end_after=settings.stream_end_after,
        )
        self._notices = CreditNotices(broadcaster, metrics)
        self._listeners: list[Listener] = []

    @property
    def metering(self) -> rules.Metering:
        return self._metering

    def watch(self, listener: Listener) -> None:
        """Hands `listener` every stream a monitor pass checks (`monitor-credits --verbose`)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ balances
    async def grant(self, user_id: str, amount: object, granted_by: str | None) -> int:
        """Adds credits (creating the user if unseen); the new balance. A bad amount,
        BadInput; one that would take the balance past what the column holds: Conflict
        (the amount is fine, the stored balance is what cannot take it)."""
        granted = rules.grant_amount(amount)
        if isinstance(granted, str):
            raise BadInput("amount", granted)
        amount = granted
        async with self._db.begin() as tx:
            remaining = await balances.grant(tx, user_id, amount, to_datetime(self._clock()), granted_by)
        if remaining is None:
            raise Conflict(f"the balance would pass {rules.MAX_CREDITS} credits; nothing was granted")
        await self._notices.granted(user_id, amount, remaining, granted_by)
        return remaining

    async def balance(self, user_id: str) -> int:
        """The user's remaining credits (0 for a user never seen)."""
        async with self._db() as tx:
            return await balances.balance(tx, user_id) or 0

    # ------------------------------------------------------------ streams
    async def create(self, identity: Identity, title: str) -> Stream:
        """A new stream of the caller, status `scheduled` (the caller's row is made if new)."""
        now = to_datetime(self._clock())
        async with self._db.begin() as tx:
            await ensure_person(tx, identity.sub, identity.name, identity.role, identity.company, now)
            return await streams.create(tx, identity.sub, title, now)

    async def get(self, identity: Identity, stream_id: str) -> StreamFigures:
        """The stream (owner or admin), with the owner's balance."""
        async with self._db() as tx:
            stream = _allowed(await streams.get(tx, stream_id), identity, admin=True)
            return await self._figures(tx, stream, self._clock())

    async def start(self, identity: Identity, stream_id: str) -> StreamFigures:
        """`scheduled` → `live` (owner), paying block 0 in the same unit: without a
        credit the whole unit rolls back (402) and the stream stays scheduled."""
        async with begin_write(self._db) as tx:
            stream = _allowed(await streams.lock_for_check(tx, stream_id), identity, admin=False)
            now = self._clock()  # under the lock (see `end`)
            at = to_datetime(now)
            if stream.status == rules.LIVE:
                raise Conflict("Livestream is already live", status=stream.status)
            if stream.status == rules.ENDED:
                raise Conflict("Livestream has already ended", status=stream.status, reason=stream.end_reason)
            live = await streams.start(tx, stream.id, at)
            if live is None:  # cannot happen under the lock; never start twice
                raise Conflict("Livestream is not scheduled", status=stream.status)
            paid = await streams.charge_block(tx, stream.id, stream.user_id, 0, at, at)
            if paid.outcome != "charged" or paid.remaining_credits is None:
                raise PaymentRequired(INSUFFICIENT)
            after = await streams.get(tx, stream.id)
            if after is not None:
                await self._store_due(tx, after)
            figures = await self._figures(tx, after or live, now, paid.remaining_credits)
        first = ChargedBlock(0, _started(figures.stream), paid.remaining_credits)
        await self._notices.started(figures)
        await self._notices.checked(StreamCheck(figures, (first,)))
        return figures

    async def heartbeat(self, identity: Identity, stream_id: str) -> StreamFigures:
        """The seller is there (owner): first a check planned with the state before this
        heartbeat (so one arriving after the inactivity end does not revive the
        stream), then the heartbeat, if the stream is still live. A stream not live,
        or ended by this very check, is refused: 400 with the `reason`."""
        async with begin_write(self._db) as tx:
            stream = _allowed(await streams.lock_for_check(tx, stream_id), identity, admin=False)
            now = self._clock()  # under the lock
            if stream.status != rules.LIVE:
                raise _not_live(stream)
            check = await self._check(tx, stream, now, heartbeat=True)
        await self._notices.checked(check)
        if check.figures.ended:
            raise _not_live(check.stream)
        self._metrics.heartbeats.labels("stream").inc()
        return check.figures

    async def check_credits(self, identity: Identity, stream_id: str) -> StreamFigures:
        """A check on demand (owner or admin): the figures after charging every block due."""
        async with begin_write(self._db) as tx:
            stream = _allowed(await streams.lock_for_check(tx, stream_id), identity, admin=True)
            check = await self._check(tx, stream, self._clock())  # now: under the lock
        await self._notices.checked(check)
        return check.figures

    async def end(self, identity: Identity, stream_id: str) -> StreamFigures:
        """The seller ends the stream (owner): the blocks due before now are charged
        first, and the end is `manual` unless it had already ended by inactivity or
        a block it could not pay. A scheduled stream is called off (`manual`, never
        charged); an ended one answers 409."""
        async with begin_write(self._db) as tx:
            stream = _allowed(await streams.lock_for_check(tx, stream_id), identity, admin=False)
            # `now` is read once the stream is locked, never before: a check that held the
            # lock meanwhile may have charged blocks starting after an earlier `now`, and
            # an end at that earlier instant would leave them charged past `ended_at`.
            now = self._clock()
            if stream.status == rules.ENDED:
                raise Conflict("Livestream has already ended", status=stream.status, reason=stream.end_reason)
            if stream.status == rules.SCHEDULED:
                ended = await streams.end(tx, stream.id, to_datetime(now), "manual", from_statuses=(rules.SCHEDULED,))
                if ended is None:
                    raise Conflict("Livestream could not be ended", status=stream.status)
                check = StreamCheck(await self._figures(tx, ended, now), ended=rules.Ending("manual", now))
            else:
                check = await self._check(tx, stream, now, end_requested=True)
        await self._notices.checked(check)
        return check.figures

    async def statement(self, identity: Identity, stream_id: str) -> Statement:
        """The stream's charges (owner or admin). Read under the check lock, so the
        number of charges and `credits_consumed` come from one moment."""
        async with begin_write(self._db) as tx:
            stream = _allowed(await streams.lock_for_check(tx, stream_id), identity, admin=True)
            rows = await streams.statement(tx, stream.id)
        return Statement(stream.id, rows, stream.credits_consumed)

    async def page(self, status: str | None, limit: int, offset: int) -> tuple[int, list[StreamFigures]]:
        """`(count, one page)` of streams, newest first, each with its owner's balance (admins)."""
        now = self._clock()
        async with self._db() as tx:
            count, rows = await streams.page(tx, status, limit, offset)
        block = self._metering.block
        return count, [StreamFigures(r.stream, r.remaining_credits, now, block) for r in rows]

    # ------------------------------------------------------------ the monitor
    async def monitor(self) -> dict[str, int]:
        """One pass over the live streams that have something due, one unit of work
        each (the job `credit_monitor`, every PRESENCE_STREAM_CHECK_EVERY, and
        `presence monitor-credits`). However long nobody looked, each check charges
        every block that came due. Returns what the pass did, for /api/health:
        `checked` counts the streams it checked (those with something due).

        Which streams: every live stream stores `due_at`, the earliest instant a
        check can have anything to do (`domain.credits.due_at`: the next block's
        start, the warning point, the inactivity deadline). Every check that changes
        a stream (start, heartbeat, check_credits, end, the monitor's own) rewrites
        it in its own unit of work, under the stream's lock, from the state it
        leaves; a grant changes none of the three instants. The pass reads
        `status = 'live' AND due_at <= now` from the partial index
        `ix_livestreams_live_due_at`, so it costs one indexed range plus one locked
        check per stream that needs it, however many live streams have nothing due.
        The locked check decides from the locked row as before (exactly once: see
        the module docstring); `due_at` only chooses whom to look at, and a stream
        whose instant has not come has, by that rule, nothing a check could do.

        Settings: `due_at` depends on PRESENCE_STREAM_CREDIT_BLOCK, _WARN_AFTER and
        _END_AFTER, which may change across a restart (a shorter timeout would leave
        stored instants too late). Table `credit_metering` records the settings the
        stored instants were computed with; a pass that finds other ones (or none:
        just migrated) first recomputes every live stream's `due_at` with its own,
        in batches of locked streams (`_resync`), then records them. Passes with
        unchanged settings pay one primary-key read for this. Nodes are expected to
        run the same settings; while they differ (a rolling change), a stream is
        checked by the instant of the settings of the node that last checked it.

        A stream whose check fails is logged and skipped so the others are still
        checked (its `due_at` is unchanged, so the next pass tries it again); the
        pass then raises `MonitorError` so the failure is recorded."""
        await self._resync()
        async with self._db() as tx:
            due = await streams.due_ids(tx, to_datetime(self._clock()))
        totals = {"checked": 0, "charged": 0, "warned": 0, "ended": 0}
        failed = 0
        for stream_id in due:
            try:
                check = await self._monitor_one(stream_id)
            except Exception:
                failed += 1
                log.exception("credit monitor: could not check stream %s", stream_id)
                continue
            if check is None:
                continue  # ended (or gone) since it was listed
            await self._notices.checked(check)
            totals["checked"] += 1
            totals["charged"] += len(check.charged)
            totals["warned"] += int(check.warned)
            totals["ended"] += int(check.ended is not None)
            for listener in self._listeners:
                listener(check)
        if failed:
            raise MonitorError(f"{failed} of {len(due)} live streams due could not be checked")
        return totals

    async def _resync(self) -> int:
        """If the stored `due_at` were computed with other settings than ours (see
        `monitor`), recomputes every live stream's, batch by batch, each batch locked
        (so no check changes a stream between our read and our write), and then
        records our settings; the number of streams whose `due_at` changed. A pass
        interrupted halfway leaves the old record, so the next one starts over."""
        m = self._metering
        mine = (float(m.block), float(m.warn_after), float(m.end_after))
        async with self._db() as tx:
            if await streams.metering_stamp(tx) == mine:
                return 0
        changed, after = 0, ""
        while True:
            async with begin_write(self._db) as tx:
                batch = await streams.lock_live_batch(tx, after, RESYNC_BATCH)
                stale = [(b.id, due) for b in batch if (due := self._due_at(b)) is not None and due != b.due_at]
                await streams.set_due_many(tx, stale)
                changed += len(stale)
            if len(batch) < RESYNC_BATCH:
                break
            after = batch[-1].id
        async with self._db.begin() as tx:
            await streams.set_metering_stamp(tx, mine, to_datetime(self._clock()))
        log.info("credit monitor: settings %s recorded; due_at of %d live streams recomputed", mine, changed)
        return changed

    async def _monitor_one(self, stream_id: str) -> StreamCheck | None:
        async with begin_write(self._db) as tx:
            stream = await streams.lock_for_check(tx, stream_id)
            if stream is None or stream.status != rules.LIVE:
                return None
            return await self._check(tx, stream, self._clock())

    # ------------------------------------------------------------ one check
    async def _check(
        self, tx: AsyncSession, stream: Stream, now: float, *, heartbeat: bool = False, end_requested: bool = False
    ) -> StreamCheck:
        """The check of a locked stream, inside the caller's unit (see the module docstring)."""
        plan = rules.plan(stream.state(), now, self._metering, heartbeat=heartbeat, end_requested=end_requested)
        at = to_datetime(now)
        charged: list[ChargedBlock] = []
        stale = False
        for block in plan.charges:
            result = await streams.charge_block(
                tx, stream.id, stream.user_id, block.number, to_datetime(block.starts_at), at
            )
            if result.outcome != "charged" or result.remaining_credits is None:
                stale = result.outcome == "stale"
                break
            charged.append(ChargedBlock(block.number, block.starts_at, result.remaining_credits))
        ending: rules.Ending | None = None
        warned = False
        if stale:
            # Someone else charged it, or it is no longer live: re-read, never retry.
            log.warning("credit check: stream %s changed under the lock; answering from a re-read", stream.id)
        else:
            ending = rules.outcome(plan, len(charged))
            if ending is not None:
                if await streams.end(tx, stream.id, to_datetime(ending.at), ending.reason) is None:
                    ending = None
            elif plan.warn:
                warned = await streams.mark_warned(tx, stream.id, at)
            if heartbeat and ending is None:
                await streams.record_heartbeat(tx, stream.id, at)
        listed = await streams.get_listed(tx, stream.id)
        if listed is None:  # cannot happen: streams are never deleted
            raise NotFound("Unknown livestream")
        after = listed.stream
        await self._store_due(tx, after)
        figures = await self._figures(tx, after, now, listed.remaining_credits)
        return StreamCheck(figures, tuple(charged), warned, plan.inactive_seconds, ending)

    async def _store_due(self, tx: AsyncSession, stream: Stream) -> None:
        """Writes the stream's `due_at` as its state now says (the locked stream, in the
        unit of work that changed it), if it is live and the stored one differs."""
        due = self._due_at(stream)
        if due is not None and due != stream.due_at:
            await streams.set_due(tx, stream.id, due)

    def _due_at(self, stream: Stream) -> datetime | None:
        """`domain.credits.due_at` as a datetime floored to the microsecond (a stored
        instant is never later than the exact one; at worst a check comes 1 µs early,
        finds nothing to do and stores the same instant for the next pass)."""
        due = rules.due_at(stream.state(), self._metering)
        if due is None:
            return None
        at = to_datetime(due)
        return at - MICROSECOND if at.timestamp() > due else at

    async def _figures(
        self, tx: AsyncSession, stream: Stream, now: float, remaining: int | None = None
    ) -> StreamFigures:
        if remaining is None:
            remaining = await balances.balance(tx, stream.user_id) or 0
        return StreamFigures(stream, remaining, now, self._metering.block)


def _allowed(stream: Stream | None, identity: Identity, *, admin: bool) -> Stream:
    """The stream if the caller may act on it: its owner, or (`admin`) any admin."""
    if stream is None:
        raise NotFound("Unknown livestream")
    if stream.user_id == identity.sub or (admin and identity.role == "admin"):
        return stream
    raise Forbidden("This livestream belongs to another user")


def _not_live(stream: Stream) -> Refused:
    """400 `{"error": "Livestream is not currently live", "reason", "status"}`."""
    return Refused(NOT_LIVE, reason=stream.end_reason or NOT_STARTED, status=stream.status)


def _started(stream: Stream) -> float:
    started = stream.state().started_at
    if started is None:
        raise ValueError(f"stream {stream.id} is live without a start time")
    return started
