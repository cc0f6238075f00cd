"""Chat-widget presence end to end (SPEC.md §3), with the real server and the real
python-socketio client: the six scenarios of the widget document, the reload
grace, many tabs, away, typing, and server-side timeouts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from presence.app import RUNTIME
from tests.conftest import Server


def ids(conversation_id: str) -> dict[str, str]:
    return {"conversationId": conversation_id, "sessionId": f"s-{conversation_id}"}


async def snapshot(server: Server, conversation_id: str, company: str = "co-1") -> dict:
    status, body = await server.request(
        "GET", f"/api/widget/presence?conversationId={conversation_id}", role="agent", company=company
    )
    assert status == 200, body
    return body


async def test_customer_goes_online(server: Server) -> None:
    """Seed test 1: the agent sees the customer come online, once, with one device."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget = await server.socket()
    ack = await widget[0].call("widget:online", ids("c1"))
    assert ack == {"ok": True, "heartbeatInterval": server.settings.widget_heartbeat_interval}
    online = await agent.next("customer:online")
    assert online["conversationId"] == "c1" and online["sessionId"] == "s-c1"
    assert online["devices"] == 1
    assert online["timestamp"].endswith("Z")
    snap = await snapshot(server, "c1")
    assert snap["isOnline"] is True and snap["devices"] == 1 and snap["supported"] is True
    assert snap["onlineSince"] is not None and snap["lastHeartbeat"] is not None and snap["lastSeen"] is None
    assert snap["socketsInRoom"] == 2  # the agent and the customer's tab


async def test_heartbeats_keep_the_customer_online(make_server) -> None:
    """Seed test 2: heartbeats past the offline timeout keep the customer online."""
    server = await make_server(widget_offline_after=0.6)
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    for _ in range(8):  # 8 × 0.15 s = 1.2 s: twice the timeout
        ack = await widget.call("widget:heartbeat", ids("c1"))
        assert ack["ok"] is True
        beat = await agent.next("customer:heartbeat")
        assert beat["devices"] == 1
        await asyncio.sleep(0.15)
    assert "customer:offline" not in agent.names()
    assert (await snapshot(server, "c1"))["isOnline"] is True


async def test_closing_the_tab_goes_offline_after_the_grace(server: Server) -> None:
    """Seed test 3: widget:offline tells agents offline (reason closed) once the grace is over."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    loop = asyncio.get_running_loop()
    closed_at = loop.time()
    assert await widget.call("widget:offline", ids("c1")) == {"ok": True}
    offline = await agent.next("customer:offline")
    waited = loop.time() - closed_at
    assert offline["reason"] == "closed" and offline["devices"] == 0
    assert server.settings.widget_offline_grace <= waited < server.settings.widget_offline_grace + 0.5
    snap = await snapshot(server, "c1")
    assert snap["isOnline"] is False and snap["devices"] == 0 and snap["lastSeen"] is not None
    assert snap["onlineSince"] is None


async def test_a_closed_transport_goes_offline_with_reason_disconnected(server: Server) -> None:
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    await widget.disconnect()
    offline = await agent.next("customer:offline")
    assert offline["reason"] == "disconnected"


async def test_a_silent_socket_times_out_and_is_disconnected(server: Server) -> None:
    """Seed test 4: no heartbeat for WIDGET_OFFLINE_AFTER: the server drops the socket,
    agents hear reason timeout, and a late heartbeat does not bring a ghost back."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    loop = asyncio.get_running_loop()
    started = loop.time()  # before the lease starts (at widget:online), so never after it
    _, widget_log = await server.widget("c1")
    await agent.next("customer:online")
    offline = await agent.next("customer:offline")
    assert offline["reason"] == "timeout"
    s = server.settings
    assert s.widget_offline_after <= loop.time() - started < s.widget_offline_after + s.widget_sweep_every + 1.0
    await widget_log.disconnected()  # the server disconnects it
    assert (await snapshot(server, "c1"))["isOnline"] is False


async def test_a_late_heartbeat_of_an_expired_lease_is_refused(make_server) -> None:
    """No ghost: a heartbeat that arrives after the lease expired is refused and
    the customer stays offline. The lease is expired as the sweep does it, but
    without the sweep's disconnect, so the late heartbeat surely reaches the server."""
    server = await make_server(widget_offline_after=0.3, widget_sweep_every=30)
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    await asyncio.sleep(0.4)
    store = server.app[RUNTIME].store
    assert await store.expire("c1", widget.get_sid(), time.time(), server.settings.widget_offline_after) is not None
    assert (await agent.next("customer:offline"))["reason"] == "timeout"
    ack = await widget.call("widget:heartbeat", ids("c1"), timeout=5)
    assert ack == {"ok": False, "error": "This socket's lease has expired; send widget:online again"}
    assert (await snapshot(server, "c1"))["isOnline"] is False
    assert agent.pending("customer:online") == []


