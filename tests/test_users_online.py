"""App-user online status end to end (SPEC.md §4): heartbeats, the throttle,
the sweep, logout, the admin endpoints and the admins' socket feed."""

from __future__ import annotations

import asyncio

from api.keys import SERVICES
from tests.conftest import Server
from tests.users_support import next_about

FAST_USERS = {"user_offline_after": 0.5, "user_sweep_every": 0.1, "user_touch_throttle": 0.1}


async def status_of(server: Server, user_id: str) -> dict:
    status, body = await server.request("GET", f"/api/users/admin/users/{user_id}/online-status/")
    assert status == 200, body
    return body


async def test_heartbeats_keep_a_user_online_then_the_sweep_takes_them_offline(make_server) -> None:
    server = await make_server(**{**FAST_USERS, "user_offline_after": 1.0})  # room for a loaded machine
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    status, body = await server.request("POST", "/api/users/heartbeat/", role="user", sub="u1", company="co-1")
    assert status == 200 and body["status"] == "online" and body["last_seen"].endswith("Z")
    await next_about(admin, "user:online", "u1")
    for _ in range(11):  # 11 × 0.15 s: longer than the timeout
        status, _ = await server.request("POST", "/api/users/heartbeat/", role="user", sub="u1", company="co-1")
        assert status == 200
        await asyncio.sleep(0.15)
    assert all(e["user_id"] != "u1" for e in admin.pending("user:offline"))
    body = await status_of(server, "u1")
    assert body["user_id"] == "u1" and body["is_online"] is True and body["online_status"] == "online"
    offline = await next_about(admin, "user:offline", "u1")  # the admin itself goes quiet too
    assert offline["last_seen"].endswith("Z")
    body = await status_of(server, "u1")
    assert body["is_online"] is False and body["online_status"] == "offline" and body["last_seen"] is not None
    assert (await server.app[SERVICES].jobs.statuses())["users_offline"]["last_run"] is not None


async def test_logout_is_offline_at_once_and_the_next_request_is_online_again(make_server) -> None:
    server = await make_server(user_touch_throttle=10)
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    await server.request("POST", "/api/users/heartbeat/", role="user", sub="u1", company="co-1")
    await next_about(admin, "user:online", "u1")
    status, body = await server.request("POST", "/api/users/logout/", role="user", sub="u1", company="co-1")
    assert status == 200 and body["status"] == "offline" and body["last_seen"].endswith("Z")
    assert await next_about(admin, "user:offline", "u1") == {"user_id": "u1", "last_seen": body["last_seen"]}
    assert (await status_of(server, "u1"))["is_online"] is False
    # The throttle does not hide the comeback: logout released the user's claim.
    status, _ = await server.request("POST", "/api/users/heartbeat/", role="user", sub="u1", company="co-1")
    assert status == 200
    await next_about(admin, "user:online", "u1")
    assert (await status_of(server, "u1"))["is_online"] is True


async def test_admin_lists_online_users_with_pagination(server: Server) -> None:
    for n in range(5):
        await server.request("POST", "/api/users/heartbeat/", role="user", sub=f"u{n}", company="co-1")
    await server.request("POST", "/api/users/logout/", role="user", sub="u4", company="co-1")
    # The admin's own first accepted request makes it a (online) user too.
    await server.request("POST", "/api/users/heartbeat/", sub="boss")
    status, body = await server.request("GET", "/api/users/admin/users/online/?limit=2&offset=0", sub="boss")
    assert status == 200
    assert body["count"] == 5  # u0..u3 and the admin itself
    assert len(body["results"]) == 2
    assert set(body["results"][0]) == {"user_id", "name", "last_seen"}
    everyone = []
    for offset in range(0, 6, 2):
        _, page = await server.request("GET", f"/api/users/admin/users/online/?limit=2&offset={offset}", sub="boss")
        everyone += [r["user_id"] for r in page["results"]]
    assert sorted(everyone) == ["boss", "u0", "u1", "u2", "u3"]
    status, body = await server.request("GET", "/api/users/admin/users/online/?limit=501", sub="boss")
    assert status == 400 and "limit" in body["details"]
    status, body = await server.request("GET", "/api/users/admin/users/nobody/online-status/", sub="boss")
    assert status == 404


async def test_non_admins_and_services_are_refused(server: Server) -> None:
    for role in ("user", "agent", "service"):
        company = None if role == "service" else "co-1"
        for path in ("/api/users/admin/users/online/", "/api/users/admin/users/u1/online-status/"):
            status, body = await server.request("GET", path, role=role, company=company)
            assert status == 403, (role, path, body)
    for path in ("/api/users/heartbeat/", "/api/users/logout/"):
        status, _ = await server.request("POST", path, role="service", sub="svc")
        assert status == 403
        status, _ = await server.request("POST", path, role=None)
        assert status == 401
    # A service token makes no user row and is never online.
    status, _ = await server.request("PUT", "/api/conversations/c1", role="service", sub="svc", json={})
    await server.request("POST", "/api/users/heartbeat/", sub="boss")
    status, body = await server.request("GET", "/api/users/admin/users/svc/online-status/", sub="boss")
    assert status == 404
    _, body = await server.request("GET", "/api/users/admin/users/online/", sub="boss")
    assert [r["user_id"] for r in body["results"]] == ["boss"]


async def test_user_sockets_keep_users_online_and_admins_hear_about_it(make_server) -> None:
    # A 1 s timeout (not FAST's 0.5 s) leaves room for a loaded machine between the last
    # heartbeat and the list below; 11 heartbeats 0.15 s apart still outlast it.
    server = await make_server(**{**FAST_USERS, "user_offline_after": 1.0})
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    client, _ = await server.socket(server.token("u9", "user", "co-1", name="Nine"))
    await next_about(admin, "user:online", "u9")
    for _ in range(11):
        ack = await client.call("user:heartbeat", {})
        assert ack["ok"] is True and ack["last_seen"].endswith("Z")
        await asyncio.sleep(0.15)
    assert all(e["user_id"] != "u9" for e in admin.pending("user:offline"))
    _, body = await server.request("GET", "/api/users/admin/users/online/", sub="boss")
    assert {"user_id": "u9", "name": "Nine"}.items() <= next(r for r in body["results"] if r["user_id"] == "u9").items()
    await next_about(admin, "user:offline", "u9")
    service, _ = await server.socket(server.token("svc", "service"))
    ack = await service.call("user:heartbeat", {})
    assert ack["ok"] is False
    widget, _ = await server.socket()
    assert (await widget.call("user:heartbeat", {}))["ok"] is False


async def test_logging_out_while_offline_tells_admins_nothing(make_server) -> None:
    """A logout is not a sign of life: a user already offline is not brought online first."""
    server = await make_server(**FAST_USERS)
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    await server.request("POST", "/api/users/heartbeat/", role="user", sub="u5", company="co-1")
    await next_about(admin, "user:online", "u5")
    await next_about(admin, "user:offline", "u5")  # the sweep
    status, body = await server.request("POST", "/api/users/logout/", role="user", sub="u5", company="co-1")
    assert status == 200 and body["status"] == "offline"
    # A barrier: another user's change arrives after anything the logout caused.
    await server.request("POST", "/api/users/heartbeat/", role="user", sub="u6", company="co-1")
    await next_about(admin, "user:online", "u6")
    told = [(name, data["user_id"]) for name, data in admin.events if data.get("user_id") == "u5"]
    assert told == [("user:online", "u5"), ("user:offline", "u5")]  # the heartbeat and the sweep only
    assert (await status_of(server, "u5"))["is_online"] is False
