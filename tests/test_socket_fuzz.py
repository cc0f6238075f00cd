"""A fuzzer for every Socket.IO event (issue 12): random event names and
payloads (types, sizes, unicode, missing fields, binary) from a widget socket
and from a token holder who may not act on the conversation. Each must be
refused with an ack saying why, the server must stay up, a bystander customer
and agent must be unaffected, and nothing stored may change."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presence.app import RUNTIME
from tests.conftest import Server
from tests.helpers import EventLog
from tests.test_widget_presence import ids, snapshot

EVENTS = [
    "widget:online",
    "widget:heartbeat",
    "widget:offline",
    "widget:typing",
    "widget:visibility",
    "conversation:join",
    "conversation:leave",
    "user:heartbeat",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    # What a JSON encoder can send (malformed packets are fuzzed below, raw).
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=300),
    st.binary(max_size=64),
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=20,
)
an_id = st.one_of(
    st.just("c1"), st.just(""), st.text(max_size=300), st.integers(-(2**63), 2**63 - 1), st.none(), st.just("x" * 5000)
)
# Everything but the one session that would legitimately bind (s-c1).
a_session = an_id.filter(lambda v: v != "s-c1")
shaped = st.fixed_dictionaries(
    {},
    optional={
        "conversationId": an_id,
        "sessionId": a_session,
        "isTyping": anything,
        "hidden": anything,
        "extra": anything,
    },
)


@pytest.fixture
async def arena(make_server: Any) -> dict[str, Any]:
    """A bound customer, an agent watching it, and two sockets to fuzz from:
    a widget (no token) and a service token (which may act on nothing). Leases
    long enough that nothing times out during the run."""
    server = await make_server(widget_offline_after=120.0, rate_limit=0)  # limits have tests of their own
    await server.conversation("c1")
    _, agent = await server.agent("c1")
    widget, _ = await server.widget("c1")
    await agent.next("customer:online")
    anonymous, _ = await server.socket()
    service, _ = await server.socket(server.token("backend", "service"))
    return {"server": server, "agent": agent, "widget": widget, "fuzzers": [anonymous, service]}


async def stored(server: Server) -> tuple[Any, ...]:
    snap = await snapshot(server, "c1")
    async with server.app[RUNTIME].db() as s:
        from sqlalchemy import func, select

        from db.models import Conversation, User

        users = await s.scalar(select(func.count()).select_from(User))
        convs = await s.scalar(select(func.count()).select_from(Conversation))
    return snap["isOnline"], snap["devices"], snap["socketsInRoom"], snap["away"], users, convs


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    event=st.one_of(st.sampled_from(EVENTS), st.text(max_size=40)),
    payload=st.one_of(shaped, anything),
    who=st.integers(min_value=0, max_value=1),
)
async def test_any_event_and_payload_is_refused_and_changes_nothing(
    arena: dict[str, Any], event: str, payload: Any, who: int
) -> None:
    server: Server = arena["server"]
    agent: EventLog = arena["agent"]
    before = await stored(server)
    fuzzer = arena["fuzzers"][who]
    ack = await fuzzer.call(event, payload, timeout=5)
    assert isinstance(ack, dict) and ack["ok"] is False and isinstance(ack["error"], str) and ack["error"], ack
    assert fuzzer.connected
    # The bystanders are unaffected and nothing stored moved.
    assert (await arena["widget"].call("widget:heartbeat", ids("c1"), timeout=5))["ok"] is True
    assert (await agent.next("customer:heartbeat"))["devices"] == 1
    assert await stored(server) == before
    assert agent.pending("customer:offline") == [] and agent.pending("customer:online") == []


RAW_PACKETS: list[tuple[str | bytes, str]] = [
    # (frame, what the sender gets: "refused" = an ack {"ok": false}; "closed" = disconnected;
    #  "ignored" = nothing, and the socket still works)
    ('421["widget:online",{"conversationId":123456789012345678901234567890,"sessionId":"s"}]', "refused"),
    ('421["widget:heartbeat",{"conversationId":"c1","sessionId":"s-c1"}]', "refused"),  # not bound
    ('421["widget:online",{"conversationId":NaN}]', "closed"),
    ('421["widget:online",{"conversationId":1e999}]', "closed"),
    ('421["widget:online"', "closed"),
    ("421" + "[" * 5000 + "]" * 5000, "closed"),
    ('431["widget:online"]', "ignored"),  # an ack the server never asked for
    ("4x", "closed"),
    ("9", "ignored"),  # not an engine.io packet type
    (r'421["\ud800"]', "closed"),  # a lone surrogate, escaped
    (b"\xff\xfe garbage", "closed"),
]


async def test_malformed_packets_leave_the_server_and_the_bystanders_alone(arena: dict[str, Any]) -> None:
    """Frames a JSON encoder would never produce, sent raw over the WebSocket: the
    sender is disconnected, everyone else carries on, nothing stored changes."""
    import aiohttp

    server: Server = arena["server"]
    agent: EventLog = arena["agent"]
    before = await stored(server)
    ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        for packet, expected in RAW_PACKETS:
            async with http.ws_connect(ws_url) as ws:
                assert (await ws.receive_str()).startswith("0{")  # engine.io open
                await ws.send_str("40")  # socket.io connect, no auth: a widget
                assert (await ws.receive_str()).startswith("40")
                if isinstance(packet, bytes):
                    await ws.send_bytes(packet)
                else:
                    await ws.send_str(packet)
                if expected == "ignored":  # the next well-formed event is still answered
                    await ws.send_str('422["widget:heartbeat",{"conversationId":"c1","sessionId":"s-c1"}]')
                try:
                    answer = await ws.receive(timeout=5)
                except TimeoutError:
                    raise AssertionError(f"no answer to {packet[:60]!r}") from None
                if expected in ("refused", "ignored"):
                    assert answer.type == aiohttp.WSMsgType.TEXT and '"ok":false' in answer.data, (packet, answer)
                else:  # engine.io's close packet ("1"), or the WebSocket closing
                    closing = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                    assert answer.type in closing or answer.data == "1", (packet, answer)
    assert (await arena["widget"].call("widget:heartbeat", ids("c1"), timeout=5))["ok"] is True
    assert (await agent.next("customer:heartbeat"))["devices"] == 1
    assert await stored(server) == before
    status, _ = await server.request("GET", "/api/health", role=None)
    assert status == 200