async def test_two_tabs_one_closed_stays_online(server: Server) -> None:
    """Seed test 5: online while any tab lives; offline when the last goes."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    tab1, _ = await server.widget("c1")
    assert (await agent.next("customer:online"))["devices"] == 1
    tab2, _ = await server.widget("c1")
    second = await agent.next("customer:heartbeat")
    assert second["devices"] == 2
    assert (await snapshot(server, "c1"))["devices"] == 2
    await tab1.call("widget:offline", ids("c1"))
    assert (await agent.next("customer:heartbeat"))["devices"] == 1
    # Past the grace, the customer is still online on one device.
    await asyncio.sleep(server.settings.widget_offline_grace + 0.2)
    snap = await snapshot(server, "c1")
    assert snap["isOnline"] is True and snap["devices"] == 1
    await tab2.disconnect()
    offline = await agent.next("customer:offline")
    assert offline["reason"] == "disconnected"
    assert agent.names().count("customer:online") == 1
    assert agent.names().count("customer:offline") == 1


async def test_reconnect_comes_back_online(server: Server) -> None:
    """Seed test 6: lost connection → offline after the timeout → reconnect → online."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    await server.widget("c1")
    await agent.next("customer:online")
    assert (await agent.next("customer:offline"))["reason"] == "timeout"
    await server.widget("c1")
    back = await agent.next("customer:online")
    assert back["devices"] == 1
    assert (await snapshot(server, "c1"))["isOnline"] is True


async def test_a_reload_within_the_grace_tells_agents_nothing(server: Server) -> None:
    """A reload (the socket closes, a new one comes) within the grace: no offline, no online."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    old, _ = await server.widget("c1")
    await agent.next("customer:online")
    await old.disconnect()
    new, _ = await server.widget("c1")  # back well within the grace
    assert (await snapshot(server, "c1"))["isOnline"] is True
    await asyncio.sleep(server.settings.widget_offline_grace + 0.3)
    # A heartbeat as a barrier: anything told before it has arrived by then.
    await new.call("widget:heartbeat", ids("c1"))
    while agent.names().count("customer:heartbeat") < 2:  # the new tab's arrival, then the barrier
        await agent.next("customer:heartbeat")
    assert "customer:offline" not in agent.names()
    assert agent.names().count("customer:online") == 1
    snap = await snapshot(server, "c1")
    assert snap["isOnline"] is True and snap["devices"] == 1


async def test_while_the_grace_runs_the_snapshot_says_online(server: Server) -> None:
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    await widget.call("widget:offline", ids("c1"))
    snap = await snapshot(server, "c1")
    assert snap["isOnline"] is True and snap["devices"] == 0
    await agent.next("customer:offline")
    assert (await snapshot(server, "c1"))["isOnline"] is False


async def test_typing_and_visibility_reach_the_agents(server: Server) -> None:
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    tab1, _ = await server.widget("c1")
    tab2, _ = await server.widget("c1")
    assert await tab1.call("widget:typing", {**ids("c1"), "isTyping": True}) == {"ok": True}
    typing = await agent.next("customer:typing")
    assert typing["isTyping"] is True and typing["devices"] == 2
    ack = await tab1.call("widget:visibility", {**ids("c1"), "hidden": True})
    assert ack["ok"] is True
    first = await agent.next("customer:visibility")
    assert first["hidden"] is True and first["away"] is False  # the other tab is still visible
    await tab2.call("widget:visibility", {**ids("c1"), "hidden": True})
    second = await agent.next("customer:visibility")
    assert second["away"] is True
    assert (await snapshot(server, "c1"))["away"] is True
    await tab2.call("widget:visibility", {**ids("c1"), "hidden": False})
    assert (await agent.next("customer:visibility"))["away"] is False


async def test_an_agent_that_joins_later_gets_the_snapshot_in_the_ack(server: Server) -> None:
    await server.conversation("c1")
    await server.widget("c1")
    client, _ = await server.agent()
    ack = await client.call("conversation:join", {"conversationId": "c1"})
    assert ack["ok"] is True
    assert ack["presence"]["isOnline"] is True and ack["presence"]["devices"] == 1
    left = await client.call("conversation:leave", {"conversationId": "c1"})
    assert left["ok"] is True and left["presence"]["socketsInRoom"] == 1


async def test_left_agents_hear_nothing_more(server: Server) -> None:
    await server.conversation("c1")
    client, agent = await server.agent("c1")
    await client.call("conversation:leave", {"conversationId": "c1"})
    widget, _ = await server.widget("c1")
    _, other = await server.agent("c1", sub="agent-2")
    await widget.call("widget:heartbeat", ids("c1"))
    await other.next("customer:heartbeat")
    assert agent.names() == []


async def test_a_new_session_voids_the_old_sessions_sockets(server: Server) -> None:
    """PUT with another sessionId: the old session's tabs no longer count; agents hear `closed`."""
    await server.conversation("c1", session_id="old")
    _, agent = await server.agent("c1")
    widget, widget_log = await server.widget("c1", session_id="old")
    await agent.next("customer:online")
    await server.conversation("c1", session_id="new")
    offline = await agent.next("customer:offline")
    assert offline["reason"] == "closed"
    assert (await snapshot(server, "c1"))["isOnline"] is False
    # The old session's socket is disconnected by the server: it can never heartbeat again.
    await widget_log.disconnected()
    assert not widget.connected
    await server.widget("c1", session_id="new")
    assert (await agent.next("customer:online"))["sessionId"] == "new"


