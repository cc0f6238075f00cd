"""widget:online without reading the database: the presence store's copy of each
conversation (realtime/store/base.py, "Registrations").

The race it must keep closed: a PUT replacing the session on one node while another
node binds a tab of the old session. Whatever the interleaving, no socket of the old
session stays bound once both are done, and agents were last told the truth.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from infra import perf
from presence.app import RUNTIME
from realtime.store.base import PresenceStore, Registration
from services.widget import registrations
from tests.conftest import Server
from tests.test_widget_presence import snapshot

pytestmark = pytest.mark.skipif(not perf.enabled("registry"), reason="PRESENCE_PERF turns the registry off")


def reg(version: int, session: str = "s1", platform: str = "WIDGET", last_seen: float | None = None) -> Registration:
    return Registration("c1", version, "co-1", platform, session, None, last_seen, None)


async def test_an_older_copy_never_replaces_a_newer_one(store: PresenceStore) -> None:
    assert await store.registration("c1") is None
    assert await store.register(reg(10, "s2"))
    assert not await store.register(reg(9, "s1"))  # read from the database before that PUT
    assert (await store.registration("c1")).session_id == "s2"  # type: ignore[union-attr]
    assert await store.register(reg(10, "s2", last_seen=5.0))  # the same row, read after a departure
    assert await store.register(reg(11, "s3"))


async def test_bind_registered_checks_the_session_in_the_same_step(store: PresenceStore) -> None:
    assert await store.bind_registered("c1", "s1", "a", "n", 1.0) is None  # unknown: nothing bound
    assert await store.snapshot("c1") is None
    await store.register(reg(1, "s1"))
    refused = await store.bind_registered("c1", "s0", "a", "n", 1.0)
    assert isinstance(refused, Registration) and refused.session_id == "s1"
    assert await store.snapshot("c1") is None
    bound = await store.bind_registered("c1", "s1", "a", "n", 1.0)
    assert not isinstance(bound, Registration) and bound is not None and bound.presence.devices == 1
    await store.register(reg(2, "s1", platform="FACEBOOK"))
    assert isinstance(await store.bind_registered("c1", "s1", "b", "n", 2.0), Registration)


async def nodes(make_server: Any, redis_settings: dict[str, str] | None, n: int) -> list[Server]:
    if redis_settings is None:
        return [await make_server()]
    return [await make_server(**redis_settings) for _ in range(n)]


async def forget_registration(server: Server, conversation_id: str) -> None:
    """As if the store's copy had expired: the next widget:online reads the database."""
    store = server.app[RUNTIME].store
    if hasattr(store, "_registrations"):
        store._registrations.pop(conversation_id, None)
    else:
        await store._r.delete(store._reg(conversation_id))


async def put_while_reading(put_node: Server, bind_node: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bind node reads the old row; the PUT (other node) commits and voids; then the bind
    node carries on with what it read. It must be refused, and nothing of the old session stays."""
    await put_node.conversation("c1", session_id="old")
    _, agent = await put_node.agent("c1")
    await forget_registration(put_node, "c1")
    read, resume = asyncio.Event(), asyncio.Event()
    real_get = registrations.conversations.get

    async def slow_get(tx: Any, conversation_id: str) -> Any:
        row = await real_get(tx, conversation_id)
        if not read.is_set():
            read.set()
            await resume.wait()  # the PUT happens here
        return row

    monkeypatch.setattr(registrations.conversations, "get", slow_get)
    tab, _ = await bind_node.socket()
    online = asyncio.create_task(tab.call("widget:online", {"conversationId": "c1", "sessionId": "old"}, timeout=10))
    async with asyncio.timeout(5):
        await read.wait()
    await put_node.conversation("c1", session_id="new")
    resume.set()
    ack = await online
    assert ack["ok"] is False and "sessionId" in ack["error"], ack
    snap = await snapshot(put_node, "c1")
    assert snap["devices"] == 0 and snap["isOnline"] is False
    assert "customer:online" not in agent.names()
    await bind_node.widget("c1", session_id="new")
    assert (await agent.next("customer:online"))["sessionId"] == "new"


async def test_a_put_while_a_tab_comes_online_with_a_copy_read_before_it(
    make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    [node] = await nodes(make_server, None, 1)
    await put_while_reading(node, node, monkeypatch)


@pytest.mark.redis
async def test_a_put_on_one_node_while_another_binds_from_an_old_read(
    make_server: Any, redis_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await nodes(make_server, redis_settings, 2)
    await put_while_reading(a, b, monkeypatch)


@pytest.mark.redis
async def test_puts_and_binds_racing_on_two_nodes_leave_no_old_session_bound(
    make_server: Any, redis_settings: dict[str, str]
) -> None:
    """Many rounds of: node B's tab of session k comes online while node A's PUT moves the
    conversation to session k+1, at random offsets. Afterwards no socket of an old session
    is bound, and the agents' last word agrees with the snapshot."""
    a, b = await nodes(make_server, redis_settings, 2)
    await a.conversation("c1", session_id="s0")
    _, agent = await b.agent("c1")
    rng = random.Random(7)
    for k in range(15):
        tab, _ = await b.socket()

        async def online(tab: Any = tab, k: int = k) -> dict[str, Any]:
            await asyncio.sleep(rng.uniform(0, 0.01))
            return await tab.call("widget:online", {"conversationId": "c1", "sessionId": f"s{k}"}, timeout=10)

        async def put(k: int = k) -> None:
            await asyncio.sleep(rng.uniform(0, 0.01))
            await a.conversation("c1", session_id=f"s{k + 1}")

        await asyncio.gather(online(), put())
    await asyncio.sleep(0.3)
    store = a.app[RUNTIME].store
    p = await store.snapshot("c1")
    assert p is None or p.devices == 0 or p.session_id == "s15", p
    snap = await snapshot(a, "c1")
    told = [n for n in agent.names() if n in ("customer:online", "customer:offline")]
    assert snap["devices"] == 0
    assert not told or (told[-1] == "customer:offline") == (snap["isOnline"] is False)
