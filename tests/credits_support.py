"""Helpers for the livestream credit tests (§7): a seller talking to a real server
over REST, and the ledger read straight from its database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.keys import SERVICES
from db.queries import credits as cq
from db.queries import livestreams as lq
from domain.clock import iso
from presence.app import RUNTIME
from tests.conftest import Server

MINUTE = 60.0
# The seed's figures: a credit buys 30 minutes, warning after 10 quiet minutes, end after 15.
SEED = {"stream_credit_block": 1800.0, "stream_warn_after": 600.0, "stream_end_after": 900.0}
# The monitor only runs when a test says so, and a frozen clock must not starve the rate limiter.
BY_HAND = {"stream_check_every": 3600.0, "rate_limit": 0.0}


class Seller:
    """One seller (role user) and what they do, as their frontend would."""

    def __init__(self, server: Server, sub: str = "seller-1", company: str = "shop-1") -> None:
        self.server = server
        self.sub = sub
        self.company = company

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.server.request(method, path, role="user", sub=self.sub, company=self.company, **kw)

    async def socket(self) -> Any:
        _, log = await self.server.socket(self.server.token(self.sub, "user", self.company))
        return log

    async def grant(self, amount: int) -> int:
        status, body = await self.server.request(
            "POST", f"/api/admin/users/{self.sub}/credits", role="admin", sub="boss", json={"amount": amount}
        )
        assert status == 200, body
        assert body["user_id"] == self.sub
        return int(body["remaining_credits"])

    async def balance(self) -> int:
        status, body = await self.call("GET", "/api/users/me/credits")
        assert status == 200, body
        return int(body["remaining_credits"])

    async def create(self, title: str = "Spring sale") -> str:
        status, body = await self.call("POST", "/api/livestreams/", json={"title": title})
        assert status == 201, body
        assert body["status"] == "scheduled"
        return str(body["id"])

    async def start(self, stream_id: str) -> dict[str, Any]:
        status, body = await self.call("PATCH", f"/api/livestreams/start/{stream_id}/")
        assert status == 200, body
        return dict(body)

    async def live(self, title: str = "Spring sale") -> str:
        stream_id = await self.create(title)
        await self.start(stream_id)
        return stream_id

    async def heartbeat(self, stream_id: str) -> tuple[int, Any]:
        return await self.call("POST", f"/api/livestreams/{stream_id}/heartbeat/")

    async def check(self, stream_id: str) -> dict[str, Any]:
        status, body = await self.call("POST", f"/api/livestreams/{stream_id}/check_credits/")
        assert status == 200, body
        return dict(body)

    async def end(self, stream_id: str) -> tuple[int, Any]:
        return await self.call("PATCH", f"/api/livestreams/end/{stream_id}/")

    async def stream(self, stream_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/livestreams/{stream_id}/")
        assert status == 200, body
        return dict(body)

    async def statement(self, stream_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/livestreams/{stream_id}/charges/")
        assert status == 200, body
        return dict(body)


async def monitor(server: Server) -> Any:
    """One run of the job `credit_monitor` on this server (as its scheduler would)."""
    return await server.app[SERVICES].jobs.run("credit_monitor", reraise=True)


async def ledger(server: Server, user_id: str) -> cq.Ledger:
    async with server.app[RUNTIME].db() as s:
        return await cq.ledger(s, user_id)


async def stored(server: Server, stream_id: str) -> lq.Stream:
    async with server.app[RUNTIME].db() as s:
        stream = await lq.get(s, stream_id)
    assert stream is not None
    return stream


async def assert_books_agree(server: Server, seller: Seller, *stream_ids: str) -> None:
    """Each statement lists blocks 0..n-1 once, n = its credits_consumed, and the
    balance is exactly what was granted minus every charge."""
    for stream_id in stream_ids:
        statement = await seller.statement(stream_id)
        blocks = [c["block"] for c in statement["charges"]]
        assert blocks == list(range(statement["credits_consumed"])), statement
        assert all(c["credits"] == 1 for c in statement["charges"])
        assert (await stored(server, stream_id)).credits_consumed == len(blocks)
    books = await ledger(server, seller.sub)
    assert books.balanced, books
    assert await seller.balance() == books.balance


def iso_at(ts: float) -> str:
    """A time as the wire shows it."""
    value = iso(ts)
    assert value is not None
    return value


def parse(value: str) -> float:
    """A wire time back to epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