async def test_a_socket_that_never_says_online_is_disconnected(make_server) -> None:
    server = await make_server(widget_offline_after=0.5)
    idle, idle_log = await server.socket()
    await idle_log.disconnected()
    assert not idle.connected


async def test_a_tab_closed_while_coming_online_leaves_no_ghost(server: Server) -> None:
    """widget:online and the tab's close race: the customer must not stay online."""
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    for _ in range(5):
        tab, _ = await server.socket()
        await tab.emit("widget:online", ids("c1"))  # no wait for the ack: the page is already closing
        await tab.disconnect()
    await asyncio.sleep(server.settings.widget_offline_grace + 0.3)
    snap = await snapshot(server, "c1")
    assert snap["devices"] == 0 and snap["isOnline"] is False
    names = agent.names()  # whatever agents were told, they were last told offline
    assert names.count("customer:online") == names.count("customer:offline")


async def test_a_put_retried_after_a_new_session_still_voids_the_old_tabs(server: Server) -> None:
    """Voiding the old session is idempotent: every PUT checks the live presence, not what changed."""
    await server.conversation("c1", session_id="old")
    await server.widget("c1", session_id="old")
    await server.conversation("c1", session_id="new")
    await server.conversation("c1", session_id="new")
    assert (await snapshot(server, "c1"))["devices"] == 0


async def test_last_seen_survives_a_restart(make_server) -> None:
    """In-process presence is lost with the process; the customer's lastSeen is not."""
    first = await make_server()
    await first.conversation("c1")
    widget, _ = await first.widget("c1")
    _, agent = await first.agent("c1")
    await widget.call("widget:offline", ids("c1"))
    told = await agent.next("customer:offline")
    before = await snapshot(first, "c1")
    assert before["lastSeen"] == told["lastSeen"] and before["lastSeen"] is not None
    second = await make_server()  # a new process on the same database: an empty store
    after = await snapshot(second, "c1")
    assert after["isOnline"] is False
    assert after["lastSeen"] == before["lastSeen"] and after["lastHeartbeat"] == before["lastHeartbeat"]


async def test_agents_that_leave_while_joining_are_not_counted(make_server: Any, redis_settings: Any) -> None:
    """Agents disconnected (by the server: a shutdown, a replaced session) while their
    conversation:join is in flight leave nothing behind in the room count. On Redis,
    where writing the membership takes a round trip for the disconnect to slip into."""
    server = await make_server(**redis_settings)
    await server.conversation("c1")
    agents = [(await server.agent(sub=f"agent-{n}"))[0] for n in range(30)]
    broadcaster = server.app[RUNTIME].broadcaster

    async def join_and_go(client: Any) -> None:
        sid = client.get_sid()
        await client.emit("conversation:join", {"conversationId": "c1"})
        await asyncio.sleep(0.001 * (hash(sid) % 5))  # land the disconnect at different points of the join
        await broadcaster.disconnect(sid)

    await asyncio.gather(*(join_and_go(c) for c in agents))
    await server.agent("c1")  # joins after all of them have gone
    assert (await snapshot(server, "c1"))["socketsInRoom"] == 1
