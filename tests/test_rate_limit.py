"""429 (SPEC.md §2): a runaway client is slowed down; others are not."""

from __future__ import annotations

from domain.rate_limit import RateLimiter


def test_bucket_allows_a_burst_then_the_rate() -> None:
    now = [1000.0]
    limiter = RateLimiter(rate=2, burst=4, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [None] * 4
    wait = limiter.allow("a")
    assert wait is not None and 0 < wait <= 0.5
    assert limiter.allow("b") is None  # another key has its own bucket
    now[0] += 0.5
    assert limiter.allow("a") is None
    assert limiter.allow("a") is not None


def test_a_rate_of_zero_is_off() -> None:
    limiter = RateLimiter(rate=0, burst=0, clock=lambda: 0.0)
    assert all(limiter.allow("a") is None for _ in range(1000))


def test_pruning_forgets_only_refilled_buckets_first() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=2, clock=lambda: now[0], max_keys=2)
    limiter.allow("old")
    now[0] += 100  # "old" has refilled: forgetting it changes nothing
    limiter.allow("busy")
    limiter.allow("busy")
    limiter.allow("new")
    assert limiter.allow("busy") is not None  # still limited: its bucket was kept


SLOW = 0.2
"""Requests per second in these tests: a burst of one, then one every 5 s, so even a
slow, loaded machine sends the next request before the bucket refills."""


async def test_rest_answers_429_with_retry_after(make_server) -> None:
    server = await make_server(rate_limit=SLOW)
    statuses = []
    for _ in range(4):
        status, body = await server.request("GET", "/api/users/admin/users/online/", sub="boss")
        statuses.append(status)
    assert statuses == [200, 429, 429, 429]
    status, body = await server.request("GET", "/api/users/admin/users/online/", sub="boss")
    assert status == 429 and "slow down" in body["error"] and body["retry_after"] > 0
    async with server.http.get("/api/users/admin/users/online/", headers=server.auth("boss", "admin")) as resp:
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    # Another person, and the host application's service token, are not held back.
    status, _ = await server.request("GET", "/api/users/admin/users/online/", sub="other-admin")
    assert status == 200
    for n in range(10):
        await server.conversation(f"c{n}")


async def test_a_flooding_socket_is_refused_and_others_are_not(make_server) -> None:
    server = await make_server(rate_limit=SLOW)
    await server.conversation("c1")
    flooder, _ = await server.widget("c1")  # its one event of the burst
    acks = [await flooder.call("widget:heartbeat", {"conversationId": "c1", "sessionId": "s-c1"}) for _ in range(5)]
    assert all(not a["ok"] and "Too many events" in a["error"] for a in acks)
    await server.widget("c1")  # another socket has its own allowance
    assert (await server.request("GET", "/api/widget/presence?conversationId=c1"))[1]["devices"] == 2
