"""SPEC.md §3: agents hear a conversation's changes in the order they happened.

Customers leave and come back within milliseconds either side of the reload
grace: some return before it ends (agents hear nothing), some just after (agents
hear offline, then online). Whatever the timing, once nothing changes, the last
online/offline event every agent got must agree with the snapshot: a departure's
`customer:offline` may never arrive after the `customer:online` of the return.
Run on one node (SQLite and PostgreSQL) and on two nodes sharing Redis, with
returns landing on the other node.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from presence.app import RUNTIME
from tests.conftest import Server
from tests.helpers import EventLog
from tests.test_widget_presence import snapshot

CUSTOMERS = 40
SPREAD = 0.02
"""Returns land from SPREAD before to SPREAD after the end of the grace."""
AT_ONCE = 5


def last_presence_event(agent: EventLog, conversation_id: str) -> str | None:
    told = [
        name
        for name, data in agent.events
        if name in ("customer:online", "customer:offline") and data["conversationId"] == conversation_id
    ]
    return told[-1] if told else None


async def returns_around_the_grace(nodes: list[Server]) -> None:
    first = nodes[0]
    grace = first.settings.widget_offline_grace
    names = [f"r{i}" for i in range(CUSTOMERS)]
    for name in names:
        await first.conversation(name)
    agent_client, agent = await nodes[-1].agent()
    for name in names:
        assert (await agent_client.call("conversation:join", {"conversationId": name}, timeout=5))["ok"]
    widgets = [await nodes[i % len(nodes)].widget(name) for i, name in enumerate(names)]
    for _ in names:
        await agent.next("customer:online")

    store = first.app[RUNTIME].store

    async def grace_deadline(name: str) -> float:
        """When the server will tell this departure (its clock is time.time())."""
        async with asyncio.timeout(5):
            # Nobody is told when a departure starts (that is the grace), so read the store.
            while (p := await store.snapshot(name)) is None or p.pending is None:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        return p.pending.deadline

    async def leave_and_return(i: int) -> None:
        # The returning tab connects beforehand (on the other node when there are two),
        # so only its widget:online has to land at the planned moment.
        back, _ = await nodes[(i + 1) % len(nodes)].socket()
        client, _ = widgets[i]
        await client.disconnect()
        deadline = await grace_deadline(names[i])
        offset = -SPREAD + 2 * SPREAD * i / (CUSTOMERS - 1)
        await asyncio.sleep(max(0.0, deadline + offset - time.time()))
        ack = await back.call("widget:online", {"conversationId": names[i], "sessionId": f"s-{names[i]}"}, timeout=5)
        assert ack["ok"] is True, ack

    # A few at a time, so each return is handled when planned rather than queued behind a burst.
    for start in range(0, CUSTOMERS, AT_ONCE):
        await asyncio.gather(*(leave_and_return(i) for i in range(start, min(start + AT_ONCE, CUSTOMERS))))
    # Nothing changes from here on; give every departure's grace time to end and be told.
    await asyncio.sleep(grace + 0.5)
    disagree: list[tuple[str, Any, Any]] = []
    for name in names:
        snap = await snapshot(first, name)
        last = last_presence_event(agent, name)
        if snap["isOnline"] is not True or last != "customer:online":
            disagree.append((name, snap["isOnline"], last))
    assert disagree == [], f"agents' last event disagrees with the snapshot: {disagree}"
    returned_late = sum(
        1 for name in names if any(n == "customer:offline" and d["conversationId"] == name for n, d in agent.events)
    )
    print(f"\n{returned_late} of {CUSTOMERS} customers came back after the grace (offline, then online)")


LONG_LEASES = {"widget_offline_after": 60.0}  # the customers do not heartbeat: no timeouts meanwhile


async def test_one_node(make_server: Any) -> None:
    await returns_around_the_grace([await make_server(**LONG_LEASES)])


@pytest.mark.redis
async def test_two_nodes_on_redis(make_server: Any, redis_settings: dict[str, str]) -> None:
    nodes = [await make_server(**redis_settings, **LONG_LEASES) for _ in range(2)]
    await returns_around_the_grace(nodes)
