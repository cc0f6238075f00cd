"""Hostile tokens (SPEC §2, issue 12): `alg: none`, another algorithm, a wrong
secret, expired, no `sub`, an unknown role, another tenant. Each is refused on
REST (401, or 403 for another tenant) and on the socket connect (a
`connect_error` saying why), and nothing is recorded for it."""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable

import jwt
import pytest
import socketio

from presence.app import RUNTIME
from tests.conftest import SECRET, Server
from tests.users_support import user_row


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs512(payload: dict[str, object]) -> str:
    with warnings.catch_warnings():  # our test secret is short for SHA-512; that is not the point here
        warnings.simplefilter("ignore")
        return jwt.encode(payload, SECRET, algorithm="HS512")


HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "alg none": (lambda: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}.", "malformed"),
    "alg none, signature kept": (
        lambda: (
            f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}."
            + jwt.encode(claims(), SECRET, algorithm="HS256").rsplit(".", 1)[1]
        ),
        "malformed",
    ),
    "another algorithm (HS512)": (lambda: hs512(claims()), "malformed"),
    "a wrong secret": (lambda: jwt.encode(claims(), "not-the-secret-" * 3, algorithm="HS256"), "signature"),
    "expired": (lambda: jwt.encode(claims(exp=int(time.time()) - 60), SECRET, algorithm="HS256"), "expired"),
    "no sub": (lambda: jwt.encode(claims(sub=None), SECRET, algorithm="HS256"), "'sub'"),
    "an empty sub": (lambda: jwt.encode(claims(sub=""), SECRET, algorithm="HS256"), "sub"),
    "a number as sub": (lambda: jwt.encode({**claims(), "sub": 42}, SECRET, algorithm="HS256"), "sub"),
    "an unknown role": (lambda: jwt.encode(claims(role="root"), SECRET, algorithm="HS256"), "role"),
    "no expiry": (lambda: jwt.encode(claims(exp=None), SECRET, algorithm="HS256"), "'exp'"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_rest_refuses_a_hostile_token_and_records_nothing(server: Server, kind: str) -> None:
    make, why = HOSTILE[kind]
    for method, path in (
        ("GET", "/api/users/admin/users/online/"),
        ("POST", "/api/users/heartbeat/"),
        ("GET", "/api/admin/activity/metrics"),
    ):
        status, body = await server.request(method, path, role=None, headers={"Authorization": f"Bearer {make()}"})
        assert status == 401, (kind, path, body)
        assert why in body["error"], (kind, body)
    async with server.app[RUNTIME].db() as s:
        assert await user_row(s, "mallory") is None


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_the_socket_refuses_a_hostile_token_saying_why(server: Server, kind: str) -> None:
    make, why = HOSTILE[kind]
    client = socketio.AsyncClient(reconnection=False)
    told: list[dict[str, str]] = []
    client.on("connect_error", lambda data: told.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"token": make()}, transports=["websocket"], wait_timeout=5)
    assert len(told) == 1 and why in told[0]["message"], (kind, told)
    async with server.app[RUNTIME].db() as s:
        assert await user_row(s, "mallory") is None


async def test_another_tenant_is_refused_on_rest_and_on_the_socket(server: Server) -> None:
    await server.conversation("c1", company="co-1")
    status, body = await server.request(
        "GET", "/api/widget/presence?conversationId=c1", role="agent", sub="eve", company="co-2"
    )
    assert status == 403 and "another company" in body["error"]
    client, _ = await server.socket(server.token("eve", "agent", "co-2"))
    ack = await client.call("conversation:join", {"conversationId": "c1"}, timeout=5)
    assert ack == {"ok": False, "error": "This conversation belongs to another company"}
    # An agent of the right company still gets in.
    await server.agent("c1", company="co-1")
    snap = await server.request("GET", "/api/widget/presence?conversationId=c1", role="agent", company="co-1")
    assert snap[0] == 200 and snap[1]["socketsInRoom"] == 1
