"""Departures' lastSeen writes, group-committed (services/widget/departures.py): one
transaction for many departures, and a failed batch is retried, not lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain.widget_presence import CustomerPresence
from services.widget import departures
from services.widget.departures import DepartureWriter


class FlakyDatabase:
    """`begin()` like a session factory; the first `fail` transactions fail."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.transactions: list[list[dict[str, Any]]] = []

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        db = self

        class Tx:
            async def execute(self, _statement: Any, rows: list[dict[str, Any]]) -> None:
                await asyncio.sleep(0.01)
                if db.fail > 0:
                    db.fail -= 1
                    raise ConnectionError("database away")
                db.transactions.append(rows)

        yield Tx()


def gone(conversation_id: str, at: float) -> CustomerPresence:
    return CustomerPresence(conversation_id, "s", last_heartbeat=at - 1, last_seen=at)


async def test_a_storm_of_departures_is_a_few_transactions() -> None:
    db = FlakyDatabase(fail=0)
    writer = DepartureWriter(db)  # type: ignore[arg-type]
    await asyncio.gather(*(writer.keep(gone(f"c{i}", 100.0 + i)) for i in range(500)))
    assert sum(len(t) for t in db.transactions) == 500
    assert len(db.transactions) <= 3


async def test_a_failed_batch_is_retried_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(departures, "RETRY_FIRST", 0.01)
    db = FlakyDatabase(fail=2)
    writer = DepartureWriter(db)  # type: ignore[arg-type]
    await writer.keep(gone("c1", 100.0))  # returns (never raises) though its batch failed
    await writer.keep(gone("c1", 50.0))  # an older departure does not replace the pending newer one
    async with asyncio.timeout(5):
        while not db.transactions:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    [rows] = db.transactions
    assert [r["b_id"] for r in rows] == ["c1"] and rows[0]["b_seen"].timestamp() == 100.0
    assert writer.failures == 2


async def test_close_writes_what_is_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(departures, "RETRY_FIRST", 60.0)  # the retry would come long after shutdown
    db = FlakyDatabase(fail=1)
    writer = DepartureWriter(db)  # type: ignore[arg-type]
    await writer.keep(gone("c1", 100.0))
    await writer.close()
    assert [r["b_id"] for t in db.transactions for r in t] == ["c1"]
