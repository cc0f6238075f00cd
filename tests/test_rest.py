"""REST contract for what issue 2 serves: conversations, presence snapshots,
identity and the error shape of §2."""

from __future__ import annotations

import pytest

from tests.conftest import Server


async def test_put_conversation_creates_then_updates(server: Server) -> None:
    body = {"companyId": "co-1", "platform": "WIDGET", "sessionId": "s1", "customerName": "Ada"}
    status, created = await server.request("PUT", "/api/conversations/c1", role="service", json=body)
    assert status == 201
    assert created["id"] == "c1" and created["companyId"] == "co-1" and created["customerName"] == "Ada"
    assert created["createdAt"].endswith("Z") and created["createdAt"] == created["updatedAt"]
    status, updated = await server.request(
        "PUT", "/api/conversations/c1", role="admin", json={**body, "sessionId": "s2", "customerName": None}
    )
    assert status == 200
    assert updated["sessionId"] == "s2" and updated["customerName"] is None
    assert updated["createdAt"] == created["createdAt"]


async def test_a_conversation_cannot_change_company(server: Server) -> None:
    await server.conversation("c1", company="co-1")
    status, body = await server.request(
        "PUT",
        "/api/conversations/c1",
        role="service",
        json={"companyId": "co-2", "platform": "WIDGET", "sessionId": "s-c1"},
    )
    assert status == 409 and "another company" in body["error"]
    status, snap = await server.request("GET", "/api/widget/presence?conversationId=c1", role="agent", company="co-1")
    assert status == 200 and snap["conversationId"] == "c1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "WIDGET", "sessionId": "s"}, "companyId"),
        ({"companyId": "co", "platform": "SMS", "sessionId": "s"}, "platform"),
        ({"companyId": "co", "platform": "WIDGET"}, "sessionId"),
        ({"companyId": "co", "platform": "WIDGET", "sessionId": "s", "customerName": 7}, "customerName"),
        ({"companyId": "", "platform": "WIDGET", "sessionId": "s"}, "companyId"),
    ],
)
async def test_put_conversation_bad_fields(server: Server, body: dict, field: str) -> None:
    status, answer = await server.request("PUT", "/api/conversations/c1", role="service", json=body)
    assert status == 400 and field in answer["details"] and answer["error"]
    status, _ = await server.request("GET", "/api/widget/presence?conversationId=c1", role="admin")
    assert status == 404  # nothing was stored


async def test_malformed_json_and_non_objects(server: Server) -> None:
    for raw in (b"{bad", b"[1,2]", b""):
        status, body = await server.request("PUT", "/api/conversations/c1", role="service", data=raw)
        assert status == 400 and "body" in body["details"]


async def test_a_body_over_64_kib_is_refused(server: Server) -> None:
    big = b'{"companyId": "co", "platform": "WIDGET", "sessionId": "' + b"x" * (65 * 1024) + b'"}'
    status, body = await server.request("PUT", "/api/conversations/c1", role="service", data=big)
    assert status == 413 and "64 KiB" in body["error"]
    status, _ = await server.request("GET", "/api/widget/presence?conversationId=c1", role="admin")
    assert status == 404


@pytest.mark.parametrize("role", ["agent", "user"])
async def test_only_service_and_admin_register_conversations(server: Server, role: str) -> None:
    status, body = await server.request(
        "PUT",
        "/api/conversations/c1",
        role=role,
        company="co-1",
        json={"companyId": "co-1", "platform": "WIDGET", "sessionId": "s"},
    )
    assert status == 403 and "service or admin" in body["error"]


async def test_no_token_bad_token_expired_token(server: Server) -> None:
    status, body = await server.request("GET", "/api/widget/presence?conversationId=c1", role=None)
    assert status == 401 and "bearer token" in body["error"]
    status, body = await server.request(
        "GET", "/api/widget/presence?conversationId=c1", role=None, headers={"Authorization": "Bearer junk"}
    )
    assert status == 401 and "malformed" in body["error"]
    expired = server.token("a", "admin", ttl=-60)
    status, body = await server.request(
        "GET", "/api/widget/presence?conversationId=c1", role=None, headers={"Authorization": f"Bearer {expired}"}
    )
    assert status == 401 and "expired" in body["error"]


