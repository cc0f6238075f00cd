"""Departures' lastSeen writes, group-committed: a mass departure is a few transactions, not 10,000.

Writing each departure in its own transaction (UPDATE + COMMIT) queues one
commit per customer when 10,000 tabs leave at once (a deploy, a network blip),
and every handler waits behind the commits before it. Here `keep` joins the
pending batch and returns once that batch has been tried; one writer task
commits a batch as soon as the previous commit is done: one row when
departures are rare, thousands in one executemany UPDATE during a storm. The
stored guard stays (`last_seen` never moves back), and rows are written in one
order (by conversation id) so concurrent writers on several nodes cannot
deadlock.

A failed batch is not lost: its rows go back into the pending batch (a newer
departure of the same conversation wins) and are tried again after a pause
(0.5 s, doubling to 30 s) until they are written or the process stops; `close`
(shutdown) tries once more. Callers are not held up by retries: `keep` never
raises, and agents were told regardless (the feed delivers the change the
store published, not this write).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, update

from db.engine import SessionFactory
from db.models import Conversation
from domain.clock import to_datetime
from domain.widget_presence import CustomerPresence

log = logging.getLogger("presence.widget")

_table = cast(Table, Conversation.__table__)
_UPDATE = (
    update(_table)
    .where(
        _table.c.id == bindparam("b_id"),
        or_(_table.c.last_seen.is_(None), _table.c.last_seen < bindparam("b_seen")),
    )
    .values(last_seen=bindparam("b_seen"), last_heartbeat=bindparam("b_heartbeat"))
)

RETRY_FIRST = 0.5
RETRY_MAX = 30.0

Row = tuple[datetime, datetime | None]  # (last_seen, last_heartbeat)


class DepartureWriter:
    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        self._pending: dict[str, Row] = {}
        self._done: asyncio.Future[None] | None = None  # resolved when the pending batch has been tried
        self._task: asyncio.Task[None] | None = None
        self._retry_in = 0.0
        self._sleeping = False
        self._closing = False
        self.batches = 0
        self.rows = 0
        self.failures = 0

    def _merge(self, conversation_id: str, row: Row) -> None:
        prev = self._pending.get(conversation_id)
        if prev is None or prev[0] < row[0]:
            self._pending[conversation_id] = row

    async def keep(self, p: CustomerPresence) -> None:
        """Joins the next batch and returns once it has been tried (never raises)."""
        if p.last_seen is None:
            return
        heartbeat = None if p.last_heartbeat is None else to_datetime(p.last_heartbeat)
        self._merge(p.conversation_id, (to_datetime(p.last_seen), heartbeat))
        loop = asyncio.get_running_loop()
        if self._done is None:
            self._done = loop.create_future()
        done = self._done
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="departure-writer")
        with contextlib.suppress(Exception):
            await asyncio.shield(done)

    async def _run(self) -> None:
        while self._pending:
            if self._retry_in:
                if self._closing:
                    return  # close() tries once more
                self._sleeping = True
                try:
                    await asyncio.sleep(self._retry_in)
                finally:
                    self._sleeping = False
            batch, self._pending = self._pending, {}
            done, self._done = self._done, None
            try:
                ok = await self._write(batch)
            finally:
                if done is not None and not done.done():
                    done.set_result(None)
            if ok:
                self._retry_in = 0.0
            else:
                for conversation_id, row in batch.items():  # back in line, unless a newer one came
                    self._merge(conversation_id, row)
                self._retry_in = min(RETRY_MAX, max(RETRY_FIRST, 2 * self._retry_in))

    async def _write(self, batch: dict[str, Row]) -> bool:
        rows: list[dict[str, Any]] = [
            {"b_id": cid, "b_seen": seen, "b_heartbeat": hb} for cid, (seen, hb) in sorted(batch.items())
        ]
        try:
            async with self._db.begin() as tx:
                await tx.execute(_UPDATE, rows)
        except Exception:
            self.failures += 1
            log.exception("could not keep %d departures; trying again", len(rows))
            return False
        self.batches += 1
        self.rows += len(rows)
        return True

    async def close(self) -> None:
        """Shutdown: waits for the batch in flight, then tries once more what is still pending."""
        self._closing = True
        if self._task is not None and not self._task.done():
            if self._sleeping:
                self._task.cancel()  # a retry's pause: its rows are in the pending batch
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pending:
            batch, self._pending = self._pending, {}
            if not await self._write(batch):
                log.error("shutdown: %d departures not kept in the database", len(batch))
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
