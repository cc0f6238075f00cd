"""Bad input over Socket.IO (SPEC.md §3): each gets `{"ok": false, "error"}`,
nothing else changes, and other sockets are unaffected."""

from __future__ import annotations

import pytest
import socketio

from tests.conftest import Server
from tests.test_widget_presence import ids, snapshot


@pytest.mark.parametrize(
    ("payload", "error_part"),
    [
        (None, "payload must be an object"),
        ("c1", "payload must be an object"),
        ({}, "conversationId is required"),
        ({"conversationId": "c1"}, "sessionId is required"),
        ({"conversationId": 5, "sessionId": "s-c1"}, "conversationId is required"),
        ({"conversationId": "c1", "sessionId": ""}, "sessionId is required"),
        ({"conversationId": "x" * 300, "sessionId": "s"}, "at most 255"),
        ({"conversationId": "nope", "sessionId": "s-nope"}, "Unknown conversation"),
        ({"conversationId": "c1", "sessionId": "s-c2"}, "sessionId does not belong"),
        ({"conversationId": "fb", "sessionId": "s-fb"}, "Only WIDGET conversations"),
    ],
)
async def test_widget_online_refusals_change_nothing(server: Server, payload, error_part) -> None:
    await server.conversation("c1")
    await server.conversation("c2")
    await server.conversation("fb", platform="FACEBOOK")
    _, agent = await server.agent("c1")
    widget, _ = await server.socket()
    ack = await widget.call("widget:online", payload)
    assert ack["ok"] is False and error_part in ack["error"]
    # Still unbound: its heartbeat is refused, and nobody came online.
    assert (await widget.call("widget:heartbeat", ids("c1")))["ok"] is False
    assert (await snapshot(server, "c1"))["isOnline"] is False
    assert agent.names() == []
    # Another widget on the same server is unaffected.
    await server.widget("c1")
    assert (await agent.next("customer:online"))["devices"] == 1


@pytest.mark.parametrize("event", ["widget:heartbeat", "widget:offline", "widget:typing", "widget:visibility"])
async def test_events_before_widget_online_are_refused(server: Server, event: str) -> None:
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.socket()
    payload = {**ids("c1"), "isTyping": True, "hidden": True}
    ack = await widget.call(event, payload)
    assert ack == {"ok": False, "error": "Send widget:online for this conversation first"}
    assert agent.names() == []


async def test_events_for_another_conversation_than_the_bound_one_are_refused(server: Server) -> None:
    await server.conversation("c1")
    await server.conversation("c2")
    _, agent2 = await server.agent("c2")
    widget, _ = await server.widget("c1")
    ack = await widget.call("widget:heartbeat", ids("c2"))
    assert ack["ok"] is False
    ack = await widget.call("widget:offline", {"conversationId": "c1", "sessionId": "s-c2"})
    assert ack["ok"] is False
    assert agent2.names() == []
    assert (await snapshot(server, "c1"))["isOnline"] is True


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("widget:typing", {"isTyping": "yes"}),
        ("widget:typing", {}),
        ("widget:visibility", {"hidden": 1}),
    ],
)
async def test_flag_events_need_a_boolean(server: Server, event: str, payload: dict) -> None:
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    ack = await widget.call(event, {**ids("c1"), **payload})
    assert ack["ok"] is False and "true or false" in ack["error"]
    assert (await snapshot(server, "c1"))["away"] is False


async def test_an_unknown_event_is_refused(server: Server) -> None:
    widget, _ = await server.socket()
    ack = await widget.call("widget:dance", {})
    assert ack["ok"] is False and "Unknown event" in ack["error"]


async def test_widgets_may_not_join_conversations(server: Server) -> None:
    await server.conversation("c1")
    widget, _ = await server.socket()
    ack = await widget.call("conversation:join", {"conversationId": "c1"})
    assert ack["ok"] is False and "needs a token" in ack["error"]


@pytest.mark.parametrize("role", ["user", "service"])
async def test_only_agents_and_admins_join(server: Server, role: str) -> None:
    await server.conversation("c1")
    client, _ = await server.socket(server.token(f"{role}-1", role, "co-1"))
    ack = await client.call("conversation:join", {"conversationId": "c1"})
    assert ack["ok"] is False and "agent or admin" in ack["error"]


async def test_an_agent_cannot_join_another_companys_conversation(server: Server) -> None:
    await server.conversation("theirs", company="co-2")
    client, agent = await server.agent(company="co-1")
    ack = await client.call("conversation:join", {"conversationId": "theirs"})
    assert ack == {"ok": False, "error": "This conversation belongs to another company"}
    await server.widget("theirs")
    _, their_agent = await server.agent("theirs", company="co-2", sub="agent-2")
    _, admin = await server.agent("theirs", company=None, sub="admin-1", role="admin")
    widget, _ = await server.widget("theirs")
    await widget.call("widget:heartbeat", ids("theirs"))
    await their_agent.next("customer:heartbeat")
    await admin.next("customer:heartbeat")
    assert agent.names() == []


@pytest.mark.parametrize(
    ("payload", "error_part"),
    [({}, "conversationId is required"), ("c1", "payload must be an object"), ({"conversationId": "zz"}, "Unknown")],
)
async def test_join_refusals(server: Server, payload, error_part: str) -> None:
    client, _ = await server.agent()
    ack = await client.call("conversation:join", payload)
    assert ack["ok"] is False and error_part in ack["error"]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda s: "not-a-jwt", "malformed"),
        (lambda s: s.token("a", "agent", "co-1", ttl=-60), "expired"),
        (lambda s: s.tokens.encode("a", "agent", "co-1").rsplit(".", 1)[0] + ".AAAA", "signature"),
        (lambda s: s.token("a", "agent"), "company"),
    ],
)
async def test_a_bad_token_refuses_the_connection_saying_why(server: Server, make_token, reason: str) -> None:
    client = socketio.AsyncClient(reconnection=False)
    told: list[object] = []
    client.on("connect_error", lambda data: told.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"token": make_token(server)}, transports=["websocket"], wait_timeout=5)
    assert len(told) == 1 and reason in told[0]["message"]
    # The server is still fine for everyone else.
    await server.conversation("c1")
    await server.widget("c1")