async def test_presence_snapshot_tenancy_and_errors(server: Server) -> None:
    await server.conversation("c1", company="co-1")
    status, body = await server.request("GET", "/api/widget/presence?conversationId=c1", role="agent", company="co-2")
    assert status == 403
    status, body = await server.request("GET", "/api/widget/presence", role="admin")
    assert status == 400 and "conversationId" in body["details"]
    status, body = await server.request("GET", "/api/widget/presence?conversationId=nope", role="admin")
    assert status == 404
    status, body = await server.request("GET", "/api/widget/presence?conversationId=c1", role="user", company="co-1")
    assert status == 403


async def test_a_never_seen_customer_and_an_unsupported_platform(server: Server) -> None:
    await server.conversation("c1", customer_name="Bob")
    await server.conversation("fb", platform="FACEBOOK")
    status, snap = await server.request("GET", "/api/widget/presence?conversationId=c1", role="admin")
    assert snap == {
        "conversationId": "c1",
        "customerName": "Bob",
        "supported": True,
        "isOnline": False,
        "lastHeartbeat": None,
        "lastSeen": None,
        "onlineSince": None,
        "devices": 0,
        "away": False,
        "socketsInRoom": 0,
    }
    status, snap = await server.request("GET", "/api/widget/presence?conversationId=fb", role="admin")
    assert status == 200 and snap["supported"] is False and snap["isOnline"] is False


async def test_batch_lists_what_the_caller_may_not_see_as_missing(server: Server) -> None:
    await server.conversation("mine-1", company="co-1")
    await server.conversation("mine-2", company="co-1")
    await server.conversation("theirs", company="co-2")
    await server.widget("mine-1")
    status, body = await server.request(
        "POST",
        "/api/widget/presence/batch",
        role="agent",
        company="co-1",
        json={"conversationIds": ["mine-1", "mine-2", "theirs", "nope"]},
    )
    assert status == 200
    assert set(body["presence"]) == {"mine-1", "mine-2"}
    assert body["presence"]["mine-1"]["isOnline"] is True and body["presence"]["mine-2"]["isOnline"] is False
    assert sorted(body["missing"]) == ["nope", "theirs"]
    status, body = await server.request(
        "POST", "/api/widget/presence/batch", role="admin", json={"conversationIds": ["theirs"]}
    )
    assert set(body["presence"]) == {"theirs"} and body["missing"] == []


async def test_batch_limits(server: Server) -> None:
    status, body = await server.request(
        "POST", "/api/widget/presence/batch", role="admin", json={"conversationIds": [f"c{i}" for i in range(501)]}
    )
    assert status == 400 and "conversationIds" in body["details"]
    status, body = await server.request(
        "POST", "/api/widget/presence/batch", role="admin", json={"conversationIds": "c1"}
    )
    assert status == 400
    status, body = await server.request(
        "POST", "/api/widget/presence/batch", role="admin", json={"conversationIds": [f"c{i}" for i in range(500)]}
    )
    assert status == 200 and len(body["missing"]) == 500


async def test_unknown_paths_and_methods_answer_json(server: Server) -> None:
    status, body = await server.request("GET", "/api/nothing-here", role=None)
    assert status == 404 and body == {"error": "Not found"}
    status, body = await server.request("DELETE", "/api/conversations/c1", role="admin")
    assert status == 405 and body["error"] == "Method not allowed"


async def test_a_refused_request_creates_no_user_and_keeps_nobody_online(server: Server) -> None:
    """§2: a user row is created on first sight in an *accepted* request; a bad one changes nothing."""
    await server.conversation("c1")
    refused = [
        ("POST", "/api/widget/presence/batch", {"data": b"{bad"}),
        ("GET", "/api/widget/presence?conversationId=nope", {}),
        ("GET", "/api/widget/presence", {}),
    ]
    for method, path, kw in refused:
        status, _ = await server.request(method, path, role="agent", sub="ghost", company="co-1", **kw)
        assert 400 <= status < 500
    status, _ = await server.request("GET", "/api/users/admin/users/ghost/online-status/", sub="boss")
    assert status == 404
    status, _ = await server.request(
        "GET", "/api/widget/presence?conversationId=c1", role="agent", sub="real", company="co-1"
    )
    assert status == 200
    status, body = await server.request("GET", "/api/users/admin/users/real/online-status/", sub="boss")
    assert status == 200 and body["is_online"] is True
